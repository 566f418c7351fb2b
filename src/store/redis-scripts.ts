// The config store's scripts over Redis (store/redis.ts): each write of a
// record is a compare-and-set that also publishes the change and, on one
// Redis, raises the config version in the same step; the admin key's hash
// and the migration of the previous release's clear key.

/**
 * Write an app's record only if the stored one is still the one read.
 * KEYS: config, then keys of the app to delete with the write (on a
 * delete, every other key of the app; on a create, the history keys a
 * deleted app of that id may have left; on a change that removes drains,
 * their checkpoints and leases), then (ARGV[5] = '1', one Redis) the config
 * version, raised in the same step. ARGV: the record read ('' when none),
 * the new record ('' deletes the app's keys), the change channel, the
 * change message without its closing brace, '1' or '0'. Returns 0 on
 * conflict, else the version made (1 without one).
 */
export const CAS_LUA = `
local n = #KEYS
if ARGV[5] == '1' then n = n - 1 end
local cur = redis.call('GET', KEYS[1])
if (cur or '') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', unpack(KEYS, 1, n)) else
  redis.call('SET', KEYS[1], ARGV[2])
  if n > 1 then redis.call('DEL', unpack(KEYS, 2, n)) end
end
local r = 1
local v = ''
if ARGV[5] == '1' then
  r = redis.call('INCR', KEYS[#KEYS])
  v = ',"v":' .. r
end
redis.call('PUBLISH', ARGV[3], ARGV[4] .. v .. '}')
return r
`;

/** The end of a key script: raise the version (KEYS[2], when ARGV[6] = '1') and publish the change (ARGV[4], ARGV[5]); returns the version made (1 without one). */
const KEY_ANNOUNCE = `
local r = 1
local v = ''
if ARGV[6] == '1' then
  r = redis.call('INCR', KEYS[2])
  v = ',"v":' .. r
end
redis.call('PUBLISH', ARGV[4], ARGV[5] .. v .. '}')
return r`;

/**
 * Write one API key record only if the stored one is still the one read.
 * KEYS: the key hash, then (ARGV[6] = '1', one Redis) the config version,
 * raised in the same step. ARGV: the key id, the record read ('' when
 * none), the new record ('' deletes it), the change channel, the change
 * message without its closing brace, '1' or '0'. Returns 0 on conflict,
 * else the version made (1 without one).
 */
export const KEY_CAS_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (cur or '') ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
${KEY_ANNOUNCE}`;

/**
 * Store a new API key record unless its id or its name is taken, in one
 * step (the name is looked up in every record: keys are few). KEYS: the key
 * hash, then (ARGV[6] = '1', one Redis) the config version, raised in the
 * same step. ARGV: the key id, the record, its name, the change channel,
 * the change message without its closing brace, '1' or '0'. Returns -1
 * (id taken), -2 (name taken), else the version made (1 without one).
 */
export const CREATE_KEY_LUA = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -1 end
for _, raw in ipairs(redis.call('HVALS', KEYS[1])) do
  local ok, rec = pcall(cjson.decode, raw)
  if ok and type(rec) == 'table' and rec['name'] == ARGV[3] then return -2 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
${KEY_ANNOUNCE}`;

/**
 * Raise the config version after a change written apart from it (a Redis
 * Cluster, or a plain write) and announce it. KEYS: the version. ARGV: the
 * channel, the message without its closing brace. Returns the version.
 */
export const BUMP_LUA = `
local v = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ',"v":' .. v .. '}')
return v
`;

/**
 * Replace the previous release's clear admin key by its hash, if it is still
 * the one read. KEYS: the clear key, the hash. ARGV: the clear key read, its
 * hash. Returns 1 when replaced, 0 when the clear key changed meanwhile.
 */
export const MIGRATE_KEY_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
`;

/**
 * Store the admin key's hash unless one is stored, and publish the change
 * when it was stored. KEYS: the hash. ARGV: the hash, channel, message.
 * Returns {1, hash} when stored, {0, the stored hash} otherwise.
 */
export const CLAIM_KEY_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return {1, ARGV[1]}
end
return {0, redis.call('GET', KEYS[1])}
`;

/** Set the admin key's hash and delete a clear key of the previous release, then publish the change. KEYS: the hash, the clear key. ARGV: the hash, channel, message. */
export const SET_KEY_LUA = `
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`;
