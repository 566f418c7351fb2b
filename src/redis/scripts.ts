// The Lua scripts of distributed mode, registered as ioredis custom commands.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** How long an app remembers a node's chunk ids (a re-send comes within seconds). */
export const SENT_TTL_MS = 120_000;

/**
 * What an append answers (for the total) when the app's config key is gone:
 * the app was deleted (SPEC 1), and the chunk was discarded, nothing of it
 * kept. A node cut off from Redis while its app was deleted learns it here,
 * at its first append after it is back, before it hears of the delete.
 */
export const APP_GONE = -2;

/**
 * Append one chunk of an app's lines as ONE list element, without copying
 * its bytes more than Redis must (the blob goes into the list and out to
 * the subscribers as it came: no concatenation, no read-back). KEYS: chunks
 * (list of blobs), firsts (list of `first ordinal:highest seq` per element),
 * meta, sent (this node's recent chunk ids for this app), lines (the
 * previous release's history list, one element per record), trims (the
 * dropped elements' firsts, LAYOUT2_LUA), config (the app's record: an
 * append to an app that has none is discarded and answers APP_GONE). ARGV: cap,
 * channel, publish command (PUBLISH, or SPUBLISH on a Redis Cluster), chunk
 * id, blob (`header | records`: origin u8, kind u8, count u32 LE, count x
 * u16 LE lengths, then the records, whose seqs rise), highest seq, layout
 * wanted ('2': chunks; '1': the previous release's layout, while a node of
 * that release may still be running).
 *
 * Bumps the total, pushes the blob, drops whole oldest elements while the
 * ones after them still hold the last `cap` ordinals (so at most cap + one
 * chunk of records are held; readers skip ordinals <= total - cap), keeps
 * tseq (highest seq of a dropped element), and publishes two messages on the
 * app channel, adjacent for every subscriber (a script runs alone): the
 * ordinal message `origin u8 | 0xff | f64 first ordinal`, then the blob. A
 * loss notice (kind 1: the first record says node `origin` could not write
 * n lines; the app's lines that follow it may come in the same chunk) is
 * also remembered as `ordinal:origin:n` in the meta field `notices` (the last
 * 100), so a catch-up that finds it trimmed still learns its n.
 *
 * Layouts (rolling upgrades): the meta field `layout` is set to 2 by the
 * first append that wants it, and from then on every append of the app
 * writes chunks, whatever it asks. Before that, appends write the previous
 * release's layout, which its nodes read and write: one `lines` element per
 * record (element i is ordinal trimmed + i + 1, meta `trimmed`), trimmed to
 * cap, and one message `f64 first ordinal | blob`. Once in layout 2, the
 * `lines` left from before are dropped as their ordinals fall out of the
 * last `cap`, and deleted with the last of them.
 *
 * Idempotent per chunk id: the app remembers (for SENT_TTL_MS) the id and
 * resulting total of the last chunk each node appended; a chunk sent again
 * with that id (its reply was lost) is not appended twice and gets that
 * total back (-1 for an older id: a duplicate whose ordinals are not
 * known). A node's chunk ids rise and it sends at most one chunk of an app
 * per pipeline, so a re-send is always of the last one.
 */
/**
 * The layout-2 bookkeeping of an append, shared by APPEND_LUA and
 * APPEND_META_LUA (needs first, lo and tseq; KEYS as theirs; the chunk's
 * blob already pushed by the caller): push the chunk's `first ordinal:highest
 * seq`, take out orphans (below), drop whole oldest elements of chunks and
 * firsts while the ones after them still hold the last cap ordinals (keeping
 * the highest seq dropped in tseq, and each dropped element's `first
 * ordinal:highest seq:last ordinal` in the list KEYS[6], trims, the last
 * TRIMS_KEPT to TRIMS_KEPT + 32 of them: a drain replay counts exactly what
 * was dropped from them, drains/replay.ts), and trim the previous release's
 * list of its ordinals at or below lo.
 *
 * An orphan is a blob pushed by an append transaction whose bookkeeping did
 * not run (its script missing when EXEC ran it: cluster/append-wire.ts): it
 * sits after the last blob that has its `firsts` element, so the list of
 * chunks is longer than firsts. Readers stop at firsts' length (HISTORY_LUA);
 * the next append whose bookkeeping runs takes the orphans out (its own blob
 * is the last element, the orphans the ones before it). The node sends the
 * orphan's lines again, after loading the script.
 */
