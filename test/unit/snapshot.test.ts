// The ring snapshot (rings.bin) is a cache: whatever happened to the file, a
// start restores what is intact, skips what is not with one warning naming the
// file and what was skipped, and never fails because of it.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { Registry } from '../../src/apps.js';
import { loadRings, ringsPath, saveRings } from '../../src/buffer/snapshot.js';
import { lineFrom, seqOf } from '../../src/line.js';
import { route } from '../../src/router.js';
import { MemoryStore } from '../../src/store/memory.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/server.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Apps one (100 lines), two (200), three (50), in that order in the snapshot. */
const APPS: Array<[string, number]> = [
  ['one', 100],
  ['two', 200],
  ['three', 50],
];

async function registry(): Promise<Registry> {
  const reg = new Registry(new MemoryStore(), { historyLines: 1500 });
  await reg.init();
  for (const [id] of APPS) await reg.putApp(id, ['app']);
  return reg;
}

function msgs(reg: Registry, id: string): string[] {
  const ring = reg.get(id)!.ring;
  const out: string[] = [];
  for (let i = 0; i < ring.count; i++) {
    const rec = ring.at(i);
    out.push(rec.toString('utf8', 20 + rec[17]! + rec[18]! + rec[19]!));
  }
  return out;
}

/** A data dir with the snapshot of APPS saved in it; its bytes. */
async function saved(): Promise<{ dir: string; path: string; bytes: Buffer; reg: Registry }> {
  const dir = tempDir('logplane-snapshot-');
  dirs.push(dir);
  const reg = await registry();
  for (const [id, n] of APPS) {
    const app = reg.get(id)!;
    for (let i = 0; i < n; i++) route(app, lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: `${id} line ${i}` }));
  }
  assert.equal(await saveRings(dir, reg), 350);
  const path = ringsPath(dir);
  return { dir, path, bytes: readFileSync(path), reg };
}

/** Start-up's restore into a fresh registry, with the log it wrote. */
async function load(dir: string): Promise<{ reg: Registry; lines: number; warnings: Array<Record<string, unknown>>; all: Array<Record<string, unknown>> }> {
  const reg = await registry();
  const log = captureLog('debug');
  const lines = await loadRings(dir, reg, log.log);
  const all = log.entries();
  return { reg, lines, warnings: all.filter((e) => (e['level'] as number) >= 40), all };
}

/** Where app `id`'s lines are in the file: between the first and last of its messages. */
function spanOf(bytes: Buffer, id: string): [number, number] {
  const first = bytes.indexOf(`${id} line 0`);
  const lastMsg = `${id} line ${APPS.find(([a]) => a === id)![1] - 1}`;
  const last = bytes.indexOf(lastMsg) + lastMsg.length;
  assert.ok(first > 0 && last > first);
  return [first, last];
}

function expectIntact(reg: Registry, id: string): void {
  const n = APPS.find(([a]) => a === id)![1];
  assert.deepEqual(msgs(reg, id), Array.from({ length: n }, (_, i) => `${id} line ${i}`), `${id} restored whole`);
  assert.equal(reg.get(id)!.seq, n, `${id}: seq restored`);
}

/** The one warning, naming the file, with these fields. */
function expectOneWarning(warnings: Array<Record<string, unknown>>, path: string, fields: Record<string, unknown>): void {
  assert.equal(warnings.length, 1, `one warning: ${JSON.stringify(warnings)}`);
  const w = warnings[0]!;
  assert.equal(w['at'], 'rings.snapshot_damaged');
  assert.equal(w['file'], path);
  assert.ok(String(w['msg']).includes(path), 'the message names the file');
  for (const [k, v] of Object.entries(fields)) assert.equal(w[k], v, `${k}: ${JSON.stringify(w)}`);
}

