"""Every page's component tree builds and renders: a typed state var used where a prop wants another type
fails here (Reflex checks props only when it evaluates a page, not when the app module is imported)."""

from __future__ import annotations

from typing import Any

import pytest

from tyrehero_app.tyrehero_app import app

PAGES: dict[str, Any] = dict(app._unevaluated_pages)


def test_the_app_has_its_pages() -> None:
    assert {"index", "dispatch", "tech", "admin", "track/[token]"} <= set(PAGES), sorted(PAGES)


@pytest.mark.parametrize("route", sorted(PAGES))
def test_the_page_builds_and_renders(route: str) -> None:
    component = PAGES[route].component()
    assert component.render(), f"{route} rendered nothing"
