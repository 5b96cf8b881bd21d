"""The technician index in Redis: a hash per technician (the authority) and GEO sets per
fine H3 cell and per coarse parent, changed together by one Lua script."""

from __future__ import annotations

import time
from collections.abc import Iterable

import h3
import redis

from core.index.base import Candidate, CellAnswer, IndexedTech, Snapshot, TechFilter
from core.index.search import SearchStats, search_nearest

_UPSERT = """
local h = KEYS[1]
local P, id = ARGV[1], ARGV[2]
local lat, lng, cell, parent = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local status, caps, ts = ARGV[7], ARGV[8], ARGV[9]
local old = redis.call('HMGET', h, 'cell', 'parent', 'ts')
if old[3] and tonumber(old[3]) > tonumber(ts) then return 0 end
if old[1] and old[1] ~= cell then redis.call('ZREM', P .. 'c:' .. old[1], id) end
if old[2] and old[2] ~= parent then redis.call('ZREM', P .. 'p:' .. old[2], id) end
redis.call('GEOADD', P .. 'c:' .. cell, lng, lat, id)
redis.call('GEOADD', P .. 'p:' .. parent, lng, lat, id)
redis.call('HSET', h, 'lat', lat, 'lng', lng, 'cell', cell, 'parent', parent, 'ts', ts)
if status ~= '' then redis.call('HSET', h, 'status', status) end
if caps ~= '*' then redis.call('HSET', h, 'caps', caps) end
if redis.call('HEXISTS', h, 'status') == 0 then redis.call('HSET', h, 'status', 'available') end
redis.call('SADD', P .. 'all', id)
return 1
"""

_REMOVE = """
local h = KEYS[1]
local P, id = ARGV[1], ARGV[2]
local old = redis.call('HMGET', h, 'cell', 'parent')
if old[1] then redis.call('ZREM', P .. 'c:' .. old[1], id) end
if old[2] then redis.call('ZREM', P .. 'p:' .. old[2], id) end
redis.call('DEL', h)
redis.call('SREM', P .. 'all', id)
return 1
"""

# Compare-and-set of the status: the claim that keeps two dispatchers off one van.
_SET_STATUS = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
if ARGV[2] ~= '' and cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
return 1
"""

# One search step on the server: for each cell, its nearest members, each checked against its
# hash (membership, status, capabilities, freshness, exclusions); only eligible ones come back.
_READ = """
local lng, lat, count = ARGV[1], ARGV[2], ARGV[3]
local qlat, qlng = tonumber(lat), tonumber(lng)
local function hav(la1, lo1, la2, lo2)
  local r = math.pi / 180
  local a = math.sin((la2 - la1) * r / 2) ^ 2 + math.cos(la1 * r) * math.cos(la2 * r) * math.sin((lo2 - lo1) * r / 2) ^ 2
  return 2 * 6371.0088 * math.asin(math.min(1, math.sqrt(a)))
