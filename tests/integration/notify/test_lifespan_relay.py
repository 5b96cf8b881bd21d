"""The app's relay task: a committed change's NOTIFY wakes it, long before its polling would."""

from __future__ import annotations

import asyncio
import threading
import time

from core.context import Core
from tests.integration.notify.conftest import messages, submit
from tests.support.aio import run_coroutine
from tyrehero_app import lifespan
from tyrehero_app.runtime import set_core


def _run_relay_task(core: Core) -> float:
    """Start the app's relay task, submit a request, and return how long its text took to go out."""
    set_core(core)
    loop = asyncio.new_event_loop()
    task = loop.create_task(lifespan.notify_relay())
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        time.sleep(1.0)  # the task has built its relay, listened, and found nothing to send
        t0 = time.perf_counter()
        rid, _ = submit(core)
        deadline = time.time() + 10
        while time.time() < deadline and messages(core, rid)[0].status in ("pending", "sending"):
            time.sleep(0.05)
        waited = time.perf_counter() - t0
        (m,) = messages(core, rid)
        print(f"texted {waited:.2f} s after the request was submitted")
        assert m.status == "delivered", f"{m.status}: the log provider delivers at once"
        return waited
    finally:
        loop.call_soon_threadsafe(task.cancel)
        time.sleep(0.2)
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        set_core(None)


def test_the_relay_task_sends_a_new_requests_text_at_once(core: Core) -> None:
    core.settings.notify_poll_s = 60.0  # only the NOTIFY can wake it within the test
    waited = _run_relay_task(core)
    assert waited < 5, f"texted after {waited:.2f} s: the NOTIFY did not wake the relay"


def test_behind_a_transaction_pooler_the_relay_task_polls(core: Core) -> None:
    core.settings.database_pooler = "transaction"
    core.settings.notify_poll_s = 0.5
    waited = _run_relay_task(core)
    assert waited < 5, f"texted after {waited:.2f} s: polling every 0.5 s did not send it"


def test_a_process_with_notify_relay_false_sends_nothing(core: Core) -> None:
    core.settings.notify_relay = False
    set_core(core)
    try:
        run_coroutine(asyncio.wait_for(lifespan.notify_relay(), timeout=10))  # returns at once: no relay here
        rid, _ = submit(core)
        time.sleep(0.5)
        assert [m.status for m in messages(core, rid)] == ["pending"], "left for another process's relay"
    finally:
        set_core(None)