/** Dropped chunks whose ordinals and highest seq the app keeps (the trims list: ~40 bytes each). */
export const TRIMS_KEPT = 256;

const LAYOUT2_LUA = `local nf = redis.call('RPUSH', KEYS[2], string.format('%.0f:%s', first, ARGV[6]))
local orphans = redis.call('LLEN', KEYS[1]) - nf
if orphans > 0 then
  for i = nf - 1, nf + orphans - 2 do redis.call('LSET', KEYS[1], i, '') end
  redis.call('LREM', KEYS[1], -orphans, '')
end
local drop = 0
local gone = {}
while true do
  local second = redis.call('LINDEX', KEYS[2], drop + 1)
  if not second then break end
  local f = tonumber(string.match(second, '^(%d+)'))
  if f - 1 > lo then break end
  local d = redis.call('LINDEX', KEYS[2], drop)
  local s = tonumber(string.match(d, ':(.*)$'))
  if (not tseq) or s > tseq then tseq = s end
  drop = drop + 1
  gone[drop] = d .. ':' .. string.format('%.0f', f - 1)
end
if drop > 0 then
  redis.call('LTRIM', KEYS[1], drop, -1)
  redis.call('LTRIM', KEYS[2], drop, -1)
  if redis.call('RPUSH', KEYS[6], unpack(gone)) > ${TRIMS_KEPT + 32} then redis.call('LTRIM', KEYS[6], -${TRIMS_KEPT}, -1) end
end
local old = redis.call('LLEN', KEYS[5])
if old > 0 then
  local k = math.min(old, lo - tonumber(redis.call('HGET', KEYS[3], 'trimmed') or '0'))
  if k > 0 then
    local s = struct.unpack('<d', redis.call('LINDEX', KEYS[5], k - 1))
    if (not tseq) or s > tseq then tseq = s end
    redis.call('LTRIM', KEYS[5], k, -1)
    redis.call('HINCRBY', KEYS[3], 'trimmed', k)
  end
end
`;

/**
 * A loss notice's memory, shared by APPEND_LUA and APPEND_META_LUA (needs
 * first, noticeOrigin and noticeN; KEYS as theirs): `ordinal:origin:n` in the
 * meta field `notices`, the last 100; and the meta field `nn` counts the
 * notices ever appended (records that are not lines: a replay's count of
 * lines ever). An app whose notices predate `nn` starts it from the list
 * when the list is complete (fewer than 100), else leaves it out.
 */
const NOTICE_LUA = `  local e = string.format('%.0f:%d:%.0f', first, noticeOrigin, noticeN)
  local cur = redis.call('HGET', KEYS[3], 'notices')
  local commas = -1
  if cur then
    local _, c = string.gsub(cur, ',', ',')
    commas = c
  end
  if redis.call('HEXISTS', KEYS[3], 'nn') == 1 then redis.call('HINCRBY', KEYS[3], 'nn', 1)
  elseif commas < 99 then redis.call('HSET', KEYS[3], 'nn', commas + 2) end
  if cur then
    if commas >= 99 then cur = string.sub(cur, string.find(cur, ',', 1, true) + 1) end
    e = cur .. ',' .. e
  end
  redis.call('HSET', KEYS[3], 'notices', e)
`;

