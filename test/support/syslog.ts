// Send octet-counted syslog frames over TCP to a test server (token in APP-NAME).
import { spawn } from 'node:child_process';
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

/** A child process writing octet-counted lines of one token to a port as fast as TCP takes them for ms; prints the lines written. */
export function flood(port: number, token: string, ms: number): Promise<number> {
  const script = `
    const net = require('net');
    const m = '<190>1 2026-05-01T12:00:00Z host ${token} web.1 - flood line ' + 'f'.repeat(60);
    const frame = Buffer.byteLength(m) + ' ' + m;
    const chunk = Buffer.from(frame.repeat(1000));
    let lines = 0;
    const s = net.connect(${port}, '127.0.0.1', () => {
      const end = Date.now() + ${ms};
      const pump = () => {
        while (Date.now() < end) {
          lines += 1000;
          if (!s.write(chunk)) return s.once('drain', pump);
        }
        s.end(() => { process.stdout.write(String(lines)); });
      };
      pump();
    });
    s.on('error', (e) => { console.error(e.message); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`flooder exited ${code}`)))));
}
