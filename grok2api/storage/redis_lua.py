"""Lua scripts of the Redis backend: every read-check-write that must be atomic across workers."""

# Account scripts keep the index sets (pool, status, tag) in step with the account hash.
# Key names depend on ids and stored values, so scripts build them from the key root in
# ARGV[1] ("grok2api:"): fine on one Redis server, not Redis Cluster. Field values arrive
# as JSON objects of strings, so no number passes through Lua's doubles on its way into a
# hash (that would round timestamps). Batch scripts take one chunk of records per call:
# redis-py's per-reply cost, not Redis, is what limits bulk work at 50,000 accounts.

# KEYS: order zset. ARGV: root, now, JSON [[id, fields, quota fields], ...]. Returns added.
UPSERT_ACCOUNTS = """
local order, root, now = KEYS[1], ARGV[1], ARGV[2]
local ix = root .. 'accts:'
local added = 0
for _, item in ipairs(cjson.decode(ARGV[3])) do
  local id, rec, quota = item[1], item[2], item[3]
  local acct = root .. 'acct:' .. id
  if redis.call('EXISTS', acct) == 1 then
    local old = redis.call('HMGET', acct, 'pool', 'tags')
    if old[1] ~= rec.pool then
      if old[1] then redis.call('SREM', ix .. 'pool:' .. old[1], id) end
      redis.call('SADD', ix .. 'pool:' .. rec.pool, id)
    end
    local tags, seen = cjson.decode(old[2] or '[]'), {}
    for _, t in ipairs(tags) do seen[t] = true end
    for _, t in ipairs(cjson.decode(rec.tags)) do
      if not seen[t] then
        seen[t] = true
        tags[#tags + 1] = t
        redis.call('SADD', ix .. 'tag:' .. t, id)
      end
    end
    local out = {'pool', rec.pool, 'updated_at', now, 'tags', #tags > 0 and cjson.encode(tags) or '[]'}
    if rec.note ~= '' then out[#out + 1] = 'note'; out[#out + 1] = rec.note end
    redis.call('HSET', acct, unpack(out))
  else
    added = added + 1
    local out = {}
    for k, v in pairs(rec) do out[#out + 1] = k; out[#out + 1] = v end
    redis.call('HSET', acct, unpack(out))
    redis.call('ZADD', order, rec.created_at, id)
    redis.call('SADD', ix .. 'pool:' .. rec.pool, id)
    redis.call('SADD', ix .. 'status:' .. rec.status, id)
    for _, t in ipairs(cjson.decode(rec.tags)) do redis.call('SADD', ix .. 'tag:' .. t, id) end
  end
  local q = {}
  for k, v in pairs(quota) do q[#q + 1] = k; q[#q + 1] = v end
  if #q > 0 then redis.call('HSET', root .. 'quota:' .. id, unpack(q)) end
end
return added
"""

# KEYS: account hash. ARGV: root, id, JSON fields. Returns 0 when the account is unknown.
UPDATE_ACCOUNT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ix, id = ARGV[1] .. 'accts:', ARGV[2]
local f = cjson.decode(ARGV[3])
local old = redis.call('HMGET', KEYS[1], 'pool', 'status', 'tags')
local function move(kind, from, to)
  if from then redis.call('SREM', ix .. kind .. ':' .. from, id) end
  redis.call('SADD', ix .. kind .. ':' .. to, id)
end
if f.pool and f.pool ~= old[1] then move('pool', old[1], f.pool) end
if f.status and f.status ~= old[2] then move('status', old[2], f.status) end
if f.tags then
  for _, t in ipairs(cjson.decode(old[3] or '[]')) do redis.call('SREM', ix .. 'tag:' .. t, id) end
  for _, t in ipairs(cjson.decode(f.tags)) do redis.call('SADD', ix .. 'tag:' .. t, id) end
