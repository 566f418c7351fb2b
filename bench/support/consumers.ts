// The consumers the rsyslog comparison runs alongside ingest: one HTTP drain and one live tail
// on each of a few apps of a spawned server. The drain receiver is an HTTP
// server in the runner's process (127.0.0.1, answers 204, counts the frames
// of each POST from its Logplex-Msg-Count); the tails are WebSocket sessions
// (POST /v3/sessions {"channel_id","tail":true} -> url). Both only count.
// The server needs LOGPLANE_DRAIN_ALLOW_PRIVATE=1 for a loopback drain.
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import WebSocket from 'ws';
import type { SpawnedServer } from './server.js';

export interface Consumers {
  /** Drains created (0 when the server has no drains API). */
  drains: number;
  tails: number;
  /** Lines received by the drain receiver so far. */
  drainLines(): number;
  /** Lines received by all tails so far. */
  tailLines(): number;
  /** Gap notices received by the tails (lines the server dropped for a slow tail). */
  tailDropped(): number;
  /** POSTs the drain receiver answered (how finely the drains batch). */
  drainPosts(): number;
  /** WebSocket messages the tails received (how finely the tails batch). */
  tailFrames(): number;
  /** Why something is missing (no drains API...). */
  notes: string[];
  close(): Promise<void>;
}

/** Counts the frames of an octet-counted body (the fallback when Logplex-Msg-Count is absent). */
function countFrames(body: Buffer): number {
  let n = 0;
  let i = 0;
  while (i < body.length) {
    let len = 0;
    while (i < body.length && body[i] !== 0x20) len = len * 10 + (body[i++]! - 0x30);
    i += 1 + len;
    n++;
  }
  return n;
}

async function api(server: SpawnedServer, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

export async function attachConsumers(server: SpawnedServer, appIds: readonly string[]): Promise<Consumers> {
  const notes: string[] = [];
  let drainLines = 0;
  let tailLines = 0;
  let tailDropped = 0;
  let drainPosts = 0;
  let tailFrames = 0;

  // --- drains
  const receiver: HttpServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    const header = req.headers['logplex-msg-count'];
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : countFrames(Buffer.concat(chunks));
      drainLines += n;
      drainPosts++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const receiverPort = (receiver.address() as { port: number }).port;
  let drains = 0;
  for (const app of appIds) {
    const r = await api(server, `/v3/channels/${encodeURIComponent(app)}/drains`, { url: `http://127.0.0.1:${receiverPort}/drain/${app}` });
    if (r.status === 404) {
      notes.push('no drains: POST /v3/channels/:app/drains answered 404 (the drains API is not in this build)');
      break;
    }
    if (r.status !== 201 && r.status !== 200) throw new Error(`creating a drain for ${app}: ${r.status} ${JSON.stringify(r.json)}`);
    drains++;
  }
  if (drains === 0) receiver.close();

  // --- tails
  const socks: WebSocket[] = [];
  const closeAll = async (): Promise<void> => {
    for (const ws of socks) ws.terminate();
    if (receiver.listening) {
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  };
  try {
    for (const app of appIds) {
      const r = await api(server, '/v3/sessions', { channel_id: app, tail: true });
      const url = (r.json as { url?: unknown } | null)?.url;
      if (r.status !== 201 || typeof url !== 'string') throw new Error(`creating a tail session for ${app}: ${r.status} ${JSON.stringify(r.json)}`);
      const ws = new WebSocket(url.replace(/^http/, 'ws'), { perMessageDeflate: false });
      ws.on('message', (data: Buffer) => {
        tailFrames++;
        const m = JSON.parse(data.toString('utf8')) as { type?: string; lines?: unknown[]; dropped?: number };
        if (m.type === 'lines' && m.lines) tailLines += m.lines.length;
        else if (m.type === 'gap') tailDropped += m.dropped ?? 0;
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      socks.push(ws);
    }
  } catch (err) {
    await closeAll();
    throw err;
  }

  return {
    drains,
    tails: socks.length,
    drainLines: () => drainLines,
    tailLines: () => tailLines,
    tailDropped: () => tailDropped,
    drainPosts: () => drainPosts,
    tailFrames: () => tailFrames,
    notes,
    close: closeAll,
  };
}