/**
 * The stream's incarnation (epoch), used by APPEND_META_LUA (needs KEYS as
 * its, ARGV[10] = the epoch the node knows of the app, '' for none, and
 * ARGV[11] = the highest total the node knows in it; sets epoch, began and
 * rewound; runs after the config-key check, so an append to a deleted app
 * begins no epoch). Ordinals are positions in one incarnation of an app's
 * stream; a Redis that lost its last writes (a failover to a replica that
 * lagged, a restart from a file that missed them) counts on from an older
 * total, and gives the next lines ordinals that followers and drain cursors
 * already passed. So the meta holds `epoch` (the time, in microseconds of
 * Redis' clock, the incarnation began: a new one is always above the one
 * before) and `rewind` = `R:T`: the incarnation began after ordinal R, and
 * ordinals R + 1..T of the one before (as far as the node that began it
 * knew) are no longer held. An append begins a new incarnation when the app
 * has no epoch (a new app, a meta Redis lost, or one written before epochs)
 * or when the total is below what the node knew of the same epoch; rewound
 * is then T - R (lines the history lost), else -1, and the append publishes
 * `origin u8 | 0xfe | f64 epoch` before its ordinal message.
 */
const EPOCH_LUA = `local em = redis.call('HMGET', KEYS[3], 'total', 'epoch')
local had = tonumber(em[1] or '0')
local epoch = em[2]
local known = 0
if (not epoch) or ARGV[10] == epoch then known = tonumber(ARGV[11]) or 0 end
local rewound = -1
if (not epoch) or had < known then
  local t = redis.call('TIME')
  local e = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if epoch and e <= tonumber(epoch) then e = tonumber(epoch) + 1 end
  epoch = string.format('%.0f', e)
  local top = math.max(had, known)
  rewound = top - had
  began = epoch
  redis.call('HSET', KEYS[3], 'epoch', epoch, 'rewind', string.format('%.0f:%.0f', had, top))
end
`;

export const APPEND_LUA = `
if redis.call('EXISTS', KEYS[7]) == 0 then return ${APP_GONE} end
local id = tonumber(ARGV[4])
local seen = redis.call('GET', KEYS[4])
if seen then
  local c, t = string.match(seen, '^(%d+):(%d+)$')
  c = tonumber(c)
  if c == id then return tonumber(t) end
  if id < c then return -1 end
end
local blob = ARGV[5]
local n = struct.unpack('<I4', blob, 3)
local layout = redis.call('HGET', KEYS[3], 'layout')
if layout ~= '2' and ARGV[7] == '2' then
  redis.call('HSET', KEYS[3], 'layout', '2')
  layout = '2'
end
local total = redis.call('HINCRBY', KEYS[3], 'total', n)
local first = total - n + 1
if string.byte(blob, 2) == 1 and struct.unpack('<I2', blob, 7) == 22 then
  local noticeOrigin, noticeN = string.byte(blob, 1), struct.unpack('<I4', blob, 7 + 2 * n + 10)
${NOTICE_LUA}end
local cap = tonumber(ARGV[1])
local lo = total - cap
local tseq = nil
if layout == '2' then
  redis.call('RPUSH', KEYS[1], blob)
${LAYOUT2_LUA}else
  local p = 7 + 2 * n
  local recs = {}
  for i = 1, n do
    local len = struct.unpack('<I2', blob, 5 + 2 * i)
    recs[#recs + 1] = string.sub(blob, p, p + len - 1)
    p = p + len
    if #recs == 1000 or i == n then
      redis.call('RPUSH', KEYS[5], unpack(recs))
      recs = {}
    end
  end
  local len = redis.call('LLEN', KEYS[5])
  if len > cap then
    local k = len - cap
    tseq = struct.unpack('<d', redis.call('LINDEX', KEYS[5], k - 1))
    redis.call('LTRIM', KEYS[5], k, -1)
    redis.call('HINCRBY', KEYS[3], 'trimmed', k)
  end
end
if tseq and tseq > tonumber(redis.call('HGET', KEYS[3], 'tseq') or '0') then
  redis.call('HSET', KEYS[3], 'tseq', string.format('%.0f', tseq))
end
redis.call('SET', KEYS[4], ARGV[4] .. ':' .. string.format('%.0f', total), 'PX', ${SENT_TTL_MS})
if layout == '2' then
  redis.call(ARGV[3], ARGV[2], string.sub(blob, 1, 1) .. '\\255' .. struct.pack('<d', first))
  redis.call(ARGV[3], ARGV[2], blob)
else
  redis.call(ARGV[3], ARGV[2], struct.pack('<d', first) .. blob)
end
return total
`;

