// Rings saved on a graceful stop and restored on start (embedded mode).
// Format: "LPRING1\n" then per app: u16 idLen, id, f64 seq, u32 count,
// then count x (u32 len, record bytes). Written atomically.
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Registry } from '../apps.js';

const MAGIC = Buffer.from('LPRING1\n', 'latin1');

export function ringsPath(dataDir: string): string {
  return join(dataDir, 'rings.bin');
}

/** Save every app's ring and seq. Returns the number of lines saved. */
export async function saveRings(dataDir: string, registry: Registry): Promise<number> {
  const parts: Buffer[] = [MAGIC];
  let lines = 0;
  for (const app of registry.apps()) {
    const id = Buffer.from(app.id, 'utf8');
    const head = Buffer.allocUnsafe(2 + id.length + 8 + 4);
    head.writeUInt16LE(id.length, 0);
    id.copy(head, 2);
    head.writeDoubleLE(app.seq, 2 + id.length);
    head.writeUInt32LE(app.ring.count, 10 + id.length);
    parts.push(head);
    for (let i = 0; i < app.ring.count; i++) {
      const rec = app.ring.at(i);
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32LE(rec.length, 0);
      parts.push(len, Buffer.from(rec));
      lines++;
    }
  }
  const path = ringsPath(dataDir);
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writev(parts);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  return lines;
}

/**
 * Restore rings saved by saveRings into the apps that still exist, then remove
 * the file (a crash later must not restore stale history twice). Returns lines restored.
 */
export async function loadRings(dataDir: string, registry: Registry): Promise<number> {
  const path = ringsPath(dataDir);
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch {
    return 0;
  }
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return 0;
  let p = MAGIC.length;
  let lines = 0;
  while (p + 2 <= buf.length) {
    const idLen = buf.readUInt16LE(p);
    p += 2;
    if (p + idLen + 12 > buf.length) break;
    const id = buf.toString('utf8', p, p + idLen);
    p += idLen;
    const seq = buf.readDoubleLE(p);
    const count = buf.readUInt32LE(p + 8);
    p += 12;
    const app = registry.get(id);
    for (let i = 0; i < count && p + 4 <= buf.length; i++) {
      const len = buf.readUInt32LE(p);
      p += 4;
      if (app) {
        app.ring.push(buf.subarray(p, p + len));
        lines++;
      }
      p += len;
    }
    if (app && seq > app.seq) {
      app.seq = seq;
      app.ring.lastSeq = seq;
    }
  }
  await unlink(path).catch(() => {});
  return lines;
}
