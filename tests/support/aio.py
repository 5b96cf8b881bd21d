"""Run a coroutine to completion from a test, whatever event loop the session already runs.

Playwright's sync API (the browser tests' session-wide fixtures) keeps an event loop running in the main
thread, where `asyncio.run` refuses to start another: the coroutine runs in a thread of its own instead."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