/** SHA-1 of the append script (EVALSHA). */
export const APPEND_SHA = createHash('sha1').update(APPEND_LUA).digest('hex');

/**
 * The append of a chunk in layout 2 without its blob ever entering Lua.
 * Since Redis 7.0, Lua hashes every byte of every string it is given
 * (redis/redis#9449), so a 60 KB blob as a script argument cost ~80 µs
 * of Redis CPU before the script ran a line: half of an append. So a chunk's
 * append is one transaction (cluster/append-wire.ts), run with no other
 * client's command between its parts:
 *
 *   MULTI
 *   RPUSH chunks blob         the blob, as Redis keeps a plain argument
 *   EVALSHA APPEND_META_LUA   the bookkeeping of APPEND_LUA, without the blob
 *                             (EVAL while the node publishes the blob itself)
 *   PUBLISH channel blob      (SPUBLISH on a Redis Cluster); only while someone listens
 *   EXEC
 *
 * EVALSHA while nobody listens: Redis hashes an EVAL's script text when the
 * command is queued and again when EXEC runs it, a fifth of an append's
 * cost (bench/redis_append_cost.ts). A script Redis does not hold (flushed,
 * a new master) fails only when EXEC runs it, after the RPUSH ran: that blob
 * is an orphan, which readers skip and the next bookkeeping takes out
 * (LAYOUT2_LUA), and the node loads the script and sends the chunk again.
 * EVAL while the node publishes the blob: a PUBLISH after bookkeeping that
 * did not run would send followers a blob without its ordinal message; EVAL
 * never misses. Appends in the previous release's layout (upgrades) still
 * go through APPEND_LUA.
 *
 * Published only while someone listens: a chunk's blob is published only
 * when a node follows the app (its tails or drains subscribe to the app
 * channel), so an app nobody follows costs Redis the chunk once, not twice.
 * The bookkeeping counts the channel's subscribers (`PUBSUB NUMSUB`, or
 * `SHARDNUMSUB` on a Redis Cluster, where ioredis' sharded subscribers
 * connect to the masters) and returns the count; the node leaves PUBLISH out
 * of its next append of the app while the count was 0. When a subscriber
 * came in between, the bookkeeping sees it and publishes the ordinal message
 * and then the blob from the list (`LINDEX`: the blob then enters Lua, once
 * per app and new listener). So every subscriber that was subscribed when
 * the transaction ran gets the ordinal message and the blob, adjacent,
 * exactly as when every chunk was published; a chunk with no subscriber
 * went to nobody then as now.
 *
 * KEYS: chunks, firsts, meta, sent, lines, trims, config. ARGV: cap, channel, publish
 * command, chunk id, count, highest seq, origin, the n of the loss notice
 * leading the chunk ('' when a line leads it), '1' when the transaction
 * publishes the blob itself ('0' when it leaves PUBLISH out), and the epoch
 * of the app's stream the node knows ('' none) and the highest total it
 * knows in it (EPOCH_LUA). Does what APPEND_LUA does for a layout-2 chunk of
 * count records whose blob was just pushed, except the publish of the blob
 * that follows it when the node publishes: begins a new epoch of the stream
 * when EPOCH_LUA says so, bumps the total, pushes the chunk's `first
 * ordinal:highest seq`, trims, publishes the epoch message (when it began
 * one) and the ordinal message (when the blob is published) and returns
 * {total, subscribers, epoch, rewound}. A re-send of the last chunk appended
 * (its reply was lost) takes back the blob pushed again, publishes the
 * ordinal message of its first append (a follower drops ordinals it already
 * has: cluster/follow.ts; a re-send begins no epoch), and returns {that
 * total, subscribers}; an older id (never sent again
 * by design) returns -1 and publishes first ordinal -1, whose chunk the
 * followers drop (cluster/bus.ts).
 *
 * An app without its config key was deleted (the delete removes it with the
 * history, in one step: store/redis.ts): the blob just pushed is taken back
 * out (with the list, which holds nothing else of a deleted app), nothing
 * else is touched, first ordinal -1 is published when the node publishes
 * the blob (the followers drop it), and the answer is {APP_GONE, subs}. One
 * EXISTS on a key of the app's slot: no round trip more.
 */
