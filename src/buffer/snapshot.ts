// Rings saved on a graceful stop and restored on start (embedded mode). The
// snapshot is a cache: a damaged one never stops a start. Every part carries
// a CRC32, so what is damaged is found and skipped, what is intact restored,
// and one warning names the file and what was skipped.
//
// Format 2 (all integers little-endian):
//
//   file header   "LPRING2\n" | u32 apps | u32 lines | u32 crc32(previous 16 bytes)
//   per app       "LPRB" | u32 bodyLen | u32 lines | f64 seq | u16 idLen | id
//                 | u32 crc32(body) | u32 crc32(this header up to here)
//                 then the body: lines x (u16 len | cooked record)
//
// A block whose header checks but whose body does not still gives back the
// app's seq (new lines never reuse a seq); a damaged block header is skipped
// by looking for the next "LPRB" whose header checks. Format 1 ("LPRING1\n",
// no checksums) from earlier versions is read with bounds and plausibility
// checks; at the first thing that does not fit, the rest is skipped.
//
// Written atomically: a temp file, fsync, rename over rings.bin, fsync of the
// directory. Removed after it was read (a crash later must not restore stale
// history twice).
import * as zlib from 'node:zlib';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFile } from '../basics/files.js';
import type { Ring } from './ring.js';
import { HEADER } from '../line.js';
import type { Log } from '../obs/log.js';

/** An app as the snapshot sees it: its ring and seq (apps.ts's App is one). */
export interface RingOwner {
  readonly id: string;
  readonly ring: Ring;
  readonly seq: number;
  /** Raise the seq to at least n: new lines never reuse a saved seq. */
  restoreSeq(n: number): void;
}

/** The apps whose rings are saved and restored (apps.ts's Registry is one). */
export interface RingOwners {
  apps(): Iterable<RingOwner>;
  get(id: string): RingOwner | undefined;
}

