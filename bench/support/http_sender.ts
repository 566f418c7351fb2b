// HTTP ingest sender, run as a worker thread: POST /logs with pre-built
// octet-counted bodies over `connections` kept-alive connections, each with
// one request in flight at a time. A warm-up request per connection before
// 'ready' opens the connections (its lines are ingested before the timed part).
// Request i carries body i % bodies.length and authorization i % auths.length.
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

export interface HttpSenderData {
  port: number;
  bodies: Uint8Array[];
  /** Lines per body (the Logplex-Msg-Count header). */
  linesPerBody: number;
  /** Full Authorization header values. */
  auths: string[];
  requests: number;
  connections: number;
}

export type HttpSenderMessage =
  | { type: 'ready'; warmupLines: number }
  | { type: 'done'; requests: number; ms: number; busy: number; statuses: Record<string, number> }
  | { type: 'error'; message: string };

function main(): void {
  const port = parentPort!;
  const data = workerData as HttpSenderData;
  const bodies = data.bodies.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  const agent = new Agent({ keepAlive: true, maxSockets: data.connections, maxFreeSockets: data.connections });
  const statuses: Record<string, number> = {};
  const fail = (err: Error): void => port.postMessage({ type: 'error', message: err.message } satisfies HttpSenderMessage);

  const post = (i: number, cb: (status: number) => void): void => {
    const body = bodies[i % bodies.length]!;
    const req = request({
      agent,
      host: '127.0.0.1',
      port: data.port,
      method: 'POST',
      path: '/logs',
      headers: {
        authorization: data.auths[i % data.auths.length]!,
        'content-type': 'application/logplex-1',
        'logplex-msg-count': String(data.linesPerBody),
        'content-length': body.length,
      },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => cb(res.statusCode ?? 0));
    });
    req.on('error', fail);
    req.end(body);
  };

  // Warm-up: one request per connection, all at once, so every connection is open.
  let warm = 0;
  for (let c = 0; c < data.connections; c++) {
    post(c, (status) => {
      if (status !== 204) fail(new Error(`warm-up request answered ${status}`));
      if (++warm === data.connections) port.postMessage({ type: 'ready', warmupLines: data.connections * data.linesPerBody } satisfies HttpSenderMessage);
    });
  }

  port.once('message', () => {
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    let next = 0;
    let finished = 0;
    const onDone = (status: number): void => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      finished++;
      if (next < data.requests) post(next++, onDone);
      else if (finished === data.requests) {
        const ms = performance.now() - t0;
        const busy = performance.eventLoopUtilization(elu0).utilization;
        agent.destroy();
        port.postMessage({ type: 'done', requests: finished, ms, busy, statuses } satisfies HttpSenderMessage);
      }
    };
    for (let c = 0; c < data.connections && next < data.requests; c++) post(next++, onDone);
  });
}

main();
