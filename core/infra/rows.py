"""Typed access to what a statement's result says about the rows it touched."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa


def rowcount(result: sa.Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched.

    A session's `execute()` is typed as returning a plain `Result`, which has no `rowcount`; for these
    statements it is a `CursorResult`, which has."""
    return cast("sa.CursorResult[Any]", result).rowcount
