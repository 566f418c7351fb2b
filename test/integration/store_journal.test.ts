// The embedded store's journal (src/store/journal.ts, file.ts): every change
// survives a restart, before and after a compaction; a record cut short by a
// crash is dropped, a damaged one with records after it stops the start; a
// failed append changes nothing; and the bytes written grow with the apps,
// not with apps x changes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { FileStore } from '../../src/store/file.js';
import type { AppRecord, KeyRecord } from '../../src/store/store.js';
import { FaultyFileStore, recordingLog } from '../support/faulty-store.js';
import { tempDir } from '../support/server.js';

function record(id: string): AppRecord {
  const now = new Date().toISOString();
  return { id, uuid: randomUUID(), createdAt: now, updatedAt: now, tokens: [{ token: `t.${randomUUID()}`, name: 'app', createdAt: now }], drains: [] };
}

const ids = (apps: AppRecord[]): string[] => apps.map((a) => a.id).sort();

/** Bytes this process has written through write(2) and friends so far (Linux). */
function bytesWritten(): number {
  const m = /^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  return Number(m![1]);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir('logplane-journal-');
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the embedded store journal', () => {
  test('every change survives a restart, from the journal and after compactions', () =>
    withDir(async (dir) => {
      const s = new FileStore(dir, { minCompactBytes: 4096 });
      await s.load();
      await s.setApiKey('journal-key-0123456789');
      // 60 records of ~250 B: several compactions at 4 KiB, then a journal tail
      for (let i = 0; i < 60; i++) await s.putApp(record(`a${i}`));
      await s.update('a1', (cur) => ({ next: { ...cur!, tokens: [...cur!.tokens, { token: 't.x', name: 'web', createdAt: 'c' }] }, result: null }));
      await s.deleteApp('a2');
      const now = new Date().toISOString();
      const key: KeyRecord = { id: 'k_0123456789abcdef', hash: 'ab'.repeat(32), name: 'ci', role: 'viewer', apps: ['a1'], createdAt: now, updatedAt: now };
      await s.putKey(key);
      await s.putKey({ ...key, id: 'k_fedcba9876543210' });
      await s.deleteKey('k_fedcba9876543210');
      assert.ok(statSync(join(dir, 'config.journal')).size > 0, 'the last changes are in the journal');
      const want = await s.load();
      // no close(): a crash, not a clean stop
      const r = await new FileStore(dir).load();
      assert.equal(r.apiKey, 'journal-key-0123456789');
      assert.deepEqual(ids(r.apps), ids(want.apps));
      assert.ok(!r.apps.some((a) => a.id === 'a2'), 'the delete held');
      assert.deepEqual(r.apps.find((a) => a.id === 'a1')!.tokens.map((t) => t.name), ['app', 'web']);
      assert.deepEqual(r.keys, [key]);
      // a clean stop folds the journal into config.json
      await s.close();
      assert.equal(statSync(join(dir, 'config.journal')).size, 0);
      assert.deepEqual(ids((JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { apps: AppRecord[] }).apps), ids(want.apps));
    }));

  test('a data dir of the earlier layout (config.json alone) starts as it is and keeps its apps after changes and a restart', () =>
    withDir(async (dir) => {
      const old = record('old');
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ version: 1, apiKey: 'old-key-0123456789', apps: [old] }));
      const s = new FileStore(dir);
      const snap = await s.load();
      assert.equal(snap.apiKey, 'old-key-0123456789');
      assert.deepEqual(ids(snap.apps), ['old']);
      await s.putApp(record('new'));
      await s.deleteApp('old');
      await s.putApp({ ...old, id: 'old2' });
      const r = await new FileStore(dir).load();
      assert.equal(r.apiKey, 'old-key-0123456789');
      assert.deepEqual(ids(r.apps), ['new', 'old2']);
    }));

  test('a journal record cut short by a crash is dropped and cut off at start; the records before it and after the restart are kept', () =>
    withDir(async (dir) => {
      const s = new FileStore(dir);
      await s.load();
      await s.putApp(record('kept'));
      const journal = join(dir, 'config.journal');
      const good = statSync(journal).size;
      // what a crash mid-append leaves: part of a record, no newline
      appendFileSync(journal, readFileSync(journal).subarray(0, 40));
      const rec = recordingLog();
      const r = new FileStore(dir, { log: rec.log });
      assert.deepEqual(ids((await r.load()).apps), ['kept']);
      assert.equal(statSync(journal).size, good, 'the torn record is cut off');
      assert.equal(rec.records.filter((l) => l.at === 'store.journal_torn').length, 1);
      await r.putApp(record('after'));
      // the next start reads both (the torn bytes did not end up between two records)
      assert.deepEqual(ids((await new FileStore(dir).load()).apps), ['after', 'kept']);
      // a whole last line that fails its checksum (the length landed, the data did not) is torn as well
      const text = readFileSync(journal, 'utf8');
      writeFileSync(journal, `${text}${'0'.repeat(16)} {"apps":[]}\n`);
      assert.deepEqual(ids((await new FileStore(dir).load()).apps), ['after', 'kept']);
      assert.equal(readFileSync(journal, 'utf8'), text);
    }));

  test('a damaged journal record with records after it stops the start, naming the file and the record', () =>
    withDir(async (dir) => {
      const s = new FileStore(dir);
      await s.load();
      for (const id of ['one', 'two', 'three']) await s.putApp(record(id));
      const journal = join(dir, 'config.journal');
      const lines = readFileSync(journal, 'utf8').split('\n');
      lines[1] = lines[1]!.replace('"two"', '"tw0"');
      writeFileSync(journal, lines.join('\n'));
      await assert.rejects(new FileStore(dir).load(), (err: Error) => {
        assert.match(err.message, new RegExp(`^${journal}: record 2 \\(at byte \\d+\\) is damaged \\(checksum mismatch\\) and records follow it`));
        assert.match(err.message, /Move the file away/);
        return true;
      });
      // a record of the wrong shape names the field
      const bad = readFileSync(journal, 'utf8').split('\n').slice(0, 1);
      writeFileSync(journal, bad.join('\n') + '\n');
      const ok = new FileStore(dir);
      await ok.load();
      await ok.putApp({ ...record('shape'), tokens: 'none' as unknown as AppRecord['tokens'] });
      await ok.putApp(record('later'));
      await assert.rejects(new FileStore(dir).load(), { message: `${journal}: record 2: apps[0].tokens must be an array` });
    }));

  test('a journal append that fails (a full disk) changes nothing, in memory or after a restart', () =>
    withDir(async (dir) => {
      const s = new FaultyFileStore(dir);
      await s.load();
      await s.putApp(record('before'));
      const size = statSync(join(dir, 'config.journal')).size;
      s.failWith = 'ENOSPC';
      await assert.rejects(s.putApp(record('ghost')), { status: 503, message: /no space left on the device/ });
      await assert.rejects(s.deleteApp('before'), { status: 503 });
      assert.equal(await s.getApp('ghost'), null, 'not in memory');
      assert.notEqual(await s.getApp('before'), null, 'the failed delete deleted nothing');
      assert.equal(statSync(join(dir, 'config.journal')).size, size, 'the half-written record is cut off');
      s.failWith = null;
      await s.putApp(record('after'));
      assert.deepEqual(ids((await new FileStore(dir).load()).apps), ['after', 'before']);
    }));

  test('creating 100,000 apps writes bytes in proportion to the apps, not to apps x creates', () =>
    withDir(async (dir) => {
      const n = 100_000;
      const s = new FileStore(dir);
      await s.load();
      const start = bytesWritten();
      let stateBytes = 0;
      let next = 0;
      // 64 creates in flight (as concurrent API requests); checked every 10,000 apps
      for (let mark = 10_000; mark <= n; mark += 10_000) {
        await Promise.all(Array.from({ length: 64 }, async () => {
          for (let i = next++; i < mark; i = next++) {
            const rec = record(`app-${String(i).padStart(6, '0')}`);
            stateBytes += JSON.stringify(rec).length + 8;
            await s.putApp(rec);
          }
        }));
        next = mark;
        const written = bytesWritten() - start;
        // journal (~1x) + snapshots at doubling sizes (~2x) + slack for the compaction floor
        assert.ok(written < 4 * stateBytes + 4 * (1 << 20), `${mark} apps (${stateBytes} B of records): ${written} B written`);
      }
      assert.equal((await new FileStore(dir).load()).apps.length, n);
      await s.close();
    }));
});
