// Connection limits (SPEC 17), shared by every listener: syslog TCP, TLS and
// the HTTP server (API, POST /logs, sessions, WebSocket). Each listener has
// its own cap and a cap per client address; all listeners together stay
// under the node's connection budget, which start-up derives from the
// process's file-descriptor limit (readFdLimit below) with room kept for files,
// Redis, drains and, for the HTTP listener, the API and health checks: the
// syslog listeners can never take the last `httpReserve` of the budget.
// A connection over a limit is destroyed as soon as it is accepted, and
// counted; nothing else notices.
import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Context } from '../context.js';
import type { Metrics, Child } from '../obs/metrics.js';

export type ListenerName = 'tcp' | 'tls' | 'http';

/** Why a connection was refused: the `reason` label of logplane_connections_refused_total. */
export const RefuseReason = {
  LISTENER: 'listener_limit',
  ADDRESS: 'address_limit',
  BUDGET: 'node_budget',
} as const;
export type RefuseReason = (typeof RefuseReason)[keyof typeof RefuseReason];

export interface ConnectionLimitsOptions {
  /** Open connections per listener. */
  maxPerListener: number;
  /** Open connections per client address, per listener. */
  maxPerAddress: number;
  /** Open connections of all listeners together (from the fd limit). */
  nodeBudget: number;
  /** The part of nodeBudget only the HTTP listener may use. */
  httpReserve: number;
}

/** The node-wide count and budget every listener draws from. */
export class ConnectionLimits {
  readonly options: Readonly<ConnectionLimitsOptions>;
  readonly #metrics: Metrics;
  /** Open connections of all listeners. */
  open = 0;

  constructor(options: ConnectionLimitsOptions, metrics: Metrics) {
    this.options = Object.freeze({ ...options });
    this.#metrics = metrics;
  }

  /** The accounting of one listener; call its admit() for every accepted socket. */
  listener(name: ListenerName): ListenerLimits {
    return new ListenerLimits(this, name, this.#metrics);
  }
}

export class ListenerLimits {
  readonly name: ListenerName;
  readonly #node: ConnectionLimits;
  readonly #byAddress = new Map<string, number>();
  readonly #max: number;
  readonly #maxPerAddress: number;
  /** What the node budget leaves this listener: all of it for HTTP, all but the HTTP reserve for the others. */
  readonly #budget: number;
  readonly #open: Child;
  readonly #refused: Record<RefuseReason, Child>;
  #count = 0;

  constructor(node: ConnectionLimits, name: ListenerName, metrics: Metrics) {
    this.name = name;
    this.#node = node;
    const o = node.options;
    this.#max = o.maxPerListener;
    this.#maxPerAddress = o.maxPerAddress;
    this.#budget = name === 'http' ? o.nodeBudget : Math.max(0, o.nodeBudget - o.httpReserve);
    this.#open = metrics.connectionsOpen.labels(name);
    this.#refused = {
      listener_limit: metrics.connectionsRefused.labels(name, RefuseReason.LISTENER),
      address_limit: metrics.connectionsRefused.labels(name, RefuseReason.ADDRESS),
      node_budget: metrics.connectionsRefused.labels(name, RefuseReason.BUDGET),
    };
  }

  /** Open connections of this listener. */
  get open(): number {
    return this.#count;
  }

