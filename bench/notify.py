"""The outbox's cost on `POST /api/v1/requests`, and the relay's throughput.

    python -m bench.notify [--calls 400] [--messages 2000]

Starts the API as `bench.load` does (one uvicorn worker, a fresh migrated database, rate limits off, 300
technicians on shift so most requests are assigned: three outbox rows each), then submits `--calls`
requests one at a time, in blocks of 50 alternating with the outbox trigger enabled and disabled (same
run, same database, drift shared), and reports p50/p95 of each. Then the relay sends `--messages` pending
texts through the log provider (no network) and through the Twilio stand-in of the tests (an HTTP round
trip per text on localhost), with one relay and with two racing, and reports messages per second.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import statistics
import threading
import time

import httpx
import sqlalchemy as sa
import structlog

from bench.load import _api, _points, _sessions, _warm
from core.bootstrap import bootstrap
from core.config import Settings
from core.context import Core
from core.geo.geocode import OfflineGeocoder
from core.notify.providers import LogProvider
from core.notify.providers.twilio import TwilioProvider
from core.notify.relay import Relay
from tests.integration.notify import twilio_stub
from tests.support.databases import scratch_servers

BLOCK = 50


def _pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[int(q) - 1] if len(xs) > 1 else xs[0]


def submit_latency(core: Core, base: str, calls: int) -> dict[bool, list[float]]:
    """Wall ms per POST /api/v1/requests, with the trigger on (True) and off (False), in alternating blocks."""
    points = _points(calls)
    out: dict[bool, list[float]] = {True: [], False: []}
    with httpx.Client(base_url=base, timeout=30) as http:
        for i in range(calls):
            on = (i // BLOCK) % 2 == 0
            if i % BLOCK == 0:
                with core.engine.begin() as c:
                    c.execute(sa.text(f"ALTER TABLE request_event {'ENABLE' if on else 'DISABLE'} TRIGGER"
                                      " request_event_outbox"))
                    c.execute(sa.text("UPDATE technician SET status = 'available', position_at = now()"
                                      " WHERE status = 'assigned'"))  # vans free again: requests keep being assigned
                    c.execute(sa.text("UPDATE service_request SET status = 'cancelled', technician_id = NULL"
                                      " WHERE status = 'assigned'"))
                core.index.ensure_built(force=True)
            lat, lng = points[i % len(points)]
            t0 = time.perf_counter()
            r = http.post("/api/v1/requests", json={"customer_name": f"Bench {i}", "phone": f"07403{i:06d}",
                                                    "location": {"lat": lat, "lng": lng}, "vehicle": "Ford Focus",
                                                    "issue": "flat"})
            out[on].append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
    with core.engine.begin() as c:
        c.execute(sa.text("ALTER TABLE request_event ENABLE TRIGGER request_event_outbox"))
    return out


def _pending(core: Core, n: int) -> None:
    """n pending texts, one per request (a request's texts go one after the other): copies of a stored
    request, each with its own reference and token, and a 'created' event each."""
    with core.engine.begin() as c:
        c.execute(sa.text("TRUNCATE outbound_message"))
        have = c.execute(sa.text("SELECT count(*) FROM service_request")).scalar_one()
        if have < n:
            cols = [r[0] for r in c.execute(sa.text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'service_request'"
                " AND column_name NOT IN ('id', 'public_id', 'reference', 'tracking_token_hash', 'idempotency_key')"))]
            c.execute(sa.text(
                f"INSERT INTO service_request (public_id, reference, tracking_token_hash, {', '.join(cols)})"
                f" SELECT gen_random_uuid(), 'B-' || g, md5(g::text), {', '.join('r.' + x for x in cols)}"
                " FROM generate_series(1, :k) g, (SELECT * FROM service_request ORDER BY id LIMIT 1) r"),
                {"k": n - have})
        c.execute(sa.text(
            "INSERT INTO request_event (request_id, kind, actor, data)"
            " SELECT id, 'created', 'bench', '{}' FROM service_request ORDER BY id LIMIT :n"), {"n": n})


def throughput(core: Core, make_provider, n: int, relays: int) -> float:  # type: ignore[no-untyped-def]
    _pending(core, n)
    with core.engine.connect() as c:
        pending = c.execute(sa.text("SELECT count(*) FROM outbound_message WHERE status = 'pending'")).scalar_one()
    done = [0] * relays

    def run(i: int) -> None:
        r = Relay(core, make_provider())
        while (k := r.run_once(100)) > 0:
            done[i] += k

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(relays)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    assert sum(done) == pending, (done, pending)
    return pending / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--messages", type=int, default=2000)
    args = ap.parse_args()
    # The log provider writes a line per text: not what is measured.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    prefix = f"notify:{secrets.token_hex(3)}:"
    with scratch_servers() as (url, redis_url):
        core = bootstrap(Settings(rate_limits_enabled=False), database_url=url, redis_url=redis_url, key_prefix=prefix,
                         geocoder=OfflineGeocoder())
        techs, disp_token = _sessions(core, 300)
        # No relay in the API process: the figure is the trigger's cost alone (the relay's is measured below).
        with _api(url, redis_url, prefix, 1, settings={"NOTIFY_RELAY": "false"}) as (base, _proc):
            _warm(base, techs, disp_token, 1)
            lat = submit_latency(core, base, args.calls)
        print(f"POST /api/v1/requests, {args.calls} calls one at a time, blocks of {BLOCK} alternating:")
        print("| outbox trigger | calls | p50 ms | p95 ms |")
        print("|---|---|---|---|")
        for on in (True, False):
            xs = lat[on]
            print(f"| {'on' if on else 'off'} | {len(xs)} | {_pct(xs, 50):.1f} | {_pct(xs, 95):.1f} |")
        n = args.messages
        stub, server = twilio_stub.start()
        core.settings = Settings(rate_limits_enabled=False, public_base_url="https://tyrehero.example")
        providers = {
            "log": LogProvider,
            "twilio (stand-in on localhost)": lambda: TwilioProvider(stub.account_sid, stub.auth_token,
                                                                      "+447700900000", base_url=stub.url),
        }
        print(f"\nRelay throughput, {n} pending texts, batches of 100:")
        print("| provider | relays | texts/s |")
        print("|---|---|---|")
        for name, make in providers.items():
            for relays in (1, 2):
                print(f"| {name} | {relays} | {throughput(core, make, n, relays):.0f} |")
        server.shutdown()
        core.close()


if __name__ == "__main__":
    main()
