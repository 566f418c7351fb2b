// A loopback TCP proxy in front of a server (Redis), for tests that need a
// reply lost after the server acted on the request: dropNextReply() makes
// the proxy cut the client's connection when the server's next bytes
// arrive, without passing them on; delayReplies(ms) passes the server's bytes
// on that late, in order (a node that hears of other nodes' changes late), on
// every connection or only on those whose client sent a given string from
// then on (the replies to a SUBSCRIBE and what follows it).
// (proxy.ts pipes the streams, for cuts and stalls; this one forwards chunk
// by chunk so it can hold one back.)
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  url: string;
  /** Cut the connection that next receives bytes from the server, those bytes undelivered; resolves when it happened. */
  dropNextReply(): Promise<void>;
  /** From now on, pass the server's bytes on `ms` late (0: at once); with `after`, only on a connection once its client sent that string. */
  delayReplies(ms: number, after?: string): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, scheme = 'redis'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let armed: (() => void) | null = null;
  let delayMs = 0;
  let after: string | null = null;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    let late = false;
    const delaying = (): boolean => delayMs > 0 && (after === null || late);
    sockets.add(client);
    sockets.add(upstream);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (d) => {
      if (after !== null && d.includes(after)) late = true;
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (armed) {
        const fire = armed;
        armed = null;
        done();
        fire();
        return;
      }
      // one delay for every chunk: timers of equal delay fire in order, so the bytes stay in order
      if (delaying()) setTimeout(() => client.write(d), delayMs);
      else client.write(d);
    });
    // the server closing (after a QUIT) comes after its last bytes, late as they are
    const upstreamGone = (): void => {
      if (delaying()) setTimeout(done, delayMs);
      else done();
    };
    client.on('error', done);
    upstream.on('error', upstreamGone);
    client.on('close', done);
    upstream.on('close', upstreamGone);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    dropNextReply: () => new Promise<void>((res) => (armed = res)),
    delayReplies: (ms, marker) => {
      delayMs = ms;
      after = marker ?? null;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