end
local out = {}
for k, v in pairs(f) do out[#out + 1] = k; out[#out + 1] = v end
redis.call('HSET', KEYS[1], unpack(out))
return 1
"""

# KEYS: order zset. ARGV: root, then ids. Returns how many existed.
DELETE_ACCOUNTS = """
local order, root = KEYS[1], ARGV[1]
local ix = root .. 'accts:'
local deleted = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local acct = root .. 'acct:' .. id
  if redis.call('EXISTS', acct) == 1 then
    local old = redis.call('HMGET', acct, 'pool', 'status', 'tags')
    if old[1] then redis.call('SREM', ix .. 'pool:' .. old[1], id) end
    if old[2] then redis.call('SREM', ix .. 'status:' .. old[2], id) end
    for _, t in ipairs(cjson.decode(old[3] or '[]')) do redis.call('SREM', ix .. 'tag:' .. t, id) end
    redis.call('ZREM', order, id)
    redis.call('DEL', acct, root .. 'quota:' .. id)
    deleted = deleted + 1
  end
end
return deleted
"""

# Bulk reads answer one JSON string per chunk instead of ~35 RESP replies per account.
# KEYS: hashes. Returns JSON [[field, value, ...] or false when absent, ...].
HGETALL_MANY = """
local out = {}
for i, key in ipairs(KEYS) do
  local flat = redis.call('HGETALL', key)
  out[i] = #flat > 0 and flat or false
end
return cjson.encode(out)
"""

# KEYS: hashes. ARGV: fields. Returns JSON [[value or false, ...], ...].
HMGET_MANY = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HMGET', key, unpack(ARGV)) end
return cjson.encode(out)
"""

# KEYS: scratch key, order zset, then the index sets to intersect. The scratch key cannot
# leak or clash: the script runs atomically and deletes it before returning.
# ARGV: start, count (-1 = every id). Returns {total, ids}.
FILTER_IDS = """
local args = {'ZINTERSTORE', KEYS[1], #KEYS - 1}
for i = 2, #KEYS do args[#args + 1] = KEYS[i] end
args[#args + 1] = 'WEIGHTS'
args[#args + 1] = 1
for i = 3, #KEYS do args[#args + 1] = 0 end
redis.call(unpack(args))
local total = redis.call('ZCARD', KEYS[1])
local start, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local ids = {}
if count < 0 then
  ids = redis.call('ZRANGE', KEYS[1], 0, -1)
elseif count > 0 then
  ids = redis.call('ZRANGE', KEYS[1], start, start + count - 1)
end
redis.call('DEL', KEYS[1])
return {total, ids}
"""

# -1 = refused: after a granted reservation the remainder is never negative.
RESERVE = """
local field = ARGV[1] .. ':remaining'
local remaining = tonumber(redis.call('HGET', KEYS[1], field))
local cost = tonumber(ARGV[2])
if not remaining or remaining < cost then return -1 end
return redis.call('HINCRBY', KEYS[1], field, -cost)
"""

# Capped at total, but never lowers a remainder the upstream reported above total.
RELEASE = """
local field = ARGV[1] .. ':remaining'
local v = redis.call('HMGET', KEYS[1], field, ARGV[1] .. ':total')
local remaining, total = tonumber(v[1]), tonumber(v[2])
if not remaining then return -1 end
local new = remaining + tonumber(ARGV[2])
if total and new > total then new = math.max(total, remaining) end
redis.call('HSET', KEYS[1], field, new)
return new
"""

# HSET into KEYS[2] only while KEYS[1] exists, so updates never resurrect deleted records.
HSET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV))
return 1
"""

# settle / touch_key: ARGV = counter field, increment, then field/value pairs to set.
INCR_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
return 1
"""

# KEYS: key hash, key_hash -> id index, order zset. ARGV: id.
DELETE_KEY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local h = redis.call('HGET', KEYS[1], 'key_hash')
if h and redis.call('HGET', KEYS[2], h) == ARGV[1] then redis.call('HDEL', KEYS[2], h) end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: zset of bucket starts. ARGV: bucket key prefix, before. Returns the number of
# (bucket, dims) rows removed, the unit the SQL backends count in.
PRUNE_STATS = """
local bound = '(' .. ARGV[2]
local starts = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', bound)
local rows = 0
for _, s in ipairs(starts) do
  local key = ARGV[1] .. s
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if string.sub(f, 1, 2) == 'n:' then rows = rows + 1 end
  end
  redis.call('DEL', key)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', bound)
return rows
"""

# KEYS: log zset, sequence counter. ARGV: ts, json pairs. The zero-padded sequence makes
# members unique and orders entries of equal ts by insertion.
APPEND_LOGS = """
local n = #ARGV / 2
local seq = redis.call('INCRBY', KEYS[2], n) - n
for i = 1, #ARGV, 2 do
  seq = seq + 1
  redis.call('ZADD', KEYS[1], ARGV[i], string.format('%016d', seq) .. '|' .. ARGV[i + 1])
end
return n
"""

LOCK_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

LOCK_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: counter. ARGV: limit, expires_at (unix ms). Returns 1 when counted, 0 at the limit.
HIT_COUNTER = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"""

# KEYS: slot zset (lease scored by its expiry). ARGV: lease, limit, expires_at, now (unix seconds).
# Returns -1 when taken, else the milliseconds until the first held slot frees.
TAKE_SLOT = """
local now = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(0, math.floor((tonumber(first[2]) - now) * 1000))
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2]) * 1000))
return -1
"""
