// Operations endpoints: /metrics (Prometheus text), /healthz, /readyz.
// /metrics holds no app id and no secret; it needs no API key (an API key of
// any role gains nothing from it), unless LOGPLANE_METRICS_KEY sets a key of
// its own (docs/operations.md); a wrong one is then throttled and counted as
// on every route that takes a key (Access.gate).
import type { FastifyInstance } from 'fastify';
import { ringTotals } from '../buffer/ring.js';
import type { Context } from '../context.js';
import { presentedKeys, safeEqual } from '../access/credentials.js';
import { UnauthorizedError } from '../errors.js';
import { throttled } from './scope.js';

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
  const metricsKey = ctx.config.metricsKey;
  app.get('/metrics', async (req, reply) => {
    if (metricsKey !== null) {
      let ok = false;
      for (const k of presentedKeys(req.headers.authorization)) ok = safeEqual(k, metricsKey) || ok;
      // throttled and counted as every route that takes a key (SPEC 12)
      const wait = await ctx.access.gate(req.ip, ok);
      if (wait > 0) throw throttled(req, reply, wait);
      if (!ok) throw new UnauthorizedError('Unauthorized: /metrics needs the metrics key (LOGPLANE_METRICS_KEY)');
    }
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
