// The runner's side of the syslog senders (support/sender.ts): one worker
// thread per connection, each connected before 'go' so connection set-up is
// not timed, each writing the same pre-generated Buffer `repeats` times.
import { Worker } from 'node:worker_threads';
import type { SenderData, SenderMessage } from './sender.js';

export type SenderDone = Extract<SenderMessage, { type: 'done' }>;

export interface SyslogSenders {
  /** Start every sender at once. */
  go(): void;
  /** Every sender's report, once all have written everything and closed. */
  readonly done: Promise<SenderDone[]>;
  terminate(): Promise<void>;
}

/** Starts `connections` senders to 127.0.0.1:port and resolves once all are connected. */
export async function startSyslogSenders(port: number, bytes: Uint8Array, repeats: number, connections: number): Promise<SyslogSenders> {
  const senderUrl = new URL('./sender.js', import.meta.url);
  const workers: Worker[] = [];
  const done: Promise<SenderDone>[] = [];
  const ready: Promise<void>[] = [];
  for (let c = 0; c < connections; c++) {
    const w = new Worker(senderUrl, { workerData: { port, bytes, repeats } satisfies SenderData });
    workers.push(w);
    ready.push(new Promise((resolve, reject) => {
      w.on('message', (m: SenderMessage) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'error') reject(new Error(`sender: ${m.message}`));
      });
      w.once('error', reject);
    }));
    done.push(new Promise((resolve) => w.on('message', (m: SenderMessage) => {
      if (m.type === 'done') resolve(m);
    })));
  }
  const terminate = async (): Promise<void> => {
    await Promise.all(workers.map((w) => w.terminate()));
  };
  try {
    await Promise.all(ready);
  } catch (err) {
    await terminate();
    throw err;
  }
  return {
    go: () => {
      for (const w of workers) w.postMessage('go');
    },
    done: Promise.all(done),
    terminate,
  };
}