end
local now, max_age = tonumber(ARGV[4]), tonumber(ARGV[5])
local prefix = ARGV[9]
local want = tonumber(ARGV[10])
local statuses, need, exclude = {}, {}, {}
for x in string.gmatch(ARGV[6], '[^,]+') do statuses[x] = true end
for x in string.gmatch(ARGV[7], '[^,]+') do table.insert(need, ',' .. x .. ',') end
for x in string.gmatch(ARGV[8], '[^,]+') do exclude[x] = true end
local out, found, seen = {}, {}, {}
for i, key in ipairs(KEYS) do
  local cell = ARGV[10 + i]
  local rows = redis.call('GEOSEARCH', key, 'FROMLONLAT', lng, lat, 'BYRADIUS', 20000, 'km', 'ASC',
                          'COUNT', count, 'WITHDIST')
  local n_ok, stop_at = 0, nil
  for _, r in ipairs(rows) do
    local id = r[1]
    local rd = tonumber(r[2])
    -- Redis orders by quantised positions (within about a metre): look a little past the
    -- want-th eligible member so the exact order below cannot miss a near tie.
    if stop_at and rd > stop_at then break end
    if not exclude[id] then
      local h = redis.call('HMGET', prefix .. 't:' .. id, 'cell', 'parent', 'status', 'caps', 'ts', 'lat', 'lng')
      local ts = tonumber(h[5])
      if (h[1] == cell or h[2] == cell) and h[3] and statuses[h[3]] and ts and now - ts <= max_age then
        local have, fits = ',' .. (h[4] or '') .. ',', true
        for _, c in ipairs(need) do
          if not string.find(have, c, 1, true) then fits = false; break end
        end
        if fits then
          -- A technician can be met twice in one step (its fine cell and its parent): keep it once.
          if not seen[id] then
            seen[id] = true
            table.insert(found, {hav(qlat, qlng, tonumber(h[6]), tonumber(h[7])), id, h[6], h[7], h[3], h[4] or '', h[5]})
          end
          n_ok = n_ok + 1
          -- The nearest `want` eligible of a cell are all the search can use from it.
          if n_ok == want then stop_at = rd + 0.002 end
        end
      end
    end
  end
  local last = '0'
  if #rows > 0 then last = rows[#rows][2] end
  if n_ok >= want then
    table.insert(out, {0, '0'})
  else
    table.insert(out, {#rows, last})
  end
end
-- Only the `want` nearest over all the cells travel back.
table.sort(found, function(a, b) return a[1] < b[1] end)
local best = {}
for i = 1, math.min(want, #found) do
  local f = found[i]
  table.insert(best, {f[2], f[3], f[4], f[5], f[6], f[7]})
end
table.insert(out, best)
return out
"""

# Many moves in one call: the per-call overhead is paid once per batch.
_UPSERT_MANY = """
local P = ARGV[1]
local n = 0
for i = 2, #ARGV, 8 do
  local id, lat, lng, cell, parent, status, caps, ts = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5], ARGV[i+6], ARGV[i+7]
  local h = P .. 't:' .. id
  local old = redis.call('HMGET', h, 'cell', 'parent', 'ts')
  if not (old[3] and tonumber(old[3]) > tonumber(ts)) then
    if old[1] ~= cell then
      if old[1] then redis.call('ZREM', P .. 'c:' .. old[1], id) end
      if not old[1] then redis.call('SADD', P .. 'all', id) end
    end
    if old[2] and old[2] ~= parent then redis.call('ZREM', P .. 'p:' .. old[2], id) end
    redis.call('GEOADD', P .. 'c:' .. cell, lng, lat, id)
    redis.call('GEOADD', P .. 'p:' .. parent, lng, lat, id)
    if status ~= '' then
      redis.call('HSET', h, 'lat', lat, 'lng', lng, 'cell', cell, 'parent', parent, 'ts', ts, 'status', status, 'caps', caps)
    else
      redis.call('HSET', h, 'lat', lat, 'lng', lng, 'cell', cell, 'parent', parent, 'ts', ts)
      redis.call('HSETNX', h, 'status', 'available')
    end
    n = n + 1
  end
end
return n
"""

_FIELDS = ("lat", "lng", "cell", "parent", "status", "caps", "ts")


class RedisTechnicianIndex:
    """Single-node Redis (or one shard) holding the whole index."""

    def __init__(self, client: redis.Redis, prefix: str = "th:", fine_res: int = 7, coarse_res: int = 4) -> None:
        self.r = client
        self.prefix = prefix
        self.fine_res = fine_res
        self.coarse_res = coarse_res
        self._upsert = client.register_script(_UPSERT)
        self._remove = client.register_script(_REMOVE)
        self._set_status = client.register_script(_SET_STATUS)
        self._read = client.register_script(_READ)
        self._upsert_many = client.register_script(_UPSERT_MANY)

    # keys
    def _h(self, tech_id: int) -> str:
        return f"{self.prefix}t:{tech_id}"

    def _cell_key(self, cell: str) -> str:
        level = "c" if h3.get_resolution(cell) == self.fine_res else "p"
        return f"{self.prefix}{level}:{cell}"

    # writes
    def upsert(self, tech: IndexedTech, keep_status: bool = False, keep_caps: bool = False) -> bool:
        """Place or move a technician atomically; an older position than the stored one is ignored."""
        cell = h3.latlng_to_cell(tech.lat, tech.lng, self.fine_res)
        parent = h3.cell_to_parent(cell, self.coarse_res)
        args = [
            self.prefix, tech.id, repr(tech.lat), repr(tech.lng), cell, parent,
            "" if keep_status else tech.status,
            "*" if keep_caps else ",".join(sorted(tech.capabilities)),
            repr(tech.ts or time.time()),
        ]
        return bool(self._upsert(keys=[self._h(tech.id)], args=args))

    def upsert_many(self, techs: Iterable[IndexedTech], keep_status: bool = False, batch: int = 500) -> int:
        """Many upserts, one script call per batch; each is atomic, as in `upsert`."""
        done = 0
        for chunk in _chunks(techs, batch):
            args: list = [self.prefix]
            for t in chunk:
                cell = h3.latlng_to_cell(t.lat, t.lng, self.fine_res)
                args += [t.id, repr(t.lat), repr(t.lng), cell, h3.cell_to_parent(cell, self.coarse_res),
                         "" if keep_status else t.status, ",".join(sorted(t.capabilities)), repr(t.ts or time.time())]
            done += int(self._upsert_many(keys=[], args=args))
        return done

    def set_status(self, tech_id: int, status: str, expected: str | None = None) -> bool:
        """Set the status; with `expected`, only if the current status is that (compare-and-set)."""
        return self._set_status(keys=[self._h(tech_id)], args=[status, expected or ""]) == 1

    def remove(self, tech_id: int) -> None:
        self._remove(keys=[self._h(tech_id)], args=[self.prefix, tech_id])

    def clear(self) -> None:
        """Delete every key of this index (prefix-scoped)."""
        for batch in _chunks(self.r.scan_iter(match=f"{self.prefix}*", count=5000), 5000):
            self.r.unlink(*batch)

    def rebuild(self, techs: Iterable[IndexedTech]) -> int:
        """Replace the index content with `techs` (from PostgreSQL, the source of truth)."""
        self.clear()
        n = 0
        for chunk in _chunks(techs, 2000):
            n += self.upsert_many(chunk)
        self.r.set(f"{self.prefix}built", repr(time.time()))
        return n

    def is_built(self) -> bool:
        """False after Redis lost its data (restart without persistence, flush)."""
        return bool(self.r.exists(f"{self.prefix}built"))

    # reads
    def nearest_in_cells(
        self, cells: list[str], lat: float, lng: float, count: int
    ) -> dict[str, list[tuple[int, float]]]:
        pipe = self.r.pipeline(transaction=False)
        for c in cells:
            pipe.execute_command(
                "GEOSEARCH", self._cell_key(c), "FROMLONLAT", lng, lat,
                "BYRADIUS", 20000, "km", "ASC", "COUNT", count, "WITHDIST",
            )
        out = {}
        for c, rows in zip(cells, pipe.execute(), strict=True):
            out[c] = [(int(m), float(d)) for m, d in rows]
        return out

    def read_cells(
        self, cells: list[str], lat: float, lng: float, count: int, f: TechFilter, now: float, want: int = 0
    ) -> dict[str, CellAnswer]:
        """One search step in one round trip: the filtering happens in Redis."""
        want = want or count
        args = [lng, lat, count, now, f.max_age_s, ",".join(sorted(f.statuses)), ",".join(sorted(f.capabilities)),
                ",".join(str(i) for i in f.exclude), self.prefix, want, *cells]
        rows = self._read(keys=[self._cell_key(c) for c in cells], args=args)
        *per_cell, best = rows
        snaps = [
            Snapshot(int(r[0]), float(r[1]), float(r[2]), "", "", r[3].decode(),
                     frozenset(c for c in r[4].decode().split(",") if c), float(r[5]))
            for r in best
        ]
        # The eligible ones are reported once, with the first cell; the search only needs them once.
        out = {cell: CellAnswer(snaps if i == 0 else [], int(returned), float(last))
               for i, (cell, (returned, last)) in enumerate(zip(cells, per_cell, strict=True))}
        return out

    def snapshots(self, ids: list[int]) -> dict[int, Snapshot]:
        pipe = self.r.pipeline(transaction=False)
        for i in ids:
            pipe.hmget(self._h(i), _FIELDS)
        out = {}
        for i, vals in zip(ids, pipe.execute(), strict=True):
            if vals[0] is None:
                continue
            out[i] = _snapshot(i, vals)
        return out

    def get(self, tech_id: int) -> Snapshot | None:
        vals = self.r.hmget(self._h(tech_id), _FIELDS)
        return None if vals[0] is None else _snapshot(tech_id, vals)

    def nearest(
        self, lat: float, lng: float, n: int, f: TechFilter, now: float | None = None,
        stats: SearchStats | None = None,
    ) -> list[Candidate]:
        return search_nearest(self, lat, lng, n, f, now=now, stats=stats)

    def cell_memberships(self, tech_id: int) -> list[str]:
        """Every fine cell set holding the id (for checks and repair; scans, so not for the hot path)."""
        found = []
        for key in self.r.scan_iter(match=f"{self.prefix}c:*", count=5000):
            if self.r.zscore(key, tech_id) is not None:
                found.append(key.decode().rsplit(":", 1)[1])
        return found


def _snapshot(tech_id: int, vals: list[bytes | None]) -> Snapshot:
    lat, lng, cell, parent, status, caps, ts = (v.decode() if v is not None else "" for v in vals)
    return Snapshot(
        id=tech_id, lat=float(lat), lng=float(lng), cell=cell, parent=parent, status=status,
        capabilities=frozenset(c for c in caps.split(",") if c), ts=float(ts or 0),
    )


def _chunks(it: Iterable, size: int) -> Iterable[list]:
    batch: list = []
    for x in it:
        batch.append(x)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
