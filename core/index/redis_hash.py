"""The technician hash both Redis adapters keep (the authority for ids), read back as a Snapshot."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import TypeVar, cast

from core.index.base import Snapshot

FIELDS = ("lat", "lng", "cell", "parent", "status", "caps", "ts")
FIELD_LIST = list(FIELDS)  # as HMGET takes them

_T = TypeVar("_T")


def reply(value: Awaitable[_T] | _T) -> _T:
    """A synchronous client's reply. redis-py types each command for its sync and asyncio clients alike
    (`Awaitable[T] | T`); `redis.Redis` and `RedisCluster` never answer with an awaitable."""
    return cast(_T, value)


def snapshot(tech_id: int, vals: list[bytes | None]) -> Snapshot:
    """A hash's FIELDS, as HMGET returns them."""
    lat, lng, cell, parent, status, caps, ts = (v.decode() if v is not None else "" for v in vals)
    return Snapshot(
        id=tech_id, lat=float(lat), lng=float(lng), cell=cell, parent=parent, status=status,
        capabilities=frozenset(c for c in caps.split(",") if c), ts=float(ts or 0),
    )


T = TypeVar("T")


def chunks(it: Iterable[T], size: int) -> Iterable[list[T]]:
    """Lists of up to `size` items: batches of writes, of keys to unlink."""
    batch: list[T] = []
    for x in it:
        batch.append(x)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