describe('ring snapshot', () => {
  test('an intact snapshot restores every app with its seq, without a warning, and is removed', async () => {
    const { dir, path } = await saved();
    const { reg, lines, warnings } = await load(dir);
    assert.equal(lines, 350);
    for (const [id] of APPS) expectIntact(reg, id);
    assert.deepEqual(warnings, []);
    assert.equal(existsSync(path), false);
  });

  test('saving leaves no temp file and replaces the previous snapshot whole', async () => {
    const { dir, reg } = await saved();
    route(reg.get('one')!, lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: 'one more' }));
    assert.equal(await saveRings(dir, reg), 351);
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('rings')), ['rings.bin']);
    const back = await load(dir);
    assert.equal(back.lines, 351);
    assert.deepEqual(back.warnings, []);
  });

  test('two flipped bytes in the middle of an app\'s lines: that app is skipped, the others restored, one warning', async () => {
    const { dir, path, bytes } = await saved();
    const [a, b] = spanOf(bytes, 'two');
    const mid = (a + b) >> 1;
    const bad = Buffer.from(bytes);
    bad[mid] = bad[mid]! ^ 0xff;
    bad[mid + 1] = bad[mid + 1]! ^ 0x5a;
    writeFileSync(path, bad);
    const { reg, lines, warnings } = await load(dir);
    expectIntact(reg, 'one');
    expectIntact(reg, 'three');
    assert.deepEqual(msgs(reg, 'two'), [], 'the damaged app starts empty');
    assert.equal(reg.get('two')!.seq, 200, 'but keeps its seq: new lines do not reuse seqs');
    route(reg.get('two')!, lineFrom({ pri: 190, ts: '2026-05-01T12:00:00Z', source: 'app', dyno: 'web.1', msg: 'after' }));
    assert.equal(seqOf(reg.get('two')!.ring.at(0)), 201);
    assert.equal(lines, 150);
    expectOneWarning(warnings, path, { skippedApps: 1, skippedLines: 200, restoredApps: 2, restoredLines: 150, exact: true });
  });

  test('flipped bytes in the lengths before an app\'s lines: the reader finds the next app and counts exactly', async () => {
    const { dir, path, bytes } = await saved();
    const [a] = spanOf(bytes, 'two');
    const bad = Buffer.from(bytes);
    // the block header of "two" ends just before its first record's length and seq
    const head = bytes.lastIndexOf(Buffer.from('LPRB'), a);
    assert.ok(head > 0, 'format 2 block header');
    bad[head + 5] = bad[head + 5]! ^ 0x01; // bodyLen
    bad[head + 6] = bad[head + 6]! ^ 0x80;
    writeFileSync(path, bad);
    const { reg, warnings } = await load(dir);
    expectIntact(reg, 'one');
    expectIntact(reg, 'three');
    assert.deepEqual(msgs(reg, 'two'), []);
    expectOneWarning(warnings, path, { skippedApps: 1, skippedLines: 200, restoredApps: 2, restoredLines: 150, exact: true });
  });

  test('a truncated file: the apps before the cut are restored, the rest counted as skipped, one warning', async () => {
    const { dir, path, bytes } = await saved();
    const [a, b] = spanOf(bytes, 'two');
    writeFileSync(path, bytes.subarray(0, (a + b) >> 1));
    const { reg, lines, warnings } = await load(dir);
    expectIntact(reg, 'one');
    assert.deepEqual(msgs(reg, 'two'), []);
    assert.deepEqual(msgs(reg, 'three'), []);
    assert.equal(reg.get('two')!.seq, 200, 'the cut app keeps its seq');
    assert.equal(lines, 100);
    expectOneWarning(warnings, path, { skippedApps: 2, skippedLines: 250, restoredApps: 1, restoredLines: 100, exact: true });
    assert.match(String(warnings[0]!['problem']), /truncated/);
  });

  test('pure garbage: nothing restored, one warning, no error', async () => {
    const { dir, path } = await saved();
    const garbage = Buffer.alloc(4096);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
    writeFileSync(path, garbage);
    const { reg, lines, warnings } = await load(dir);
    assert.equal(lines, 0);
    for (const [id] of APPS) assert.deepEqual(msgs(reg, id), []);
    expectOneWarning(warnings, path, { restoredApps: 0, restoredLines: 0, unreadableBytes: 4096, exact: false });
    assert.equal(existsSync(path), false);
  });

  test('an empty file: one warning, no error', async () => {
    const { dir, path } = await saved();
    writeFileSync(path, Buffer.alloc(0));
    const { lines, warnings } = await load(dir);
    assert.equal(lines, 0);
    expectOneWarning(warnings, path, { restoredApps: 0, restoredLines: 0, problem: 'empty file' });
  });

  test('a snapshot of the previous format (LPRING1) is restored; a truncated one up to the cut, with one warning', async () => {
    const { dir, path, reg } = await saved();
    const v1 = formatOne(reg);
    writeFileSync(path, v1);
    const whole = await load(dir);
    for (const [id] of APPS) expectIntact(whole.reg, id);
    assert.deepEqual(whole.warnings, []);

    const [a, b] = spanOf(v1, 'two');
    writeFileSync(path, v1.subarray(0, (a + b) >> 1));
    const cut = await load(dir);
    expectIntact(cut.reg, 'one');
    assert.deepEqual(msgs(cut.reg, 'two'), []);
    expectOneWarning(cut.warnings, path, { restoredApps: 1, restoredLines: 100, skippedApps: 1, skippedLines: 200, exact: false });
  });

  test('a previous-format snapshot with two flipped bytes in a line length: that app is skipped, the others restored, one warning', async () => {
    const { dir, path, reg } = await saved();
    const v1 = formatOne(reg);
    // the u32 length just before "two"'s 11th record: its two high bytes flipped
    const rec = v1.indexOf('two line 10');
    const lenAt = v1.lastIndexOf(Buffer.from('2026-05-01T12:00:00Z'), rec) - 20 - 4;
    assert.equal(v1.readUInt32LE(lenAt), rec + 'two line 10'.length - lenAt - 4);
    v1[lenAt + 2] = 0x01;
    v1[lenAt + 3] = 0x02;
    writeFileSync(path, v1);
    const { reg: back, warnings } = await load(dir);
    expectIntact(back, 'one');
    assert.deepEqual(msgs(back, 'two'), [], 'the app with the damaged length is skipped whole');
    expectOneWarning(warnings, path, { restoredApps: 1, restoredLines: 100, skippedApps: 1, skippedLines: 200, exact: false });
    assert.match(String(warnings[0]!['problem']), /format 1/);
  });
});

/** The snapshot as the previous version wrote it: "LPRING1\n", then per app u16 idLen, id, f64 seq, u32 count, count x (u32 len, record). */
function formatOne(reg: Registry): Buffer {
  const parts: Buffer[] = [Buffer.from('LPRING1\n', 'latin1')];
  for (const app of reg.apps()) {
    const id = Buffer.from(app.id, 'utf8');
    const head = Buffer.alloc(2 + id.length + 12);
    head.writeUInt16LE(id.length, 0);
    id.copy(head, 2);
    head.writeDoubleLE(app.seq, 2 + id.length);
    head.writeUInt32LE(app.ring.count, 10 + id.length);
    parts.push(head);
    for (let i = 0; i < app.ring.count; i++) {
      const rec = Buffer.from(app.ring.at(i));
      const len = Buffer.alloc(4);
      len.writeUInt32LE(rec.length, 0);
      parts.push(len, rec);
    }
  }
  return Buffer.concat(parts);
}
