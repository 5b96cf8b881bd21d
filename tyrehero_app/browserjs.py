"""Browser code started by a page's own event triggers, compiled into the page: no `eval`, so the pages'
Content-Security-Policy needs no 'unsafe-eval' (see `api/csp.py`).

Reflex evaluates a string wherever the code reaches the browser as data: `rx.call_script`, code sent from
the server by an event handler's return value, and any callback given as a string — which is how
`rx.call_function(..., callback=...)` passes its callback even from a compiled trigger. `run_js` gives
the callback as a compiled function too. Use it in a component's trigger (`on_click=[State.start,
run_js(...)]`), never as a handler's return value: from the server, code can only travel as a string.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from reflex_base.utils.format import format_queue_events


def run_js(code: str | rx.Var, callback: Any = None) -> rx.event.EventSpec:
    """Run `code` (a JS expression) in the browser; a promise's value, or the value, goes to `callback`."""
    spec = rx.run_script(code)
    if callback is None:
        return spec
    compiled = format_queue_events(callback, args_spec=lambda result: [result])
    return dataclasses.replace(
        spec, args=tuple((name, compiled if str(name) == "callback" else value) for name, value in spec.args))
