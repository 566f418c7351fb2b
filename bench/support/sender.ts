// Syslog sender, run as a worker thread (never in the server's process):
// connects, waits for 'go', then writes one pre-generated Buffer `repeats`
// times as fast as the socket takes it, and reports how busy it was.
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

export interface SenderData {
  port: number;
  bytes: Uint8Array;
  repeats: number;
}

export type SenderMessage =
  | { type: 'ready' }
  | { type: 'done'; bytes: number; writeMs: number; busy: number }
  | { type: 'error'; message: string };

function main(): void {
  const port = parentPort!;
  const data = workerData as SenderData;
  const buf = Buffer.from(data.bytes.buffer, data.bytes.byteOffset, data.bytes.byteLength);
  const sock = connect({ port: data.port, host: '127.0.0.1', noDelay: true });
  sock.on('error', (err) => port.postMessage({ type: 'error', message: err.message } satisfies SenderMessage));
  sock.once('connect', () => port.postMessage({ type: 'ready' } satisfies SenderMessage));
  port.once('message', () => {
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    let left = data.repeats;
    const pump = (): void => {
      while (left > 0) {
        left--;
        if (!sock.write(buf)) {
          sock.once('drain', pump);
          return;
        }
      }
      sock.end(() => {
        const busy = performance.eventLoopUtilization(elu0).utilization;
        port.postMessage({ type: 'done', bytes: buf.length * data.repeats, writeMs: performance.now() - t0, busy } satisfies SenderMessage);
      });
    };
    pump();
  });
  // The server ends its side after ours; close quietly.
  sock.on('end', () => sock.destroy());
}

main();
