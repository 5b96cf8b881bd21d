"""The HTTP API alone, with the same background work as the full app: `uvicorn tyrehero_app.api.standalone:app`.

For API-only nodes behind a load balancer, and for tests that kill and restart the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tyrehero_app import lifespan
from tyrehero_app.api.app import create_api


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    await lifespan.tune_process()
    tasks = [asyncio.create_task(lifespan.dispatch_sweeper()), asyncio.create_task(lifespan.maintenance()),
             asyncio.create_task(lifespan.session_refresher()), asyncio.create_task(lifespan.alert_webhook()),
             asyncio.create_task(lifespan.notify_relay())]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()


app = create_api()
app.router.lifespan_context = _lifespan
