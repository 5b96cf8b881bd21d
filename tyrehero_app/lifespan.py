"""Background work of each app process: index rebuild, the dispatch sweep, the texts' relay, the demo fleet."""

from __future__ import annotations

import asyncio
import gc
import logging

import anyio.to_thread

from core.config import get_settings
from core.dispatch.auto import sweep_pending
from core.dispatch.reconcile import reconcile
from core.infra.db import behind_transaction_pooler
from core.infra.partitions import ensure_ping_partitions
from core.notify.providers import make_provider
from core.notify.push import make_offer_push
from core.notify.relay import Relay
from core.notify.wakeup import OutboxWakeup
from core.privacy.retention import apply_retention
from core.staff.auth import refresh_principals
from core.technicians.jobs import expire_unanswered_offers
from tyrehero_app.runtime import get_core

log = logging.getLogger("tyrehero.lifespan")
GC_FIRST_GENERATION = 20_000  # allocations between young collections (CPython's default: 700)


async def tune_process() -> None:
    """Size the API's thread pool and take the start-up heap out of the garbage collector's sweeps.

    anyio's pool holds 40 threads; with two cores those mostly queue for the GIL, and a few
    (`API_THREADS`, 6) answer a steady load sooner than 16 did (docs/PERFORMANCE.md). The modules, schemas,
    place tables and the core's statements built at start-up live as long as the process: frozen
    (`gc.freeze`), a full collection no longer walks them on the request path, and a larger first
    generation makes collections rarer on a heap that mostly holds short-lived request objects.
    """
    try:
        settings = (await asyncio.to_thread(get_core)).settings
    except Exception:  # the sweep reports it and retries; the API answers 503s meanwhile
        log.exception("the core could not be built at start-up")
        settings = get_settings()
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_FIRST_GENERATION, *gc.get_threshold()[1:])


async def dispatch_sweeper() -> None:
    """Reconcile once, then keep the index built and retry waiting requests: every few seconds, and
    soon after a technician is freed (a completed or declined job, back on shift). Releases within
    `dispatch_coalesce_s` share one sweep, so a busy fleet does not pay a batch sweep per completion
    and the technician's call returns without waiting for one."""
    core = await asyncio.to_thread(get_core)
    core.listener()  # hear other processes' events from the start
    try:
        await asyncio.to_thread(reconcile, core)
    except Exception:
        log.exception("start-up reconciliation failed")
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    core.sweep_soon = lambda: loop.call_soon_threadsafe(wake.set)
    try:
        while True:
            try:
                await asyncio.to_thread(core.index.ensure_built)
                await asyncio.to_thread(expire_unanswered_offers, core)
                await asyncio.to_thread(sweep_pending, core)
            except Exception:  # the loop must survive a database or Redis outage
                log.exception("dispatch sweep failed; retrying")
            try:
                await asyncio.wait_for(wake.wait(), timeout=core.settings.dispatch_sweep_s)
                await asyncio.sleep(core.settings.dispatch_coalesce_s)
            except TimeoutError:
                pass
            wake.clear()
    finally:
        core.sweep_soon = None


async def notify_relay() -> None:
    """Send the outbox's texts (core.notify.relay; a technician's offer by Web Push first, core.notify.push): at
    once when a commit's NOTIFY wakes it, else every NOTIFY_POLL_S for retries that fall due. Every process runs
    one (NOTIFY_RELAY=false opts a process out); they share the work row by row."""
    while True:  # without a core there is nothing to send; a start-up outage must not end the task
        try:
            core = await asyncio.to_thread(get_core)
            if not core.settings.notify_relay:
                log.info("this process runs no notification relay (NOTIFY_RELAY=false)")
                return
            relay = Relay(core, make_provider(core.settings), offer_push=make_offer_push(core))
            break
        except Exception:
            log.exception("notification relay could not start; retrying")
            await asyncio.sleep(5)
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    # A transaction pooler (PgBouncer) passes no notifications to a LISTEN: there the relay polls only.
    wakeup = None if behind_transaction_pooler(core.settings) else OutboxWakeup(
        core.engine, lambda: loop.call_soon_threadsafe(wake.set)).start()
    try:
        while True:
            wake.clear()
            try:
                if await asyncio.to_thread(relay.run_once) >= core.settings.notify_batch:
                    continue  # more may be due at once
            except Exception:  # the loop must survive a database outage
                log.exception("notification relay failed; retrying")
            try:
                await asyncio.wait_for(wake.wait(), timeout=core.settings.notify_poll_s)
            except TimeoutError:
                pass
    finally:
        if wakeup is not None:
            wakeup.stop(wait_s=0)


async def session_refresher() -> None:
    """Every half `AUTH_CACHE_S`, every live session read into this process's cache at once
    (`core.staff.auth.refresh_principals`): staff calls, the phones' pings above all, find their session
    in memory instead of asking PostgreSQL each time an entry lapses."""
    core = await asyncio.to_thread(get_core)
    if core.principals.ttl_s <= 0:
        return
    core.listener()  # revocations heard from the start
    while True:
        try:
            await asyncio.to_thread(refresh_principals, core.engine, core.principals)
        except Exception:  # PostgreSQL away: calls look their sessions up one by one meanwhile
            log.exception("session cache refresh failed; retrying")
        await asyncio.sleep(max(1.0, core.principals.ttl_s / 2))


async def maintenance() -> None:
    """Hourly: ping partitions ahead and expired ones dropped; closed requests past retention anonymised."""
    core = await asyncio.to_thread(get_core)
    while True:
        try:
            result = await asyncio.to_thread(ensure_ping_partitions, core.engine, months_ahead=2,
                                             keep_months=core.settings.ping_retention_months)
            log.info("partitions checked: %s", result)
            anonymised = await asyncio.to_thread(apply_retention, core)
            log.info("retention: %d closed requests anonymised", anonymised)
        except Exception:
            log.exception("partition maintenance failed; retrying")
        await asyncio.sleep(3600)


async def demo_fleet() -> None:
    """In demo mode, keep on-shift vans moving and drive assigned ones to their jobs."""
    core = await asyncio.to_thread(get_core)
    if not core.settings.demo_mode:
        return
    from core.demo import FleetSimulator

    sim = FleetSimulator(core)
    while True:
        try:
            await asyncio.to_thread(sim.tick)
        except Exception:
            log.exception("demo fleet tick failed; retrying")
        await asyncio.sleep(sim.interval_s)


async def alert_webhook() -> None:
    """Every `ALERT_CHECK_S`, post the console's alerts that started or ended to `ALERT_WEBHOOK_URL` (when set);
    one process posts each (core.dispatch.alerting)."""
    core = await asyncio.to_thread(get_core)
    url = core.settings.alert_webhook_url
    if url is None:
        return
    from core.dispatch.alerting import WebhookPoster, check_alerts, episodes_for

    poster = WebhookPoster(url.get_secret_value(), core.settings.alert_webhook_timeout_s)
    episodes = episodes_for(core, poster)
    try:
        while True:
            try:
                await asyncio.to_thread(check_alerts, core, episodes)
            except Exception:  # PostgreSQL or Redis away: the next tick tries again
                log.exception("alert check failed; retrying")
            await asyncio.sleep(core.settings.alert_check_s)
    finally:
        poster.close()
