"""The Lua scripts of the Redis Cluster index (`cluster_index`): each runs in one slot.

The records and the cell sets of a neighbourhood share a slot (ADD, DROP); the technician hash
has its own (COMMIT, REMOVE, SET_STATUS). The move protocol that orders them is described in
`cluster_index`.
"""

from __future__ import annotations

LUA_RECORDS = """
local function parse(s)
  local e = {}
  if s then
    for item in string.gmatch(s, '[^;]+') do
      local c, ts, owner, wall, lng, lat = string.match(item, '^([^,]*),([^,]*),([^,]*),([^,]*),([^,]*),([^,]*)$')
      if c then e[c] = {ts, owner, wall, lng, lat} end
    end
  end
  return e
end
local function dump(e)
  local out = {}
  for c, v in pairs(e) do out[#out + 1] = c .. ',' .. table.concat(v, ',') end
  return table.concat(out, ';')
end
"""

# KEYS: fine cell set, parent set, records (one slot). ARGV: id, lng, lat, ts, owner, wall, cell
ADD = LUA_RECORDS + """
local id, lng, lat, ts, owner, wall, cell = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local e = parse(redis.call('HGET', KEYS[3], id))
local cur = e[cell]
if cur and tonumber(cur[1]) > tonumber(ts) then return 0 end
e[cell] = {ts, owner, wall, lng, lat}
redis.call('GEOADD', KEYS[1], lng, lat, id)
redis.call('GEOADD', KEYS[2], lng, lat, id)
redis.call('HSET', KEYS[3], id, dump(e))
return 1
"""

# KEYS: fine cell set, parent set, records (one slot). ARGV: id, cell, owner ('' = a member without record)
DROP = LUA_RECORDS + """
local id, cell, owner = ARGV[1], ARGV[2], ARGV[3]
local e = parse(redis.call('HGET', KEYS[3], id))
local cur = e[cell]
if cur then
  if cur[2] ~= owner then return 0 end
  e[cell] = nil
elseif owner ~= '' then
  return 0
end
redis.call('ZREM', KEYS[1], id)
local best
for _, v in pairs(e) do
  if not best or tonumber(v[1]) > tonumber(best[1]) then best = v end
end
if best then
  redis.call('GEOADD', KEYS[2], best[4], best[5], id)
  redis.call('HSET', KEYS[3], id, dump(e))
else
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
end
return 1
"""

# KEYS: the technician hash. ARGV: lat, lng, cell, parent, status ('' keeps), caps ('*' keeps), ts, owner
COMMIT = """
local h = KEYS[1]
local old = redis.call('HMGET', h, 'cell', 'parent', 'ts', 'w')
if old[3] and tonumber(old[3]) > tonumber(ARGV[7]) then return {0} end
redis.call('HSET', h, 'lat', ARGV[1], 'lng', ARGV[2], 'cell', ARGV[3], 'parent', ARGV[4], 'ts', ARGV[7], 'w', ARGV[8])
if ARGV[5] ~= '' then redis.call('HSET', h, 'status', ARGV[5]) end
if ARGV[6] ~= '*' then redis.call('HSET', h, 'caps', ARGV[6]) end
if redis.call('HEXISTS', h, 'status') == 0 then redis.call('HSET', h, 'status', 'available') end
return {1, old[1] or '', old[2] or '', old[4] or ''}
"""

REMOVE = """
local old = redis.call('HMGET', KEYS[1], 'cell', 'parent', 'w')
redis.call('DEL', KEYS[1])
return {old[1] or '', old[2] or '', old[3] or ''}
"""

# Compare-and-set of the status: the claim that keeps two dispatchers off one van.
SET_STATUS = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
if ARGV[2] ~= '' and cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
return 1
"""
