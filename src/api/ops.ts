// Operations endpoints: /metrics (Prometheus text), /healthz, /readyz.
import type { FastifyInstance } from 'fastify';
import { ringTotals } from '../buffer/ring.js';
import type { Context } from '../context.js';

/** Readiness checks other components add (e.g. Redis). Each returns null when fine, else why not. */
export type ReadyCheck = () => string | null;

export function registerOpsRoutes(app: FastifyInstance, ctx: Context, readyChecks: ReadyCheck[]): void {
  const m = ctx.metrics;
  m.apps.collect = () => m.apps.set(ctx.registry.size);
  m.ringLines.collect = () => {
    const t = ringTotals(ctx.registry.apps());
    m.ringLines.set(t.lines);
    m.ringBytes.set(t.liveBytes);
    m.ringMemoryBytes.set(t.memoryBytes);
  };
  app.get('/metrics', async (_req, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8');
    return m.registry.render();
  });
  app.get('/healthz', async (_req, reply) => {
    reply.type('text/plain; charset=utf-8');
    return 'OK';
  });
  app.get('/readyz', async (_req, reply) => {
    const problems = readyChecks.map((c) => c()).filter((p): p is string => p !== null);
    reply.type('application/json; charset=utf-8');
    if (problems.length) {
      reply.code(503);
      return { ready: false, problems };
    }
    return { ready: true };
  });
}
