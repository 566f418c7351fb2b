// The Lua scripts of distributed mode, registered as ioredis custom commands.
import type { Redis } from 'ioredis';

/**
 * Append one batch of an app's lines. KEYS: lines, meta. ARGV: cap, channel,
 * header (origin, kind, count, lengths), then the records. Appends, trims to
 * cap (counting what was trimmed and the highest seq trimmed), bumps the
 * total, and publishes `f64 first ordinal | header | records` to the app
 * channel. The ordinal of list element i is trimmed + i + 1 at any time.
 * A loss notice (kind 1, one record: node `origin` could not write n lines)
 * is also remembered as `ordinal:origin:n` in the meta field `notices` (the
 * last 100), so a catch-up that finds it trimmed still learns its n.
 */
export const APPEND_LUA = `
local n = #ARGV - 3
local len = redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
local total = redis.call('HINCRBY', KEYS[2], 'total', n)
if n == 1 and string.byte(ARGV[3], 2) == 1 and #ARGV[4] == 22 then
  local e = string.format('%.0f:%d:%.0f', total, string.byte(ARGV[3], 1), struct.unpack('<I4', ARGV[4], 11))
  local cur = redis.call('HGET', KEYS[2], 'notices')
  if cur then
    local _, commas = string.gsub(cur, ',', ',')
    if commas >= 99 then cur = string.sub(cur, string.find(cur, ',', 1, true) + 1) end
    e = cur .. ',' .. e
  end
  redis.call('HSET', KEYS[2], 'notices', e)
end
local cap = tonumber(ARGV[1])
if len > cap then
  local k = len - cap
  local last = redis.call('LINDEX', KEYS[1], k - 1)
  redis.call('LTRIM', KEYS[1], k, -1)
  redis.call('HINCRBY', KEYS[2], 'trimmed', k)
  local s = struct.unpack('<d', last)
  local t = tonumber(redis.call('HGET', KEYS[2], 'tseq') or '0')
  if s > t then redis.call('HSET', KEYS[2], 'tseq', string.format('%.0f', s)) end
end
redis.call('PUBLISH', ARGV[2], struct.pack('<d', total - n + 1) .. ARGV[3] .. table.concat(ARGV, '', 4))
return total
`;

/**
 * Read an app's history from an ordinal on (0 = all). KEYS: lines, meta.
 * ARGV: from. Returns {trimmed, tseq, notices, records...} atomically
 * (notices: the meta field of that name when some of the ordinals asked for
 * were trimmed, else empty).
 */
export const HISTORY_LUA = `
local m = redis.call('HMGET', KEYS[2], 'trimmed', 'tseq', 'notices')
local trimmed = tonumber(m[1] or '0')
local from = tonumber(ARGV[1])
local start = 0
if from > trimmed + 1 then start = from - trimmed - 1 end
local out = redis.call('LRANGE', KEYS[1], start, -1)
local notices = ''
if from <= trimmed and m[3] then notices = m[3] end
table.insert(out, 1, notices)
table.insert(out, 1, m[2] or '0')
table.insert(out, 1, tostring(trimmed))
return out
`;

/** Value of a lease given back on purpose: `free:<node id>` (for ttl), so the others take it at once. */
export const RELEASED = 'free:';

/**
 * Hold or renew a lease. KEYS: lease. ARGV: node id, ttl ms. Returns 1 when
 * this node holds it afterwards (renewed, or taken because it was free or
 * given back).
 */
export const LEASE_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if (not cur) or string.sub(cur, 1, 5) == 'free:' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/**
 * Give a lease back if this node holds it: it reads `free:<node>` for ttl
 * (a hand-over, not a crash). KEYS: lease. ARGV: node id, ttl ms.
 */
export const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], 'free:' .. ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/**
 * A drain's checkpoint starts at the app's current total (a new drain gets
 * lines from its creation on). KEYS: state, meta. Returns the cursor.
 */
export const INIT_CURSOR_LUA = `
local c = redis.call('HGET', KEYS[1], 'cursor')
if c then return tonumber(c) end
local t = tonumber(redis.call('HGET', KEYS[2], 'total') or '0')
redis.call('HSET', KEYS[1], 'cursor', t)
return t
`;

/** The scripts as ioredis custom commands (EVALSHA, with EVAL on a fresh connection). */
export interface Scripts {
  lpAppend(lines: string, meta: string, cap: number, channel: string, header: Buffer, ...recs: Buffer[]): Promise<number>;
  lpHistoryBuffer(lines: string, meta: string, from: number): Promise<Buffer[]>;
  lpLease(lease: string, node: string, ttlMs: number): Promise<number>;
  lpRelease(lease: string, node: string, ttlMs: number): Promise<number>;
  lpInitCursor(state: string, meta: string): Promise<number>;
}

export function defineScripts(r: Redis): void {
  r.defineCommand('lpAppend', { numberOfKeys: 2, lua: APPEND_LUA });
  r.defineCommand('lpHistory', { numberOfKeys: 2, lua: HISTORY_LUA, readOnly: true });
  r.defineCommand('lpLease', { numberOfKeys: 1, lua: LEASE_LUA });
  r.defineCommand('lpRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
  r.defineCommand('lpInitCursor', { numberOfKeys: 2, lua: INIT_CURSOR_LUA });
}

/** Scripts on a pipeline (same names). */
export type ScriptPipeline = { [K in keyof Scripts]: (...args: Parameters<Scripts[K]>) => ScriptPipeline } & {
  exec(): Promise<Array<[Error | null, unknown]> | null>;
};
