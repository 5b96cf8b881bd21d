"""An API process at start-up: its thread pool sized by API_THREADS, the start-up heap frozen out of GC."""

from __future__ import annotations

import asyncio
import gc
import threading

import anyio.to_thread

from core.context import Core
from tyrehero_app import lifespan
from tyrehero_app.runtime import set_core


def test_start_up_sizes_the_thread_pool_and_freezes_the_heap(core: Core) -> None:
    core.settings.api_threads = 5
    set_core(core)
    threshold = gc.get_threshold()

    async def start() -> float:
        await lifespan.tune_process()
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    tokens: list[float] = []
    # On a thread of its own: another test's event loop may be running on this one.
    runner = threading.Thread(target=lambda: tokens.append(asyncio.run(start())))
    try:
        gc.unfreeze()
        assert gc.get_freeze_count() == 0
        runner.start()
        runner.join(30)
        assert tokens == [5]
        assert gc.get_freeze_count() > 10_000  # the modules and the core built at start-up
        assert gc.get_threshold()[0] == lifespan.GC_FIRST_GENERATION
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        set_core(None)
