"""Browser code started by a page compiles into the page: nothing is left for eval."""

from __future__ import annotations

import reflex as rx

from tyrehero_app.browserjs import run_js
from tyrehero_app.pages.request_form import GEOLOCATE_JS, RequestFormState


def _on_click(spec) -> str:  # type: ignore[no-untyped-def]
    props = rx.button("x", on_click=spec).render()["props"]
    return next(p for p in props if p.startswith("onClick:"))


def test_a_callback_is_compiled_as_a_function_not_a_string_to_evaluate() -> None:
    js = _on_click(run_js(GEOLOCATE_JS, callback=RequestFormState.located))
    assert "_call_script" not in js
    assert '["function"] : (() =>' in js, "'['function'] : (() =>' missing from js"
    assert "navigator.geolocation" in js, "'navigator.geolocation' missing from js"
    assert '["callback"] : (_result) => {addEvents(' in js, "'['callback'] : (_result) => {addEvents(' missing from js"
    assert ".located" in js, "'.located' missing from js"


def test_without_a_callback_there_is_none() -> None:
    js = _on_click(run_js("window.thTracker && window.thTracker.stop()"))
    assert '["callback"] : null' in js


def test_call_script_would_have_needed_eval() -> None:
    # The reason for run_js: Reflex sends call_script's code as a string, which the browser evaluates.
    assert '["javascript_code"] : "' in _on_click(rx.call_script("window.x()"))
