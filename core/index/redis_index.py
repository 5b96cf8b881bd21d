"""The technician index in Redis: a hash per technician (the authority) and, per H3 level, a GEO
set per cell whose members are named `id|status|capabilities`.

Levels are the fine resolution and three coarser ones (7, 5, 4 and 3 by default): a technician
sits in exactly one cell of each level, and one Lua script moves all of them with the hash. The
fine set holds the exact position; a coarser level holds the centre of the technician's cell two
resolutions finer, so a ping writes one set unless the van crossed into another such cell.
Because a member's name carries its status and capabilities, a lookup filters without reading hashes; it reads the hash only of the few nearest candidates, to check freshness,
exact position and that the cell agrees with the authority.

A lookup is one script call (a second one only beyond ~30 km). The client plans disks of cells,
fine first, with the distance each disk surely covers around the query point and a lower bound of
each cell's distance. The server doubles a search radius, starting where the local density says
about 2n technicians lie; each round reads the finest disk covering the radius, only the cells
that can hold anything that near, with `GEOSEARCH … BYRADIUS … COUNT`, and stops once n eligible
technicians lie within the radius. It reads at most ~100 cell keys, and because each `GEOSEARCH`
is bounded by the radius, its cost follows the local density, not the fleet size.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from functools import lru_cache

import h3
import numpy as np
import redis

from core.geo.eta import EtaModel, StraightLineEta
from core.geo.places import EAST, NORTH, SOUTH, WEST
from core.geo.sphere import EARTH_RADIUS_KM, REDIS_EARTH_RADIUS_KM, cell_radius_km, haversine_km_many
from core.index.base import Candidate, IndexedTech, Snapshot, TechFilter
from core.index.search import SearchStats

# A point of a coarse cell's descendants lies within 1.053 x the cell's circumradius of its centre
# (H3 children overhang their parent; measured over the UK). The margin keeps covers lower bounds.
_COARSE_OVERHANG = 1.10
_FINE_MARGIN = 1.01
# A coarser level holds a technician at a cell's centre (see `snap_res`); its searches widen by that
# resolution's circumradius: the largest over the service area, times this.
_CENTRE_MARGIN = 1.01
# (level, disk radius k): the fine disk (~2 km), the middle level (~20 and ~30 km), resolution 4
# (~35-115 km), then resolution 3 until the cover reaches the filter's max_km. Every `GEOSEARCH`
# with a radius of a cell's size scans the whole cell, so the far steps use the smallest cells that
# keep a lookup near ~100 keys; resolution 3 only comes in where the fleet is sparse. The first call
# holds the fine and middle steps; most lookups end there.
_STEPS = ((0, 1), (1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5))
_FIRST_CALL = 3
_NAME_OK = re.compile(r"^[A-Za-z0-9_\-]+$")
_CHECKED: set[str] = set()  # statuses and capability lists already found to be plain words


def _check_words(status: str, caps: Iterable[str]) -> None:
    """Names go into member strings `id|status|caps`: plain words only."""
    if (status and not _NAME_OK.match(status)) or not all(_NAME_OK.match(c) for c in caps):
        raise ValueError(f"status and capabilities must be plain words: {status!r} {sorted(caps)}")

# A cell's set is "<prefix>g<resolution>:<cell>"; an H3 cell id names its resolution in its second
# hex digit. The hash keeps the cell ids, not the keys, so every field stays under Redis's 64-byte
# limit for a compact (listpack) hash: a quarter of the memory, and a ping touches one allocation.
_KEYS_OF = """
local function key_of(prefix, c) return prefix .. 'g' .. tonumber(string.sub(c, 2, 2), 16) .. ':' .. c end
local function keys_of(prefix, cell, up)
  local out = {key_of(prefix, cell)}
  for c in string.gmatch(up or '', '%S+') do out[#out + 1] = key_of(prefix, c) end
  return out
end
"""

# Place or move technicians. ARGV: prefix, then one line per technician: "id lat lng score status
# caps ts fine-cell parent cscore,cscore,cscore cell cell cell" (status '' keeps the stored one,
# caps '*' too; the last three are the coarser levels' cells, whose keys the script builds). The
# fine set holds the exact position (score: its 52-bit GEO score, computed by the client so the
# sets take a plain ZADD). A coarser level holds the technician at the centre
# of its cell two resolutions finer than the level (cscore, one per coarser level), so most pings
# write the fine set alone and a coarse set only when the van crosses into another such cell; a
# search there allows for that cell's radius ('=' instead: the exact position, on every ping, for a
# van abroad, where cells outgrow that allowance). An older position than the stored one is ignored.
# One string per batch: packing is the client's largest cost.
_UPSERT_MANY = """
local P = ARGV[1]
local done = 0
local function words(s, sep)
  local out = {}
  for w in string.gmatch(s or '', sep) do table.insert(out, w) end
  return out
end
""" + _KEYS_OF + """
for line in string.gmatch(ARGV[2], '[^\\n]+') do
  local id, lat, lng, score, status, caps, ts, cell, parent, cs, up =
    string.match(line, '^(%S+) (%S+) (%S+) (%S+) (%S*) (%S*) (%S+) (%S+) (%S+) (%S+) (.+)$')
  local h = P .. 't:' .. id
  local old = redis.call('HMGET', h, 'ts', 'status', 'caps', 'cell', 'up', 'cs')
  if not (old[1] and tonumber(old[1]) > tonumber(ts)) then
    if status == '' then status = old[2] or 'available' end
    if caps == '*' then caps = old[3] or '' end
    local name = id .. '|' .. status .. '|' .. caps
    if cell ~= old[4] or status ~= old[2] or caps ~= old[3] or string.find(cs, '=', 1, true) then
      -- A new cell, status or capability set. Level by level (same place in both key lists): the
      -- old member goes where the cell or the name changes, the new one comes in where the cell,
      -- the name or the position held changes. Head counts by status, per cell and overall, move
      -- with the members: a search skips cells with nobody it could use.
      local moved = status ~= old[2]  -- a new status (or a new technician) counts everywhere anew
      local renamed = moved or caps ~= old[3]
      local nk, ns = keys_of(P, cell, up), words(cs, '[^,]+')
      local ok, os = old[4] and keys_of(P, old[4], old[5]) or {}, words(old[6], '[^,]+')
      local oldname = old[2] and (id .. '|' .. old[2] .. '|' .. (old[3] or ''))
      if not old[2] then redis.call('SADD', P .. 'all', id) end
      for i, k in ipairs(nk) do
        local was = ok[i]
        if was and (renamed or was ~= k) then redis.call('ZREM', was, oldname) end
        if was and (moved or was ~= k) then redis.call('HINCRBY', was .. ':n', old[2], -1) end
        if moved or was ~= k then redis.call('HINCRBY', k .. ':n', status, 1) end
        if i == 1 then
          redis.call('ZADD', k, score, name)
        elseif ns[i - 1] == '=' then
          redis.call('ZADD', k, score, name)
        elseif renamed or was ~= k or os[i - 1] ~= ns[i - 1] then
          redis.call('ZADD', k, ns[i - 1], name)
        end
      end
      if moved then
        if old[2] then redis.call('HINCRBY', P .. 'n', old[2], -1) end
        redis.call('HINCRBY', P .. 'n', status, 1)
      end
      redis.call('HSET', h, 'lat', lat, 'lng', lng, 'ts', ts, 'cell', cell, 'parent', parent,
                 'status', status, 'caps', caps, 'up', up, 'cs', cs)
    else
      -- Same fine cell, status and capabilities (most pings): only the exact position moves.
      redis.call('ZADD', key_of(P, cell), score, name)
      redis.call('HSET', h, 'lat', lat, 'lng', lng, 'ts', ts)
    end
    done = done + 1
  end
end
return done
"""

_REMOVE = """
local h = KEYS[1]
local P, id = ARGV[1], ARGV[2]
""" + _KEYS_OF + """
local cur = redis.call('HMGET', h, 'status', 'caps', 'cell', 'up')
if cur[1] then
  local name = id .. '|' .. cur[1] .. '|' .. (cur[2] or '')
  for _, key in ipairs(cur[3] and keys_of(P, cur[3], cur[4]) or {}) do
    redis.call('ZREM', key, name)
    redis.call('HINCRBY', key .. ':n', cur[1], -1)
  end
  redis.call('HINCRBY', P .. 'n', cur[1], -1)
end
redis.call('DEL', h)
redis.call('SREM', P .. 'all', id)
return 1
"""

# Compare-and-set of the status (the claim that keeps two dispatchers off one van); the members
# are renamed in the same step, so the cells never disagree with the hash.
_SET_STATUS = """
local h = KEYS[1]
""" + _KEYS_OF + """
local cur = redis.call('HMGET', h, 'status', 'caps', 'cell', 'up', 'lat', 'lng')
if not cur[1] then return -1 end
if ARGV[2] ~= '' and cur[1] ~= ARGV[2] then return 0 end
if cur[1] ~= ARGV[1] then
  local caps = cur[2] or ''
  local oldname, name = ARGV[3] .. '|' .. cur[1] .. '|' .. caps, ARGV[3] .. '|' .. ARGV[1] .. '|' .. caps
  for _, key in ipairs(cur[3] and keys_of(ARGV[4], cur[3], cur[4]) or {}) do
    local score = redis.call('ZSCORE', key, oldname)
    redis.call('ZREM', key, oldname)
    if score then redis.call('ZADD', key, score, name) else redis.call('GEOADD', key, cur[6], cur[5], name) end
    redis.call('HINCRBY', key .. ':n', cur[1], -1)
    redis.call('HINCRBY', key .. ':n', ARGV[1], 1)
  end
  redis.call('HINCRBY', ARGV[4] .. 'n', cur[1], -1)
  redis.call('HINCRBY', ARGV[4] .. 'n', ARGV[1], 1)
  redis.call('HSET', h, 'status', ARGV[1])
end
return 1
"""

# The lookup. ARGV[1]: tab-separated lng, lat, n, statuses, capabilities, excluded ids (comma
# lists), now, max age, max km, hash prefix, last-call flag, start radius (km; 0: from the density
# probe), the probe (a middle-level key and its cell's area in km2). ARGV[2]: one line per step:
# "<cover m> <key prefix> <slack km> <growth> <counted> <cell> <m> <cell> <m> …", each cell with a
# lower bound of its members' distance, nearest first, only cells the step can reach; slack is how
# far the level's GEO positions may lie from the hash's, growth the radius factor after a round on
# this step (4 on the coarsest level: fewer rereads far out), counted 1 where a cell's head count
# is worth reading before its (large) set. Few arguments: packing each costs the client.
# Returns {resolved, cells read, reached km, rows}; rows "id lat lng status caps ts km;…", km exact.
_NEAREST = """
local A = {}
for x in string.gmatch(ARGV[1], '([^\\t]*)\\t?') do table.insert(A, x) end
local lng, lat = A[1], A[2]
local qlat, qlng = tonumber(lat), tonumber(lng)
local n = tonumber(A[3])
local statuses, status_list, need, exclude = {}, {}, {}, {}
for x in string.gmatch(A[4], '[^,]+') do statuses[x] = true; table.insert(status_list, x) end
for x in string.gmatch(A[5], '[^,]+') do table.insert(need, ',' .. x .. ',') end
for x in string.gmatch(A[6], '[^,]+') do exclude[x] = true end
local now, max_age, max_km, P = tonumber(A[7]), tonumber(A[8]), tonumber(A[9]), A[10]
local last_call, r = A[11] == '1', tonumber(A[12])
-- Redis measures on a slightly larger sphere; its quantised positions are within a metre.
local RATIO, EPS = """ + f"{REDIS_EARTH_RADIUS_KM!r} / {EARTH_RADIUS_KM!r}" + """, 0.002
local rad = math.pi / 180
local cq = math.cos(qlat * rad)
local function km_to(la, lo)
  local a = math.sin((la - qlat) * rad / 2) ^ 2 + cq * math.cos(la * rad) * math.sin((lo - qlng) * rad / 2) ^ 2
  return 2 * """ + repr(EARTH_RADIUS_KM) + """ * math.asin(math.min(1, math.sqrt(a)))
end
local function fits(caps)
  if #need == 0 then return true end
  local have = ',' .. caps .. ','
  for _, c in ipairs(need) do
    if not string.find(have, c, 1, true) then return false end
  end
  return true
end
local function before(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  return tonumber(a[2]) < tonumber(b[2])
end
-- How many technicians of the wanted statuses a count hash holds.
local function wanted(key)
  if #status_list == 0 then return 0 end
  local c = 0
  for _, v in ipairs(redis.call('HMGET', key, unpack(status_list))) do c = c + (tonumber(v) or 0) end
  return c
end
if wanted(P .. 'n') <= 0 then return {1, 0, '0', ''} end  -- nobody anywhere: no search at all
local steps = {}
for line in string.gmatch(ARGV[2], '[^\\n]+') do
  local it = string.gmatch(line, '%S+')
  local st = {cover = tonumber(it()) / 1000, prefix = it(), slack = tonumber(it()), growth = tonumber(it()),
              counted = it() == '1', cells = {}}
  while true do
    local cell = it()
    if not cell then break end
    table.insert(st.cells, {cell, tonumber(it()) / 1000})
  end
  table.insert(steps, st)
end
if r <= 0 then
  -- Start where the middle-level cell's density says about 2n technicians lie.
  local pk, area = string.match(A[13], '^(%S+) (%S+)$')
  local c = redis.call('ZCARD', pk)
  if c == 0 then r = steps[#steps].cover else r = math.sqrt(2 * n * tonumber(area) / (math.pi * c)) end
  if r < 0.05 then r = 0.05 end
end
local checked, reads = {}, 0
local good, nth = {}, nil
-- A technician checked against its hash once; the eligible ones kept in order, nth the n-th distance.
local function consider(id, cell)
  if checked[id] ~= nil then return end
  local v = false
  local h = redis.call('HMGET', P .. 't:' .. id, 'lat', 'lng', 'status', 'caps', 'ts', 'cell', 'up')
  local ts = tonumber(h[5])
  -- Found in this cell's set, so the hash must name the cell (ids are of one length: none lies inside another).
  if h[1] and statuses[h[3]] and ts and now - ts <= max_age and fits(h[4] or '')
     and (h[6] == cell or string.find(h[7] or '', cell, 1, true)) then
    v = {km_to(tonumber(h[1]), tonumber(h[2])), id, h[1], h[2], h[3], h[4] or '', h[5]}
    local at = #good + 1
    while at > 1 and before(v, good[at - 1]) do good[at] = good[at - 1]; at = at - 1 end
    good[at] = v
    if #good >= n then nth = good[n][1] end
  end
  checked[id] = v
end
local function answer(within)
  local out = {}
  for i = 1, math.min(n, #good) do
    local g = good[i]
    if g[1] <= within then
      table.insert(out, table.concat({g[2], g[3], g[4], g[5], g[6], g[7], string.format('%.17g', g[1])}, ' '))
    end
  end
  return table.concat(out, ';')
end
-- Radius doubling (x4 on the coarse level); each round reads the finest disk that covers the
-- radius, only its cells that can hold anything that near, and stops when n eligible technicians
-- lie within the radius.
while true do
  local st = steps[#steps]
  for _, s in ipairs(steps) do
    if s.cover >= r then st = s; break end
  end
  local within = math.min(r, st.cover, max_km)
  local radius = within
  if nth and nth + EPS < radius then radius = nth + EPS end
  local slack = st.slack
  for _, cl in ipairs(st.cells) do
    local key = st.prefix .. cl[1]
    -- A coarse cell's set is large: skip it when its head count says nobody there could do.
    if cl[2] <= radius and (not st.counted or wanted(key .. ':n') > 0) then
      local count = n + 4
      while true do
        local rows = redis.call('GEOSEARCH', key, 'FROMLONLAT', lng, lat, 'BYRADIUS', (radius + slack) * RATIO + EPS,
                                'km', 'ASC', 'COUNT', count, 'WITHDIST')
        reads = reads + 1
        local stop = false
        -- All rows again after a wider COUNT: members of one fine cell share a position in the
        -- coarser sets, and Redis orders equal distances differently from one call to the next.
        for i = 1, #rows do
          local row = rows[i]
          if nth and tonumber(row[2]) / RATIO > nth + EPS + slack then stop = true; break end
          local id, sts, caps = string.match(row[1], '^([^|]+)|([^|]*)|(.*)$')
          if id and statuses[sts] and not exclude[id] and fits(caps) then consider(id, cl[1]) end
        end
        if stop or #rows < count then break end
        count = count * 4
        if nth and nth + EPS < radius then radius = nth + EPS end
      end
    end
  end
  local inside = 0
  for _, g in ipairs(good) do if g[1] <= within then inside = inside + 1 end end
  if inside >= n or within >= max_km then return {1, reads, tostring(within), answer(within)} end
  if within >= st.cover and st == steps[#steps] then
    if last_call then return {1, reads, tostring(within), answer(within)} end
    return {0, reads, tostring(within), ''}
  end
  r = within * st.growth
end
"""

_FIELDS = ("lat", "lng", "cell", "parent", "status", "caps", "ts")
_BUILT = "built:v5"  # bumped with the key layout, so an older layout is rebuilt at start


@lru_cache(maxsize=100_000)
def _disk(cell: str, k: int, fine: bool) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, int]:
    """A disk's cells, then the cells just outside it: centres (radians), reach (km), and the split."""
    inner = h3.grid_disk(cell, k)
    cells = inner + h3.grid_ring(cell, k + 1) + h3.grid_ring(cell, k + 2)
    centres = np.radians([h3.cell_to_latlng(c) for c in cells])
    if fine:
        # Neighbouring cells of one resolution differ in size by under 0.1 % (measured over the UK).
        reach = np.full(len(cells), cell_radius_km(cell) * _FINE_MARGIN)
    else:
        reach = np.array([cell_radius_km(c) * _COARSE_OVERHANG for c in cells])
    return tuple(inner), centres[:, 0].copy(), centres[:, 1].copy(), reach, len(inner)


@lru_cache(maxsize=100_000)
def _area_km2(cell: str) -> float:
    return float(h3.cell_area(cell, "km^2"))


# Redis's GEO encoding (geohash.c): 26 bits of latitude in the even bits, 26 of longitude in the odd.
_GEO_LAT_MIN, _GEO_LAT_MAX = -85.05112878, 85.05112878


def _spread(x: int) -> int:
    x = (x | (x << 16)) & 0x0000FFFF0000FFFF
    x = (x | (x << 8)) & 0x00FF00FF00FF00FF
    x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0F
    x = (x | (x << 2)) & 0x3333333333333333
    return (x | (x << 1)) & 0x5555555555555555


def _geo_holds(lat: float, lng: float) -> bool:
    """Whether Redis GEO sets can hold the position."""
    return _GEO_LAT_MIN <= lat <= _GEO_LAT_MAX and -180.0 <= lng <= 180.0


def geo_score(lat: float, lng: float) -> int:
    """The score `GEOADD` gives a position: the sets then take a plain ZADD, which costs Redis less."""
    if not _geo_holds(lat, lng):
        raise ValueError(f"position outside what Redis GEO sets hold: {lat!r}, {lng!r}")
    la = int((lat - _GEO_LAT_MIN) / (_GEO_LAT_MAX - _GEO_LAT_MIN) * 67108864.0)
    lo = int((lng + 180.0) / 360.0 * 67108864.0)
    return _spread(la) | (_spread(lo) << 1)


def snap_res(level: int, fine_res: int) -> int:
    """The resolution whose cell centre stands for a technician in a level's sets."""
    return min(fine_res, level + 2)


@lru_cache(maxsize=1 << 18)
def _cell_part(levels: tuple[int, ...], parent_res: int, cell: str) -> str:
    """What a line says of a fine cell: "cell parent cscore,… cell …" (the coarser levels' cells)."""
    scores = []
    for lv in levels[1:]:
        snap = h3.cell_to_parent(cell, snap_res(lv, levels[0]))
        if cell_radius_km(snap) > centre_slack_km(snap_res(lv, levels[0])):
            scores.append("=")  # a larger cell than the service area's (abroad): the exact position, every ping
        else:
            scores.append(str(geo_score(*h3.cell_to_latlng(snap))))
    up = " ".join(h3.cell_to_parent(cell, lv) for lv in levels[1:])
    return f"{cell} {h3.cell_to_parent(cell, parent_res)} {','.join(scores)} {up}"


@lru_cache(maxsize=16)
def centre_slack_km(res: int) -> float:
    """How far a technician may be from the centre of its cell of a resolution: the largest
    circumradius of that resolution's cells over the service area and a degree around it (sampled
    every 0.1 degree; neighbouring cells differ in size by under 0.1 %), with a margin."""
    lats = np.arange(SOUTH - 1.0, NORTH + 1.0, 0.1)
    lngs = np.arange(WEST - 1.0, EAST + 1.0, 0.1)
    cells = {h3.latlng_to_cell(float(a), float(b), res) for a in lats for b in lngs}
    return max(cell_radius_km(c) for c in cells) * _CENTRE_MARGIN


def _gaps(lat: float, lng: float, clat: np.ndarray, clng: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Lower bounds (km) of the distance from the point to anything in each cell."""
    return haversine_km_many(lat, lng, clat, clng) - reach


class RedisTechnicianIndex:
    """Single-node Redis (or one shard) holding the whole index."""

    def __init__(self, client: redis.Redis, prefix: str = "th:", fine_res: int = 7, coarse_res: int = 4, *,
                 eta: EtaModel | None = None) -> None:
        self.r = client
        self.eta = eta or StraightLineEta()  # the core's model, from bootstrap: candidates are ranked by it
        self.prefix = prefix
        self.fine_res = fine_res
        self.coarse_res = coarse_res  # the hash's `parent`, as the PostgreSQL fallback stores it
        self.levels = (fine_res, max(0, fine_res - 2), max(0, fine_res - 3), max(0, fine_res - 4))
        self._upsert_many = client.register_script(_UPSERT_MANY)
        self._remove = client.register_script(_REMOVE)
        self._set_status = client.register_script(_SET_STATUS)
        self._nearest = client.register_script(_NEAREST)
        # The coarse levels' slack bounds (about a second of H3 work per process, cached): at start-up
        # rather than inside the first position report or the first rebuild.
        for lv in self.levels[1:]:
            centre_slack_km(snap_res(lv, fine_res))

    # keys
    def _h(self, tech_id: int) -> str:
        return f"{self.prefix}t:{tech_id}"

    def _key(self, level: int, cell: str) -> str:
        return f"{self.prefix}g{level}:{cell}"

    # writes
    def _line(self, t: IndexedTech, keep_status: bool, keep_caps: bool) -> str:
        cell = h3.latlng_to_cell(t.lat, t.lng, self.fine_res)
        status = "" if keep_status else t.status
        caps = "*" if keep_caps else ",".join(sorted(t.capabilities))
        if status not in _CHECKED or (caps not in _CHECKED and not keep_caps):
            _check_words(status, t.capabilities)
            _CHECKED.add(status)
            if not keep_caps:
                _CHECKED.add(caps)
        tail = _cell_part(self.levels, self.coarse_res, cell)
        return f"{t.id} {t.lat!r} {t.lng!r} {geo_score(t.lat, t.lng)} {status} {caps} {t.ts or time.time()!r} {tail}"

    def upsert(self, tech: IndexedTech, keep_status: bool = False, keep_caps: bool = False) -> bool:
        """Place or move a technician atomically; an older position than the stored one is ignored,
        and so is one Redis GEO sets cannot hold (beyond 85.05 degrees: a GPS glitch), whose
        technician then ages out of the freshness filter."""
        if not _geo_holds(tech.lat, tech.lng):
            return False
        return bool(self._upsert_many(keys=[self._h(tech.id)], args=[self.prefix, self._line(tech, keep_status, keep_caps)]))

    def upsert_many(self, techs: Iterable[IndexedTech], keep_status: bool = False, batch: int = 500) -> int:
        """Many upserts, one script call per batch, each atomic as in `upsert`. Batches are pipelined
        on one connection: the next one is prepared while Redis runs the one before."""
        sent: list[str] = []  # batches sent and not yet answered, oldest first
        done = 0
        conn = self.r.connection_pool.get_connection()
        try:
            for chunk in _chunks(techs, batch):
                lines = [self._line(t, keep_status, False) for t in chunk if _geo_holds(t.lat, t.lng)]
                if not lines:
                    continue
                sent.append("\n".join(lines))
                conn.send_command("EVALSHA", self._upsert_many.sha, 0, self.prefix, sent[-1])
                if len(sent) > 1:
                    done += self._answer(conn, sent)
            while sent:
                done += self._answer(conn, sent)
        except BaseException:
            conn.disconnect()  # replies may be left unread: never hand this connection out as is
            raise
        finally:
            self.r.connection_pool.release(conn)
        return done

    def _answer(self, conn, sent: list[str]) -> int:  # type: ignore[no-untyped-def]
        """The reply to the oldest batch; one Redis does not know the script for is run as a plain EVAL."""
        lines = sent.pop(0)
        try:
            return int(conn.read_response())
        except redis.exceptions.NoScriptError:
            return int(self.r.eval(_UPSERT_MANY, 0, self.prefix, lines))

    def set_status(self, tech_id: int, status: str, expected: str | None = None) -> bool:
        """Set the status; with `expected`, only if the current status is that (compare-and-set)."""
        if not _NAME_OK.match(status):
            raise ValueError(f"status must be a plain word: {status!r}")
        return self._set_status(keys=[self._h(tech_id)], args=[status, expected or "", tech_id, self.prefix]) == 1

    def remove(self, tech_id: int) -> None:
        self._remove(keys=[self._h(tech_id)], args=[self.prefix, tech_id])

    def clear(self) -> None:
        """Delete every key of this index (prefix-scoped)."""
        for batch in _chunks(self.r.scan_iter(match=f"{self.prefix}*", count=5000), 5000):
            self.r.unlink(*batch)

    def rebuild(self, techs: Iterable[IndexedTech], unless_built_after: float | None = None) -> int:
        """Replace the index content with `techs` (from PostgreSQL, the source of truth).

        One process at a time (a Redis lock outside the index's keys): two rebuilds interleaving
        their clears and writes would leave the head counts short, and a lookup trusts them to skip
        a search. With `unless_built_after`, a rebuild that another process finished after that
        moment (workers starting together, say) is taken as this one's."""
        # Held for a minute at a time and renewed while the rebuild makes progress, so a process
        # that died mid-rebuild holds up the others for a minute at most.
        lock = self.r.lock(f"{self.prefix.rstrip(':')}-rebuild", timeout=60, blocking_timeout=300)
        with lock:
            if unless_built_after is not None:
                done = self.r.get(f"{self.prefix}{_BUILT}")
                if done is not None and float(done) >= unless_built_after:
                    return 0
            self.clear()
            n = 0
            for chunk in _chunks(techs, 2000):
                n += self.upsert_many(chunk)
                lock.extend(60, replace_ttl=True)
            self.r.set(f"{self.prefix}{_BUILT}", repr(time.time()))
            return n

    def is_built(self) -> bool:
        """False after Redis lost its data (restart without persistence, flush) or holds an older layout."""
        return bool(self.r.exists(f"{self.prefix}{_BUILT}"))

    # reads
    def _plan(self, lat: float, lng: float, max_km: float, steps: tuple) -> tuple[list[str], float]:
        """One string per search step: the distance its disk surely covers around the point (m),
        the key prefix, and each cell with a lower bound of its distance (m), nearest first."""
        fine = h3.latlng_to_cell(lat, lng, self.fine_res)
        disks = [(li, _disk(fine if li == 0 else h3.cell_to_parent(fine, self.levels[li]), k, li == 0))
                 for li, k in steps]
        gaps = _gaps(lat, lng, np.concatenate([d[1] for _, d in disks]), np.concatenate([d[2] for _, d in disks]),
                     np.concatenate([d[3] for _, d in disks]))
        out: list[str] = []
        best = -1.0
        at = 0
        for li, (cells, _, _, reach, n_in) in disks:
            g = gaps[at:at + len(reach)]
            at += len(reach)
            cover = float(g[n_in:].min())
            if cover <= best:
                continue  # covers no more than the step before
            best = cover
            lbs = np.maximum(g[:n_in], 0.0)
            order = np.argsort(lbs, kind="stable")
            metres = np.floor(lbs * 1000.0).astype(np.int64).tolist()
            slack = "0" if li == 0 else repr(centre_slack_km(snap_res(self.levels[li], self.fine_res)))
            parts = [str(int(cover * 1000.0)), f"{self.prefix}g{self.levels[li]}:", slack, "4" if li == 3 else "2",
                     "1" if li >= 2 else "0"]
            for i in order[:int(np.searchsorted(lbs[order], cover, side="right"))].tolist():
                parts += (cells[i], str(metres[i]))  # farther than the cover: the step never reads it
            out.append(" ".join(parts))
            if cover >= max_km:
                break
        return out, best

    def nearest(
        self, lat: float, lng: float, n: int, f: TechFilter, now: float | None = None,
        stats: SearchStats | None = None,
    ) -> list[Candidate]:
        """The n eligible technicians nearest to (lat, lng), ranked by ETA; exact."""
        if n <= 0:
            return []
        now = time.time() if now is None else now
        common = "\t".join([repr(lng), repr(lat), str(n), ",".join(sorted(f.statuses)), ",".join(sorted(f.capabilities)),
                            ",".join(str(i) for i in f.exclude), repr(now), repr(f.max_age_s), repr(f.max_km), self.prefix])
        rows = b""
        start = 0.0
        for steps, last in ((_STEPS[:_FIRST_CALL], False), (_STEPS[_FIRST_CALL:], True)):
            plan, reach = self._plan(lat, lng, f.max_km, steps)
            last = last or reach >= f.max_km
            probe = "-"
            if start == 0.0:
                mid = h3.cell_to_parent(h3.latlng_to_cell(lat, lng, self.fine_res), self.levels[1])
                probe = f"{self.prefix}g{self.levels[1]}:{mid} {_area_km2(mid)!r}"
            head = f"{common}\t{int(last)}\t{start!r}\t{probe}"
            done, reads, reached, rows = self._nearest(keys=[], args=[head, "\n".join(plan)])
            if stats is not None:
                stats.round_trips += 1
                stats.cells_read += int(reads)
            if done:
                break
            start = float(reached) * 2
        out = []
        text = rows.decode() if isinstance(rows, bytes) else rows
        for row in text.split(";") if text else ():
            tid, la, lo, status, caps, _ts, km = row.split(" ")
            la, lo = float(la), float(lo)
            out.append(Candidate(int(tid), la, lo, float(km), self.eta.eta_minutes(la, lo, lat, lng),
                                 status, frozenset(c for c in caps.split(",") if c)))
        out.sort(key=lambda c: (c.eta_minutes, c.distance_km, c.technician_id))
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

    def memberships(self, tech_id: int) -> list[tuple[int, str, str]]:
        """(level, cell, member name) of every cell set holding the id. Scans: for checks and repair."""
        found = []
        for lv in self.levels:
            for key in self.r.scan_iter(match=f"{self.prefix}g{lv}:*", count=5000):
                if key.endswith(b":n"):
                    continue  # the cell's head counts
                for member, _ in self.r.zscan_iter(key, match=f"{tech_id}|*"):
                    found.append((lv, key.decode().rsplit(":", 1)[1], member.decode()))
        return sorted(found)

    def cell_memberships(self, tech_id: int) -> list[str]:
        """Every fine cell set holding the id."""
        return [cell for lv, cell, _ in self.memberships(tech_id) if lv == self.fine_res]


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