export const APPEND_META_LUA = `
local id = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local om = string.char(tonumber(ARGV[7])) .. '\\255'
local subs = redis.call('PUBSUB', ARGV[3] == 'SPUBLISH' and 'SHARDNUMSUB' or 'NUMSUB', ARGV[2])[2]
local own = ARGV[9] == '1'
local tell = own or subs > 0
local late = subs > 0 and not own
-- the ordinal message while someone listens, then the blob from the list when the node left PUBLISH out
local began = nil
local function announce(first)
  if tell and began then redis.call(ARGV[3], ARGV[2], string.char(tonumber(ARGV[7])) .. '\\254' .. struct.pack('<d', tonumber(began))) end
  if tell then redis.call(ARGV[3], ARGV[2], om .. struct.pack('<d', first)) end
  if late then redis.call(ARGV[3], ARGV[2], redis.call('LINDEX', KEYS[1], -1)) end
end
if redis.call('EXISTS', KEYS[7]) == 0 then
  redis.call('DEL', KEYS[1])
  if own then redis.call(ARGV[3], ARGV[2], om .. struct.pack('<d', -1)) end
  return {${APP_GONE}, subs}
end
local seen = redis.call('GET', KEYS[4])
if seen then
  local c, t = string.match(seen, '^(%d+):(%d+)$')
  c = tonumber(c)
  if id <= c then
    local total = -1
    if c == id then total = tonumber(t) end
    announce(total < 0 and -1 or total - n + 1)
    redis.call('LTRIM', KEYS[1], 0, -2)
    return {total, subs}
  end
end
if redis.call('HGET', KEYS[3], 'layout') ~= '2' then redis.call('HSET', KEYS[3], 'layout', '2') end
${EPOCH_LUA}local total = redis.call('HINCRBY', KEYS[3], 'total', n)
local first = total - n + 1
if ARGV[8] ~= '' then
  local noticeOrigin, noticeN = tonumber(ARGV[7]), tonumber(ARGV[8])
${NOTICE_LUA}end
local lo = total - tonumber(ARGV[1])
local tseq = nil
${LAYOUT2_LUA}if tseq and tseq > tonumber(redis.call('HGET', KEYS[3], 'tseq') or '0') then
  redis.call('HSET', KEYS[3], 'tseq', string.format('%.0f', tseq))
end
redis.call('SET', KEYS[4], ARGV[4] .. ':' .. string.format('%.0f', total), 'PX', ${SENT_TTL_MS})
announce(first)
return {total, subs, epoch, rewound}
`;

/** SHA-1 of the bookkeeping script (EVALSHA). */
export const APPEND_META_SHA = createHash('sha1').update(APPEND_META_LUA).digest('hex');

/** The scripts the hand-written append rounds call by their SHA (cluster/append-wire.ts): loaded before the first round on a connection. */
export const BY_SHA_SCRIPTS: readonly string[] = [APPEND_LUA, APPEND_META_LUA];

/**
 * Read an app's history from an ordinal on (0 = all). KEYS: chunks,
 * firsts, meta, lines (the previous release's list). ARGV: from, cap.
 * Returns {total, tseq, notices, k, `epoch:R:T` (the meta's epoch and
 * rewind, EPOCH_LUA; `0:0:0` before the app has one), k firsts, k elements,
 * [f, records]} atomically: the chunks from the one holding `from` on, each with its
 * `first ordinal:highest seq`, then, when the previous release's list holds
 * any, the ordinal f of its first record returned and its records from
 * `from` on (all older than every chunk); notices is the meta field of that
 * name when some of the ordinals asked for were trimmed (<= total - cap),
 * else empty. The reader skips the held records at or below total - cap.
 * Chunks past firsts' length (orphans: LAYOUT2_LUA) are not read.
 */