  /**
   * Count a newly accepted socket, or destroy it when it is over a limit
   * (returns false). The count is released when the socket closes.
   */
  admit(sock: Socket): boolean {
    const reason = this.#over(sock.remoteAddress ?? '');
    if (reason !== null) {
      this.#refused[reason].value++;
      sock.on('error', () => {});
      sock.destroy();
      return false;
    }
    const addr = sock.remoteAddress ?? '';
    this.#byAddress.set(addr, (this.#byAddress.get(addr) ?? 0) + 1);
    this.#count++;
    this.#node.open++;
    this.#open.value++;
    sock.once('close', () => {
      const n = (this.#byAddress.get(addr) ?? 1) - 1;
      if (n === 0) this.#byAddress.delete(addr);
      else this.#byAddress.set(addr, n);
      this.#count--;
      this.#node.open--;
      this.#open.value--;
    });
    return true;
  }

  #over(addr: string): RefuseReason | null {
    if (this.#count >= this.#max) return RefuseReason.LISTENER;
    if (this.#node.open >= this.#budget) return RefuseReason.BUDGET;
    if ((this.#byAddress.get(addr) ?? 0) >= this.#maxPerAddress) return RefuseReason.ADDRESS;
    return null;
  }
}

/** The process's open-file limit (soft, hard) from /proc/self/limits; null where there is none (not Linux). */
export function readFdLimit(text?: string): { soft: number; hard: number } | null {
  let t = text;
  if (t === undefined) {
    try {
      t = readFileSync('/proc/self/limits', 'latin1');
    } catch {
      return null;
    }
  }
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(t);
  if (!m) return null;
  const num = (s: string): number => (s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s));
  const soft = num(m[1]!);
  const hard = num(m[2]!);
  return Number.isFinite(soft) && Number.isFinite(hard) ? { soft, hard } : null;
}

/**
 * The node's connection budget for a soft fd limit: a tenth of the
 * descriptors (at least 64) stays for files, Redis, drains and the ingest
 * workers; of the rest, the HTTP reserve (a tenth, 32 to 256) is for the API
 * and health checks only. Node.js raises its soft limit to the hard limit at
 * start, so `soft` is already as high as this process may go.
 */
export function connectionBudget(fdSoft: number | null): { nodeBudget: number; httpReserve: number } {
  if (fdSoft === null || fdSoft >= Number.MAX_SAFE_INTEGER) return { nodeBudget: Number.MAX_SAFE_INTEGER, httpReserve: 256 };
  const nodeBudget = Math.max(0, fdSoft - Math.max(64, Math.floor(fdSoft / 10)));
  const httpReserve = Math.min(256, Math.max(32, Math.floor(nodeBudget / 10)));
  return { nodeBudget, httpReserve };
}

/**
 * The node's limits from config and the fd limit, with the figures in the
 * metrics and one log line (operators see why a limit is lower than asked).
 */
export function startConnectionLimits(ctx: Context): ConnectionLimits {
  const { config, metrics, log } = ctx;
  const fd = readFdLimit();
  const budget = connectionBudget(fd?.soft ?? null);
  if (fd !== null) {
    metrics.fdLimit.set(fd.soft, 'soft');
    metrics.fdLimit.set(fd.hard, 'hard');
  }
  metrics.connectionBudget.set(Math.min(budget.nodeBudget, 3 * config.maxConnections));
  const limits = new ConnectionLimits({ maxPerListener: config.maxConnections, maxPerAddress: config.maxConnectionsPerIp, ...budget }, metrics);
  const fields = { at: 'server.connection_limits', fdSoft: fd?.soft ?? null, fdHard: fd?.hard ?? null, nodeBudget: budget.nodeBudget, httpReserve: budget.httpReserve, maxPerListener: config.maxConnections, maxPerAddress: config.maxConnectionsPerIp };
  if (budget.nodeBudget < config.maxConnections) log.warn(fields, 'the open-file limit holds connections below LOGPLANE_MAX_CONNECTIONS; raise it (ulimit -n, LimitNOFILE=) for more');
  else log.info(fields, 'connection limits');
  return limits;
}

/**
 * Idle timeout of a syslog TCP/TLS connection: closed and counted after
 * config.syslogIdleMs without input. A connection the server has paused
 * (ingest back-pressure) is not idle: what its client sent waits unread in
 * the kernel, and closing it would lose those lines without a count. Its
 * timer starts again instead.
 */
export function closeWhenIdle(ctx: Context, sock: Socket, listener: 'tcp' | 'tls'): void {
  const ms = ctx.config.syslogIdleMs;
  if (ms <= 0) return;
  const counter = ctx.metrics.connectionsTimedOut.labels(listener, 'idle');
  sock.on('timeout', () => {
    if (sock.isPaused()) {
      sock.setTimeout(ms);
      return;
    }
    counter.value++;
    sock.destroy();
  });
  sock.setTimeout(ms);
}

/**
 * The HTTP server's side of SPEC 17: every connection admitted through the
 * limits; requests closed by Node's header or request timeout counted (Node
 * answers them 408 and closes); kept-alive connections closed after the
 * keep-alive timeout counted (Node's socket timeout, which it sets only on
 * an idle kept-alive connection here: the server's own `timeout` is 0; with
 * a listener Node leaves the close to it).
 */
export function guardHttpServer(server: HttpServer, limits: ListenerLimits, metrics: Metrics): void {
  const timedOut = metrics.connectionsTimedOut.labels('http', 'request');
  const keepAlive = metrics.connectionsTimedOut.labels('http', 'keepalive');
  server.on('connection', (sock: Socket) => {
    limits.admit(sock);
  });
  server.on('timeout', (sock: Socket) => {
    keepAlive.value++;
    sock.destroy();
  });
  server.on('clientError', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') timedOut.value++;
  });
}
