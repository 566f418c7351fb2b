// A loopback TCP proxy in front of a server (Redis), for tests that need a
// reply lost after the server acted on the request: dropNextReply() makes
// the proxy cut the client's connection when the server's next bytes
// arrive, without passing them on; delayReplies(ms) passes the server's bytes
// on that late, in order (a node that hears of other nodes' changes late).
// (proxy.ts pipes the streams, for cuts and stalls; this one forwards chunk
// by chunk so it can hold one back.)
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  url: string;
  /** Cut the connection that next receives bytes from the server, those bytes undelivered; resolves when it happened. */
  dropNextReply(): Promise<void>;
  /** From now on, pass the server's bytes on `ms` late (0: at once). */
  delayReplies(ms: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, scheme = 'redis'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let armed: (() => void) | null = null;
  let delayMs = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      if (armed) {
        const fire = armed;
        armed = null;
        done();
        fire();
        return;
      }
      // one delay for every chunk: timers of equal delay fire in order, so the bytes stay in order
      if (delayMs > 0) setTimeout(() => client.write(d), delayMs);
      else client.write(d);
    });
    client.on('error', done);
    upstream.on('error', done);
    client.on('close', done);
    upstream.on('close', done);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    dropNextReply: () => new Promise<void>((res) => (armed = res)),
    delayReplies: (ms) => {
      delayMs = ms;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
