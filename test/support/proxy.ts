// A TCP proxy on a free loopback port in front of a server, that a test can
// cut: every connection through it is destroyed and new ones are refused
// until restore() (a network cut between a client and logplane); or stall:
// nothing more is read from the server until unstall() (a client that stopped
// reading: the server's socket buffers fill).
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpProxy {
  readonly #server: Server;
  readonly #socks = new Set<Socket>();
  /** client -> upstream, for stall(). */
  readonly #pairs = new Map<Socket, Socket>();
  #cut = false;
  port = 0;

  private constructor(targetPort: number) {
    this.#server = createServer((client) => {
      if (this.#cut) {
        client.destroy();
        return;
      }
      const upstream = connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#socks.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.#socks.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
      this.#pairs.set(client, upstream);
      client.on('close', () => this.#pairs.delete(client));
    });
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const p = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve));
    p.port = (p.#server.address() as { port: number }).port;
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Destroy every connection and refuse new ones. */
  cut(): void {
    this.#cut = true;
    for (const s of this.#socks) s.destroy();
  }

  restore(): void {
    this.#cut = false;
  }

  /** Stop reading from the server on every open connection. */
  stall(): void {
    for (const [client, upstream] of this.#pairs) {
      upstream.unpipe(client);
      upstream.pause();
    }
  }

  unstall(): void {
    for (const [client, upstream] of this.#pairs) upstream.pipe(client);
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