const MAGIC = Buffer.from('LPRING2\n', 'latin1');
const MAGIC_V1 = Buffer.from('LPRING1\n', 'latin1');
const FILE_HEAD = 20;
const BLOCK = Buffer.from('LPRB', 'latin1');
/** Block header bytes besides the id. */
const BLOCK_FIXED = 30;
const MAX_RECORD = 0xffff;
const APP_ID = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/** CRC-32 (IEEE), node:zlib's where it has one (Node 20.15+), else a table. */
export const crc32: (b: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? (b) => zlib.crc32(b) : tableCrc32;

let table: Uint32Array | null = null;
function tableCrc32(b: Uint8Array): number {
  if (table === null) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = table[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function ringsPath(dataDir: string): string {
  return join(dataDir, 'rings.bin');
}

/** One app's block: header (with its checksum) and body. */
function encodeBlock(id: string, seq: number, records: readonly Buffer[]): Buffer {
  const idBytes = Buffer.from(id, 'utf8');
  let bodyLen = 0;
  for (const r of records) bodyLen += 2 + r.length;
  const headLen = BLOCK_FIXED + idBytes.length;
  const out = Buffer.allocUnsafe(headLen + bodyLen);
  let p = headLen;
  for (const r of records) {
    out.writeUInt16LE(r.length, p);
    r.copy(out, p + 2);
    p += 2 + r.length;
  }
  BLOCK.copy(out, 0);
  out.writeUInt32LE(bodyLen, 4);
  out.writeUInt32LE(records.length, 8);
  out.writeDoubleLE(seq, 12);
  out.writeUInt16LE(idBytes.length, 20);
  idBytes.copy(out, 22);
  out.writeUInt32LE(crc32(out.subarray(headLen)), 22 + idBytes.length);
  out.writeUInt32LE(crc32(out.subarray(0, 26 + idBytes.length)), 26 + idBytes.length);
  return out;
}

/** The snapshot of these apps (rings and seqs), as saveRings writes it. */
export function encodeRings(registry: RingOwners): { bytes: Buffer[]; lines: number } {
  const blocks: Buffer[] = [];
  let lines = 0;
  for (const app of registry.apps()) {
    const recs: Buffer[] = [];
    for (let i = 0; i < app.ring.count; i++) recs.push(app.ring.at(i));
    // encodeBlock copies each view before the next at() could move anything
    blocks.push(encodeBlock(app.id, app.seq, recs));
    lines += recs.length;
  }
  const head = Buffer.alloc(FILE_HEAD);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(blocks.length, 8);
  head.writeUInt32LE(lines, 12);
  head.writeUInt32LE(crc32(head.subarray(0, 16)), 16);
  return { bytes: [head, ...blocks], lines };
}

/** Save every app's ring and seq, atomically. Returns the number of lines saved. */
export async function saveRings(dataDir: string, registry: RingOwners): Promise<number> {
  const { bytes, lines } = encodeRings(registry);
  await replaceFile(ringsPath(dataDir), bytes);
  return lines;
}

/** What reading a snapshot found. */
export interface RingsReport {
  /** Apps and lines put back into rings (apps that no longer exist are not counted). */
  restoredApps: number;
  restoredLines: number;
  /** Apps and lines of the snapshot that were damaged or missing, and so skipped. */
  skippedApps: number;
  skippedLines: number;
  /** Bytes in which no app's block could be recognised (skipped; their apps and lines cannot be counted). */
  unreadableBytes: number;
  /** True when the skipped counts are exact (from the file header); else they are lower bounds. */
  exact: boolean;
  /** Why anything was skipped; null when the snapshot was intact. */
  problem: string | null;
}

interface Reader {
  registry: RingOwners;
  report: RingsReport;
  problems: Set<string>;
}

/** A cooked record whose layout holds together: header lengths within it, a usable seq. */
function plausibleRecord(buf: Buffer, p: number, len: number): boolean {
  if (len < HEADER || len > MAX_RECORD) return false;
  if (HEADER + buf[p + 17]! + buf[p + 18]! + buf[p + 19]! > len) return false;
  const seq = buf.readDoubleLE(p);
  return Number.isFinite(seq) && seq >= 0;
}

/** Put an app's intact lines back (all of them or, when one does not fit, none) and its seq. */
function restore(r: Reader, id: string, seq: number, recs: Array<[number, number]>, buf: Buffer): void {
  const app = r.registry.get(id);
  if (!app) return;
  for (const [p, len] of recs) app.ring.push(buf.subarray(p, p + len));
  if (Number.isFinite(seq) && seq > app.seq) {
    app.restoreSeq(seq);
    app.ring.lastSeq = seq;
  }
  r.report.restoredApps++;
  r.report.restoredLines += recs.length;
}

/** Keep the seq of an app whose lines were damaged, so new lines do not reuse seqs. */
function restoreSeq(r: Reader, id: string, seq: number): void {
  const app = r.registry.get(id);
  if (app && Number.isFinite(seq) && seq > app.seq && app.ring.count === 0) {
    app.restoreSeq(seq);
    app.ring.lastSeq = seq;
  }
}

/** The records of a format-2 body, or null when they do not fill it exactly. */
function bodyRecords(buf: Buffer, start: number, end: number, count: number): Array<[number, number]> | null {
  const recs: Array<[number, number]> = [];
  let p = start;
  while (p < end) {
    if (p + 2 > end) return null;
    const len = buf.readUInt16LE(p);
    p += 2;
    if (p + len > end || !plausibleRecord(buf, p, len)) return null;
    recs.push([p, len]);
    p += len;
  }
  return recs.length === count ? recs : null;
}

/** A format-2 block header at p that checks: its fields; null otherwise. */
function blockHeader(buf: Buffer, p: number): { id: string; seq: number; lines: number; bodyStart: number; bodyLen: number; bodyCrc: number } | null {
  if (p + BLOCK_FIXED > buf.length || buf.compare(BLOCK, 0, 4, p, p + 4) !== 0) return null;
  const idLen = buf.readUInt16LE(p + 20);
  const headLen = BLOCK_FIXED + idLen;
  if (idLen === 0 || idLen > 100 || p + headLen > buf.length) return null;
  if (crc32(buf.subarray(p, p + 26 + idLen)) !== buf.readUInt32LE(p + 26 + idLen)) return null;
  const id = buf.toString('utf8', p + 22, p + 22 + idLen);
  if (!APP_ID.test(id)) return null;
  return { id, seq: buf.readDoubleLE(p + 12), lines: buf.readUInt32LE(p + 8), bodyStart: p + headLen, bodyLen: buf.readUInt32LE(p + 4), bodyCrc: buf.readUInt32LE(p + 22 + idLen) };
}

function readV2(r: Reader, buf: Buffer): void {
  const rep = r.report;
  const headOk = buf.length >= FILE_HEAD && buf.compare(MAGIC, 0, MAGIC.length, 0, MAGIC.length) === 0 && crc32(buf.subarray(0, 16)) === buf.readUInt32LE(16);
  if (!headOk) rep.exact = false;
  let goodApps = 0;
  let goodLines = 0;
  /** A block that will not be restored: counted here when the file header cannot say how many were skipped. */
  const skip = (lines: number): void => {
    if (headOk) return;
    rep.skippedApps++;
    rep.skippedLines += lines;
  };
  let p = headOk ? FILE_HEAD : 0;
  while (p < buf.length) {
    const h = blockHeader(buf, p);
    if (h === null) {
      // not a block header that checks: skip to the next one that does
      let q = buf.indexOf(BLOCK, p + 1);
      while (q !== -1 && blockHeader(buf, q) === null) q = buf.indexOf(BLOCK, q + 1);
      const to = q === -1 ? buf.length : q;
      rep.unreadableBytes += to - p;
      r.problems.add(p === 0 && !headOk ? 'not a ring snapshot, or its header is damaged' : "an app block's header fails its checksum");
      p = to;
      continue;
    }
    const end = h.bodyStart + h.bodyLen;
    if (end > buf.length) {
      r.problems.add('file truncated');
      restoreSeq(r, h.id, h.seq);
      skip(h.lines);
      break;
    }
    const recs = crc32(buf.subarray(h.bodyStart, end)) === h.bodyCrc ? bodyRecords(buf, h.bodyStart, end, h.lines) : null;
    if (recs === null) {
      r.problems.add("an app's lines fail their checksum");
      restoreSeq(r, h.id, h.seq);
      skip(h.lines);
    } else {
      goodApps++;
      goodLines += recs.length;
      restore(r, h.id, h.seq, recs, buf);
    }
    p = end;
  }
  if (headOk) {
    rep.skippedApps = Math.max(0, buf.readUInt32LE(8) - goodApps);
    rep.skippedLines = Math.max(0, buf.readUInt32LE(12) - goodLines);
    if (rep.skippedApps > 0 && r.problems.size === 0) r.problems.add('file truncated');
  }
}

/** Format 1 (earlier versions, no checksums): u16 idLen, id, f64 seq, u32 count, count x (u32 len, record). */
function readV1(r: Reader, buf: Buffer): void {
  const rep = r.report;
  let p = MAGIC_V1.length;
  /** Something does not fit at p: without checksums nothing after it can be trusted. */
  const rest = (why: string, lines: number): void => {
    r.problems.add(`format 1, ${why}`);
    rep.exact = false;
    rep.skippedApps++;
    rep.skippedLines += lines;
  };
  while (p < buf.length) {
    if (p + 2 > buf.length) return rest('file truncated', 0);
    const idLen = buf.readUInt16LE(p);
    if (idLen === 0 || idLen > 100) return rest('damaged', 0);
    if (p + 2 + idLen + 12 > buf.length) return rest('file truncated', 0);
    const id = buf.toString('utf8', p + 2, p + 2 + idLen);
    const seq = buf.readDoubleLE(p + 2 + idLen);
    const count = buf.readUInt32LE(p + 10 + idLen);
    if (!APP_ID.test(id) || !Number.isFinite(seq) || seq < 0 || count > (buf.length - p) / (4 + HEADER)) return rest('damaged', 0);
    let q = p + 14 + idLen;
    const recs: Array<[number, number]> = [];
    let prev = -1;
    let truncated = false;
    for (let i = 0; i < count; i++) {
      if (q + 4 > buf.length) {
        truncated = true;
        break;
      }
      const len = buf.readUInt32LE(q);
      if (q + 4 + len > buf.length) {
        truncated = len <= MAX_RECORD; // a plausible length running past the end; an absurd one is damage
        break;
      }
      if (!plausibleRecord(buf, q + 4, len)) break;
      const s = buf.readDoubleLE(q + 4);
      if (s <= prev || s > seq) break;
      prev = s;
      recs.push([q + 4, len]);
      q += 4 + len;
    }
    if (recs.length < count) {
      restoreSeq(r, id, seq);
      return rest(truncated ? 'file truncated' : 'damaged', count);
    }
    restore(r, id, seq, recs, buf);
    p = q;
  }
}

/**
 * Read a snapshot into the apps that still exist. Never throws: what is
 * damaged is skipped and described in the report.
 */
export function readRings(buf: Buffer, registry: RingOwners): RingsReport {
  const report: RingsReport = { restoredApps: 0, restoredLines: 0, skippedApps: 0, skippedLines: 0, unreadableBytes: 0, exact: true, problem: null };
  const r: Reader = { registry, report, problems: new Set() };
  try {
    if (buf.length === 0) {
      r.problems.add('empty file');
      report.exact = false;
    } else if (buf.length >= MAGIC_V1.length && buf.compare(MAGIC_V1, 0, MAGIC_V1.length, 0, MAGIC_V1.length) === 0) {
      readV1(r, buf);
    } else {
      readV2(r, buf);
    }
  } catch (err) {
    r.problems.add((err as Error).message);
    report.exact = false;
  }
  if (r.problems.size > 0) report.problem = [...r.problems].join('; ');
  return report;
}

const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/** For the warning: what of a damaged snapshot was skipped and what restored. */
export function describeSkipped(rep: RingsReport): string {
  const restored = `restored ${count(rep.restoredApps, 'app')} / ${count(rep.restoredLines, 'line')}`;
  const skipped = `${count(rep.skippedApps, 'app')} / ${count(rep.skippedLines, 'line')}`;
  if (rep.exact) return `skipped ${skipped}, ${restored}`;
  if (rep.skippedApps === 0 && rep.restoredApps === 0) return rep.unreadableBytes > 0 ? `skipped all ${rep.unreadableBytes} bytes (no app in them could be read)` : 'nothing to restore';
  return `skipped at least ${skipped}${rep.unreadableBytes > 0 ? ` and ${rep.unreadableBytes} unreadable bytes` : ''}, ${restored}`;
}

/**
 * Restore rings saved by saveRings into the apps that still exist, then remove
 * the file. A damaged file is skipped where damaged, with one warning naming
 * it and what was skipped. Returns lines restored.
 */
export async function loadRings(dataDir: string, registry: RingOwners, log?: Log): Promise<number> {
  const path = ringsPath(dataDir);
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      log?.warn({ at: 'rings.snapshot_damaged', file: path, problem: (err as Error).message }, `cannot read the ring snapshot ${path} (${(err as Error).message}); starting without the saved history`);
    }
    return 0;
  }
  const rep = readRings(buf, registry);
  if (rep.problem !== null) {
    log?.warn(
      { at: 'rings.snapshot_damaged', file: path, problem: rep.problem, skippedApps: rep.skippedApps, skippedLines: rep.skippedLines, unreadableBytes: rep.unreadableBytes, exact: rep.exact, restoredApps: rep.restoredApps, restoredLines: rep.restoredLines },
      `ring snapshot ${path} is damaged (${rep.problem}): ${describeSkipped(rep)}; starting`,
    );
  }
  await unlink(path).catch(() => {});
  return rep.restoredLines;
}