export const HISTORY_LUA = `
local m = redis.call('HMGET', KEYS[3], 'total', 'tseq', 'notices', 'trimmed', 'epoch', 'rewind')
local total = tonumber(m[1] or '0')
local from = tonumber(ARGV[1])
local firsts = redis.call('LRANGE', KEYS[2], 0, -1)
local start = 1
for i = #firsts, 1, -1 do
  if tonumber(string.match(firsts[i], '^(%d+)')) <= from then start = i break end
end
local out = {tostring(total), m[2] or '0', '', '0', (m[5] or '0') .. ':' .. (m[6] or '0:0')}
if from <= total - tonumber(ARGV[2]) and m[3] then out[3] = m[3] end
for i = start, #firsts do out[#out + 1] = firsts[i] end
out[4] = tostring(#firsts - start + 1)
local elems = {}
if #firsts > 0 then elems = redis.call('LRANGE', KEYS[1], start - 1, #firsts - 1) end
for i = 1, #elems do out[#out + 1] = elems[i] end
local t = tonumber(m[4] or '0')
local s = 0
if from > t + 1 then s = from - t - 1 end
local olds = redis.call('LRANGE', KEYS[4], s, -1)
if #olds > 0 then
  out[#out + 1] = string.format('%.0f', t + s + 1)
  for i = 1, #olds do out[#out + 1] = olds[i] end
end
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
 * How long a drain's checkpoint (`lp:{app}:drain:<id>`) outlives the last
 * save of its owner, who saves every drain it delivers about once a second
 * (cluster/drains.ts). A backstop only: removing the drain, or its app,
 * deletes the checkpoint in the same step as the config (store/redis.ts).
 * Seven days, as Kafka keeps a consumer group's committed offsets
 * (offsets.retention.minutes): long enough that a cluster stopped for a
 * long weekend resumes each drain where it stopped.
 */
export const CHECKPOINT_TTL_MS = 7 * 24 * 3600 * 1000;

/**
 * What INIT_CURSOR_LUA (as its cursor) and SAVE_CURSOR_LUA answer for a
 * drain its app's record does not list (removed, or its app deleted):
 * nothing was written. The feed stays idle (init) or has nothing more to
 * write (save); its node hears of the delete and lets the drain go.
 */
export const NOT_CONFIGURED = -1;

/**
 * What SAVE_CURSOR_LUA answers for a cursor of an epoch that is not the
 * app's stream's (EPOCH_LUA: the stream was rewound and the feed has not
 * re-based yet): the cursor was not written (the status was, and the TTL
 * renewed). The feed saves again once it follows the app's epoch.
 */
export const OTHER_EPOCH = -2;

/**
 * True when the app's record (KEYS[config], JSON) lists the drain: whether
 * a checkpoint may be made for it. Read only when the checkpoint is missing
 * (a new drain, or one whose checkpoint expired), never on the hot path.
 */
const CONFIGURED_LUA = `local function configured(config, drain)
  local raw = redis.call('GET', config)
  if not raw then return false end
  local ok, rec = pcall(cjson.decode, raw)
  if not ok or type(rec) ~= 'table' or type(rec.drains) ~= 'table' then return false end
  for _, d in ipairs(rec.drains) do
    if type(d) == 'table' and d.id == drain then return true end
  end
  return false
