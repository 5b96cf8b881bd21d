"""The Lua scripts of the single-node Redis index (`redis_index`), each with the format of its arguments.

Kept apart from the client so each reads on its own; the client (`RedisTechnicianIndex`) packs the
argument lines described above each script, so a change of format changes both modules.
"""

from __future__ import annotations

from core.geo.sphere import EARTH_RADIUS_KM, REDIS_EARTH_RADIUS_KM

# A cell's set is "<prefix>g<resolution>:<cell>"; an H3 cell id names its resolution in its second
# hex digit. The hash keeps the cell ids, not the keys, so every field stays under Redis's 64-byte
# limit for a compact (listpack) hash: a quarter of the memory, and a ping touches one allocation.
KEYS_OF = """
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
UPSERT_MANY = """
local P = ARGV[1]
local done = 0
local function words(s, sep)
  local out = {}
  for w in string.gmatch(s or '', sep) do table.insert(out, w) end
  return out
end
""" + KEYS_OF + """
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

REMOVE = """
local h = KEYS[1]
local P, id = ARGV[1], ARGV[2]
""" + KEYS_OF + """
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
SET_STATUS = """
local h = KEYS[1]
""" + KEYS_OF + """
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
NEAREST = """
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
