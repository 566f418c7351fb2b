// Redis key and channel names. Every key of one app carries the app id as a
// hash tag (`lp:{<app>}:...`), so an app's keys live in one slot and the
// multi-key scripts work on Redis Cluster. App ids are [a-z0-9._-], so they
// never contain a brace.

/** Set of every app id. */
export const APPS = 'lp:apps';
/**
 * The admin API key's SHA-256 (hex), never the key (SPEC 12). The hash tag
 * puts it in the slot of API_KEY, so the migration from it is one script on
 * a Redis Cluster too; its name is one the previous release never reads.
 */
export const API_KEY_HASH = '{lp:apikey}:sha256';
/** The admin key in clear, as the previous release kept it: replaced by API_KEY_HASH at a node's start (store/redis.ts). */
export const API_KEY = 'lp:apikey';
/** API keys (SPEC 12): a hash, key id -> JSON record (the secret's SHA-256, never the secret). */
export const API_KEYS = 'lp:keys';
/** Config changes: JSON `{"n": node, "k": kind, "id"?, "v"?: the config version it made}`; `{"n","k":"v","v"}` announces a version alone. */
export const CONFIG_CHANNEL = 'lp:config';
/**
 * The config version: a counter raised by every change of an app, an API
 * key or the admin key (store/redis.ts). Each node reads it twice a second
 * and re-reads the whole config when it moved past what the node applied
 * (a change message it missed).
 */
export const CONFIG_VERSION = 'lp:config:version';
/** The history layout every node writes ('2': chunks); absent while nodes of the previous release may run (docs/operations.md, upgrades). */
export const LAYOUT = 'lp:layout';
/** Live nodes: member node id, score = ms when its registration expires. */
export const NODES = 'lp:nodes';

/** One app's record (JSON). */
export const appConfig = (app: string): string => `lp:{${app}}:config`;
/** One app's history: a list of chunks (`f64 first ordinal | header | records`, one per append), oldest first. */
export const appChunks = (app: string): string => `lp:{${app}}:chunks`;
/** The first ordinal of each element of appChunks (a list of numbers, kept beside it). */
export const appFirsts = (app: string): string => `lp:{${app}}:firsts`;
/** One app's history as the previous release wrote it: one element per record (element i is ordinal meta trimmed + i + 1). */
export const appLines = (app: string): string => `lp:{${app}}:lines`;
/** The chunks dropped from one app's history, the newest few hundred: `first ordinal:highest seq:last ordinal` each, oldest first. */
export const appTrims = (app: string): string => `lp:{${app}}:trims`;
/** One app's history counters: total (records ever appended), tseq (highest seq trimmed), notices, nn (notices ever), layout, trimmed (of appLines). */
export const appMeta = (app: string): string => `lp:{${app}}:meta`;
/** The ids and totals of the last chunks one node appended to one app (re-sends are not appended twice); expires. */
export const appSent = (app: string, node: string): string => `lp:{${app}}:sent:${node}`;
/** Pub/sub channel of one app's lines (published by the append script). */
export const appChannel = (app: string): string => `lp:{${app}}:tail`;
/** A drain's delivery checkpoint: cursor (last ordinal consumed), node, at. */
export const drainState = (app: string, drain: string): string => `lp:{${app}}:drain:${drain}`;
/** A drain's lease: the owning node id, with a TTL. */
export const drainLease = (app: string, drain: string): string => `lp:{${app}}:drain:${drain}:lease`;
/** A node's info (url, index, pid), expiring with its registration. */
export const nodeInfo = (id: string): string => `lp:node:${id}`;
/**
 * The previous release's report of the lines/s each app was sent to a node
 * (JSON {app: lines/s}), for the rate limit's shares; expires. This release
 * reports in its record (nodeRates, field `:limit`) and reads and writes this
 * key only while a node of the previous release runs (cluster/limit-share.ts).
 */
export const nodeLimitShare = (id: string): string => `lp:node:${id}:limit`;
/**
 * When each node index was last held (a sorted set: member index, score = ms
 * of its holder's last renewal): a node claiming an index takes the one held
 * longest ago, so an index whose holder was just cut off is not handed to
 * another node while the lines it stamped may still be on their way.
 */
export const NODE_SLOTS_HELD = 'lp:nodeslots:held';
/** A node's claim of its index (the low bits of its seqs). */
export const nodeSlot = (i: number): string => `lp:nodeslot:${i}`;
/** Failed API authentications of one client address (a hash: slot number -> failures), expiring with its window. Own slot per address. */
export const authFailures = (address: string): string => `lp:authfail:{${address}}`;
/** A session (JSON spec), expiring with the session. Own slot per session. */
export const session = (id: string): string => `lp:session:{${id}}`;

const CHANNEL_PREFIX = 'lp:{';
const CHANNEL_SUFFIX = '}:tail';

/** The app id of an app channel name, or null. */
export function appOfChannel(channel: string): string | null {
  if (!channel.startsWith(CHANNEL_PREFIX) || !channel.endsWith(CHANNEL_SUFFIX)) return null;
  return channel.slice(CHANNEL_PREFIX.length, channel.length - CHANNEL_SUFFIX.length);
}

/**
 * A node's stats record (cluster/node-stats.ts), written once a second: a
 * hash, field `<app>:<unix second starting a 10-second block>` -> that
 * block's lines per second (`a,h,o` per second, comma-separated; rates.ts),
 * and, with the rate limit on, field `:limit` -> `<unix ms>|<app>=<lines/s>,...`
 * (limit-share.ts); expires when the node stops writing. The name is the
 * previous release's, whose nodes read the blocks as they are.
 */
export const nodeRates = (id: string): string => `lp:node:${id}:rates`;
/**
 * The cluster's line counts of the apps whose id falls in one shard
 * (cluster/counts.ts): a hash, field `<app>` -> `lines,bytes,rate limited`
 * counted by every node since the app was made (or since the upgrade to this
 * release). Its own slot per shard.
 */
export const appCounts = (shard: number): string => `lp:{counts:${shard}}:apps`;

/** Hashes the counts are spread over (part of the layout in Redis: never changed). */
export const COUNT_SHARDS = 16;

/** The shard of an app id: FNV-1a (32 bits) of its characters, mod COUNT_SHARDS. */
export function countShard(app: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < app.length; i++) {
    h ^= app.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % COUNT_SHARDS;
}

/** The last batch of one node's counts applied to a shard of appCounts (applied once); expires. Same slot as the shard. */
export const nodeCountsSeq = (shard: number, node: string): string => `lp:{counts:${shard}}:node:${node}`;
/** Drain replays other nodes asked a node to run (a list of JSON requests, expiring). */
export const nodeReplays = (id: string): string => `lp:node:${id}:replays`;
/** A forwarded replay's answer (JSON `{"status","body"}`), expiring. Own slot per request. */
export const replayAnswer = (requestId: string): string => `lp:replay:{${requestId}}`;
