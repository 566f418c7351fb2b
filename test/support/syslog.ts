// Send octet-counted syslog frames over TCP to a test server (token in APP-NAME).
import { connect, type Socket } from 'node:net';

export function sendSyslog(port: number, msgs: string[]): Promise<void> {
  const payload = Buffer.concat(msgs.map((m) => Buffer.from(`${Buffer.byteLength(m)} ${m}`)));
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.end(payload));
    sock.once('error', reject);
    sock.once('close', () => resolve());
    sock.setTimeout(5000, () => sock.destroy(new Error('syslog socket timeout')));
  });
}

/** One TCP connection that stays open: frames written on it are ingested in the order written. */
export class SyslogStream {
  readonly #sock: Socket;
  readonly ready: Promise<void>;

  constructor(port: number) {
    this.#sock = connect(port, '127.0.0.1');
    this.#sock.setNoDelay(true);
    this.#sock.on('error', () => {});
    this.ready = new Promise((resolve, reject) => {
      this.#sock.once('connect', () => resolve());
      this.#sock.once('error', reject);
    });
  }

  write(msgs: readonly string[]): void {
    this.#sock.write(Buffer.concat(msgs.map((m) => Buffer.from(`${Buffer.byteLength(m)} ${m}`))));
  }

  /** Half-close and wait (bounded) for the server to close its side: everything written was read. */
  end(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#sock.destroy();
        resolve();
      }, 5000);
      this.#sock.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.#sock.end();
    });
  }
}
