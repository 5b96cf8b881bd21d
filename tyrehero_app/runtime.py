"""The app's one Core, built on first use (never at import: workers fork after import)."""

from __future__ import annotations

import threading

from core.bootstrap import bootstrap
from core.context import Core

_core: Core | None = None
_lock = threading.Lock()


def get_core() -> Core:
    global _core
    if _core is None:
        with _lock:
            if _core is None:
                from core.config import get_settings
                from core.infra.logs import configure

                configure(json=get_settings().log_json)
                _core = bootstrap()
    return _core


def set_core(core: Core | None) -> None:
    """Replace the app's core (tests build their own)."""
    global _core
    _core = core
