// Bench input: apps with one `app` token each, and a pre-generated stream of
// RFC 5424 octet-counted frames (RFC 6587 §3.4.1) spread over those apps.
import { randomUUID } from 'node:crypto';
import type { AppRecord } from '../../src/store/store.js';

export interface BenchApp {
  id: string;
  token: string;
}

/** `count` apps `bench-0000`... with one fresh `t.<uuid4>` token each. */
export function benchApps(count: number): BenchApp[] {
  const out: BenchApp[] = [];
  for (let i = 0; i < count; i++) out.push({ id: `bench-${String(i).padStart(4, '0')}`, token: `t.${randomUUID()}` });
  return out;
}

/** The same apps as store records (config.json of the FileStore, or MemoryStore.putApp). */
export function appRecords(apps: readonly BenchApp[]): AppRecord[] {
  const now = new Date().toISOString();
  return apps.map((a) => ({
    id: a.id,
    uuid: randomUUID(),
    createdAt: now,
    updatedAt: now,
    tokens: [{ token: a.token, name: 'app', createdAt: now }],
    drains: [],
  }));
}

/** Size of one syslog message (the MSG of a frame, without `LEN SP`). */
export const MESSAGE_BYTES = 150;

/**
 * One Buffer of `frames` octet-counted frames; frame i goes to app
 * (i + offset) % apps.length, so every app gets the same share when frames is
 * a multiple of the app count. Each message is `<190>1 TS host TOKEN web.N - - ...`
 * padded to MESSAGE_BYTES.
 */
export function syslogFrames(apps: readonly BenchApp[], frames: number, offset = 0): { buf: Buffer; messageBytes: number } {
  const parts: Buffer[] = [];
  let messageBytes = 0;
  for (let i = 0; i < frames; i++) {
    const app = apps[(i + offset) % apps.length]!;
    const head = `<190>1 2026-11-22T03:00:00.123456+00:00 host ${app.token} web.${(i % 4) + 1} - - at=info method=GET path=/p/${i % 10000} status=200 `;
    const msg = head.length >= MESSAGE_BYTES ? head : head + 'x'.repeat(MESSAGE_BYTES - head.length);
    messageBytes += msg.length;
    parts.push(Buffer.from(`${msg.length} ${msg}`, 'latin1'));
  }
  return { buf: Buffer.concat(parts), messageBytes };
}

/**
 * A Logplex HTTP body (POST /logs): `lines` octet-counted RFC 5424 frames of
 * MESSAGE_BYTES each, APP-NAME `app` and PROCID `web.N` (the token travels in
 * the Basic auth, not in the frames), so one body serves every app.
 */
export function logplexBody(lines: number, variant = 0): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < lines; i++) {
    const head = `<190>1 2026-11-22T03:00:00.123456+00:00 host app web.${(i % 4) + 1} - - at=info method=POST path=/b/${variant}/${i} status=201 `;
    const msg = head.length >= MESSAGE_BYTES ? head : head + 'x'.repeat(MESSAGE_BYTES - head.length);
    parts.push(Buffer.from(`${msg.length} ${msg}`, 'latin1'));
  }
  return Buffer.concat(parts);
}
