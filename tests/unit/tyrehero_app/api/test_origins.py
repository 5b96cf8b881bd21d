"""Which browser requests come from another site's page."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tyrehero_app.api.origins import is_foreign

ALLOWED = frozenset({"https://www.tyrehero.example"})
HOST = "app.tyrehero.example"


@pytest.mark.parametrize(("origin", "host"), [
    ("https://app.tyrehero.example", HOST),
    ("http://127.0.0.1:3000", "127.0.0.1:3000"),
    ("https://app.tyrehero.example", "app.tyrehero.example:443"),
    ("https://APP.tyrehero.example:443", HOST),
    ("http://[::1]:3000", "[::1]:3000"),
])
def test_our_own_pages_are_not_foreign(origin: str, host: str) -> None:
    assert not is_foreign(origin, "same-origin", host, ALLOWED)


def test_a_configured_origin_is_not_foreign_even_though_it_is_another_site() -> None:
    assert not is_foreign("https://www.tyrehero.example", "cross-site", HOST, ALLOWED)


@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.tyrehero.example.evil.example", "null",
                                    "http://app.tyrehero.example:8080", "chrome-extension://abc"])
def test_any_other_origin_is_foreign(origin: str) -> None:
    assert is_foreign(origin, None, HOST, ALLOWED)


def test_an_opaque_origin_is_ours_only_when_the_fetch_metadata_says_same_origin() -> None:
    # Our own form posts carry "Origin: null" under Referrer-Policy: no-referrer.
    assert not is_foreign("null", "same-origin", HOST, ALLOWED)
    assert is_foreign("null", "cross-site", HOST, ALLOWED)
    assert is_foreign("null", None, HOST, ALLOWED)


def test_without_an_origin_the_fetch_metadata_decides() -> None:
    assert is_foreign(None, "cross-site", HOST, ALLOWED)
    assert is_foreign(None, "same-site", HOST, ALLOWED)  # a sibling subdomain is not us
    assert not is_foreign(None, "same-origin", HOST, ALLOWED)
    assert not is_foreign(None, "none", HOST, ALLOWED)  # typed or bookmarked


def test_a_client_that_is_no_browser_sends_neither_and_passes() -> None:
    assert not is_foreign(None, None, HOST, ALLOWED)


def test_an_origin_without_a_host_to_compare_with_is_foreign() -> None:
    assert is_foreign("https://app.tyrehero.example", None, None, ALLOWED)


@given(host=st.from_regex(r"[a-z]{1,10}\.example(:[1-9][0-9]{0,3})?", fullmatch=True),
       scheme=st.sampled_from(["http", "https"]))
def test_a_page_is_never_foreign_to_the_host_that_served_it(host: str, scheme: str) -> None:
    assert not is_foreign(f"{scheme}://{host}", "same-origin", host, frozenset())
