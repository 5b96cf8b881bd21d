"""Fixtures shared by the core's integration tests."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from core.context import Core
from core.infra.db import make_engine


@pytest.fixture
def down(core: Core) -> Iterator[Core]:
    """The same core with its database unreachable (nothing listens on port 1)."""
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/postgres")
    dead = copy.copy(core)
    dead.engine = dead.read_engine = engine
    yield dead
    engine.dispose()