end
`;

/**
 * A drain's checkpoint starts at the app's current total (a new drain gets
 * lines from its creation on), in the app's current epoch, and is made only
 * for a drain its app's record lists: a node that has not yet heard that
 * the drain (or its app) was removed does not bring the deleted checkpoint
 * back. KEYS: state, meta, config. ARGV: drain id, ttl ms
 * (CHECKPOINT_TTL_MS, renewed). Returns {cursor, epoch}: the checkpoint and
 * the incarnation of the stream its ordinal is of (EPOCH_LUA; '' when
 * unknown: written before epochs, or the app has none), or
 * {NOT_CONFIGURED, ''} when the drain is not configured (nothing written).
 */
export const INIT_CURSOR_LUA = `${CONFIGURED_LUA}
local c = redis.call('HMGET', KEYS[1], 'cursor', 'epoch')
if c[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {tonumber(c[1]), c[2] or ''}
end
if not configured(KEYS[3], ARGV[1]) then return {${NOT_CONFIGURED}, ''} end
local m = redis.call('HMGET', KEYS[2], 'total', 'epoch')
local t = tonumber(m[1] or '0')
redis.call('HSET', KEYS[1], 'cursor', t)
if m[2] then redis.call('HSET', KEYS[1], 'epoch', m[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {t, m[2] or ''}
`;

/**
 * A drain's checkpoint moves forward only within one incarnation of the
 * app's stream: the cursor (with its time, node and epoch) is written when
 * it is past the one Redis holds of the same epoch, so a save that arrives
 * late (an earlier periodic checkpoint, or a previous owner still stopping)
 * never takes a newer cursor back and makes the next owner send lines twice.
 * A cursor of the app's current epoch replaces one of another epoch, lower
 * or not: the stream was rewound (EPOCH_LUA) and its ordinals count from
 * lower again. A cursor of an epoch the app is no longer in is never
 * written. The owner's status (JSON, '' for none) is written with it, and
 * the checkpoint's TTL renewed, whether the cursor was written or not.
 *
 * Written only while the drain is configured: the checkpoint itself is the
 * mark (made by INIT_CURSOR_LUA for a configured drain, deleted with the
 * drain or its app in the same step as the config); when it is missing, the
 * app's record is read, and a drain it no longer lists gets nothing written
 * (the owner's last save after the drain or its app was deleted leaves no
 * key behind).
 *
 * KEYS: state, meta, config. ARGV: cursor, at, node, epoch ('' unknown),
 * status, drain id, ttl ms. Returns 1 when the cursor was written, 0 when
 * the one held is of the same epoch and not behind, NOT_CONFIGURED (-1) when
 * the drain is not configured (nothing written), OTHER_EPOCH (-2) when the
 * epoch is not the app's (the cursor not written).
 */
export const SAVE_CURSOR_LUA = `${CONFIGURED_LUA}
if redis.call('EXISTS', KEYS[1]) == 0 and not configured(KEYS[3], ARGV[6]) then return ${NOT_CONFIGURED} end
local w = ${OTHER_EPOCH}
if ARGV[4] == (redis.call('HGET', KEYS[2], 'epoch') or '') then
  local c = redis.call('HMGET', KEYS[1], 'cursor', 'epoch')
  w = 0
  if (c[2] or '') ~= ARGV[4] or tonumber(ARGV[1]) > tonumber(c[1] or '-1') then
    redis.call('HSET', KEYS[1], 'cursor', ARGV[1], 'at', ARGV[2], 'node', ARGV[3])
    if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'epoch', ARGV[4]) end
    w = 1
  end
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[5]) end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return w
`;

/**
 * Add one node's batch of apps' line counts to a shard of the cluster's
 * counts (cluster/counts.ts), once. KEYS: the shard's hash, the node's
 * last applied batch number for it. ARGV: batch number, how long to keep
 * it (ms), then per app: id, lines, bytes, rate limited. Returns 1
 * (applied) or 0 (applied before: a batch sent again).
 */
const ADD_COUNTS_LUA = `
local batch = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if batch <= last then return 0 end
for i = 3, #ARGV, 4 do
  local l, b, r = 0, 0, 0
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    local x, y, z = string.match(v, '^(%d+),(%d+),(%d+)$')
    if x then l, b, r = tonumber(x), tonumber(y), tonumber(z) end
  end
  l = l + tonumber(ARGV[i + 1])
  b = b + tonumber(ARGV[i + 2])
  r = r + tonumber(ARGV[i + 3])
  redis.call('HSET', KEYS[1], ARGV[i], string.format('%.0f,%.0f,%.0f', l, b, r))
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
`;

/**
 * One request of a client address against the failed-authentication count
 * shared by every node (access/throttle.ts, whose window this is, slot for
 * slot). KEYS: the address's hash (slot number -> failures in that slot).
 * ARGV: now (ms), slot width (ms), slots per window, limit, '1' to count a
 * failure. Drops the slots that left the window (the window is the current
 * slot and the `slots` before it); when `limit` failures or more are in it,
 * answers the ms until enough of them have left it and counts nothing; else
 * counts the failure (when asked) in the current slot, keeps the hash until
 * its newest slot has left the window, and answers 0. A slot ahead of now (a
 * node whose clock is ahead) counts until it has left the window too.
 */
export const AUTH_FAILURES_LUA = `
local now = tonumber(ARGV[1])
local width = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local cur = math.floor(now / width)
local first = cur - n
local slots = {}
local total = 0
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local s = tonumber(flat[i])
  local c = tonumber(flat[i + 1])
  if s < first then
    redis.call('HDEL', KEYS[1], flat[i])
  else
    slots[#slots + 1] = {s, c}
    total = total + c
  end
end
if total >= limit then
  table.sort(slots, function(a, b) return a[1] < b[1] end)
  local left = total
  for i = 1, #slots do
    left = left - slots[i][2]
    if left < limit then return (slots[i][1] + n + 1) * width - now end
  end
  return (cur + n + 1) * width - now
end
if ARGV[5] == '1' then
  redis.call('HINCRBY', KEYS[1], string.format('%.0f', cur), 1)
  redis.call('PEXPIRE', KEYS[1], (n + 1) * width)
end
return 0
`;

/** The scripts as ioredis custom commands (EVALSHA, with EVAL on a fresh connection). */
export interface Scripts {
  lpAppend(chunks: string, firsts: string, meta: string, sent: string, lines: string, trims: string, config: string, cap: number, channel: string, publish: string, chunkId: number, blob: Buffer, highestSeq: number, layout: '1' | '2'): Promise<number>;
  lpHistoryBuffer(chunks: string, firsts: string, meta: string, lines: string, from: number, cap: number): Promise<Buffer[]>;
  lpLease(lease: string, node: string, ttlMs: number): Promise<number>;
  lpRelease(lease: string, node: string, ttlMs: number): Promise<number>;
  lpInitCursor(state: string, meta: string, config: string, drainId: string, ttlMs: number): Promise<[number, string]>;
  lpSaveCursor(state: string, meta: string, config: string, cursor: number, at: number, node: string, epoch: string, status: string, drainId: string, ttlMs: number): Promise<number>;
  lpAddCounts(shard: string, applied: string, batch: number, ttlMs: number, ...perApp: string[]): Promise<number>;
  lpAuthFailures(address: string, now: number, slotMs: number, slots: number, limit: number, fail: '0' | '1'): Promise<number>;
}

export function defineScripts(r: Redis): void {
  r.defineCommand('lpAppend', { numberOfKeys: 7, lua: APPEND_LUA });
  r.defineCommand('lpHistory', { numberOfKeys: 4, lua: HISTORY_LUA, readOnly: true });
  r.defineCommand('lpLease', { numberOfKeys: 1, lua: LEASE_LUA });
  r.defineCommand('lpRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
  r.defineCommand('lpInitCursor', { numberOfKeys: 3, lua: INIT_CURSOR_LUA });
  r.defineCommand('lpSaveCursor', { numberOfKeys: 3, lua: SAVE_CURSOR_LUA });
  r.defineCommand('lpAddCounts', { numberOfKeys: 2, lua: ADD_COUNTS_LUA });
  r.defineCommand('lpAuthFailures', { numberOfKeys: 1, lua: AUTH_FAILURES_LUA });
}

/** Scripts on a pipeline (same names). */
export type ScriptPipeline = { [K in keyof Scripts]: (...args: Parameters<Scripts[K]>) => ScriptPipeline } & {
  exec(): Promise<Array<[Error | null, unknown]> | null>;
};
