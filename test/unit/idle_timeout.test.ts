// The syslog idle timeout closes a connection that sends nothing, never one
// that the server itself stopped reading (back-pressure from the ingest
// workers): closing that one would throw away what its client already sent,
// which sits unread in the kernel, and no counter would say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import type { Context } from '../../src/context.js';
import { closeWhenIdle } from '../../src/ingest/limits.js';
import { until } from '../support/wait.js';

const IDLE_MS = 150;

function fakeCtx(): { ctx: Context; timedOut: { value: number } } {
  const timedOut = { value: 0 };
  const ctx = { config: { syslogIdleMs: IDLE_MS }, metrics: { connectionsTimedOut: { labels: () => timedOut } } } as unknown as Context;
  return { ctx, timedOut };
}

test('a connection the server paused is not closed as idle; once read and then silent, it is', async () => {
  const { ctx, timedOut } = fakeCtx();
  let conn: Socket | null = null;
  let received = 0;
  const server = createServer((sock) => {
    conn = sock;
    closeWhenIdle(ctx, sock, 'tcp');
    sock.pause();
    sock.on('data', (d: Buffer) => (received += d.length));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  client.on('error', () => {});
  try {
    await until('accepted', () => conn !== null);
    const payload = Buffer.alloc(64 * 1024, 'x');
    client.write(payload);
    // paused by the server for several idle periods: still open, nothing lost
    await new Promise((r) => setTimeout(r, IDLE_MS * 4));
    assert.equal(conn!.destroyed, false, 'a paused connection is not idle');
    assert.equal(timedOut.value, 0);
    conn!.resume();
    await until('all read', () => received === payload.length);
    // now the client sends nothing: closed after the idle time, and counted
    await until('closed as idle', () => conn!.destroyed, IDLE_MS * 20);
    assert.equal(timedOut.value, 1);
  } finally {
    client.destroy();
    server.close();
  }
});

test('a silent connection paused past its idle time is still closed as idle once resumed', async () => {
  const { ctx, timedOut } = fakeCtx();
  let conn: Socket | null = null;
  const server = createServer((sock) => {
    conn = sock;
    closeWhenIdle(ctx, sock, 'tcp');
    sock.pause();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  client.on('error', () => {});
  try {
    await until('accepted', () => conn !== null);
    await new Promise((r) => setTimeout(r, IDLE_MS * 3));
    assert.equal(conn!.destroyed, false);
    conn!.resume();
    await until('closed as idle', () => conn!.destroyed, IDLE_MS * 20);
    assert.equal(timedOut.value, 1);
  } finally {
    client.destroy();
    server.close();
  }
});
