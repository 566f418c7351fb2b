// Per-app live stats (SPEC 7 extension, what the web console draws):
//   GET /v3/channels/:app/stats -> 200 {"app","now","lines_per_sec","rate_limited",
//     "series":{"start","step":1,"sources":[...],"counts":{source:[300 numbers]}},
//     "drains":{"count","worst_state","dropped","delivered"}}
//   distributed mode adds "nodes" (how many nodes' counts are summed) and
//   "partial" (true: Redis did not answer, some other nodes' lines are missing)
// Lines are counted by route() on the node that ingested them; in distributed
// mode the other live nodes' counts come from Redis (cluster/rates.ts) and are
// added to this node's own (docs/console.md), and rate_limited is the app's
// count over every node (cluster/counts.ts). Auth and scope are the
// management scope's (api/scope.ts), like every channel route.
import type { FastifyInstance } from 'fastify';
import { LogplaneError, ErrorCode } from '../errors.js';
import type { Context } from '../context.js';
import type { DrainManager } from '../drains/manager.js';
import type { NodeStats } from '../cluster/node-stats.js';
import { DrainState } from '../drains/status.js';
import { RATE_SOURCES, RATE_WINDOW_S } from '../buffer/rates.js';
import { apiScope } from './scope.js';
import { rateLimitedOf } from './v3.js';

/** Complete seconds averaged for `lines_per_sec`. */
export const RATE_NOW_S = 5;

/** Worst first: what an apps page shows for an app's drains. */
const SEVERITY: readonly string[] = [DrainState.FAILING, DrainState.BACKING_OFF, DrainState.CONNECTING, DrainState.DELIVERING, DrainState.IDLE];

/** shared: distributed mode's cluster-wide figures (null in embedded mode: this node's are all there is). */
export function registerStatsRoutes(root: FastifyInstance, ctx: Context, drains: DrainManager, shared: NodeStats | null = null): void {
  apiScope(root, ctx, (api) => {
    // any key of the app: the console shows it to viewers too (SPEC 12)
    api.get<{ Params: { app: string } }>('/v3/channels/:app/stats', { config: { access: { perm: 'read', param: 'app' } } }, async (req) => {
      const app = await ctx.registry.current(req.params.app);
      if (!app) throw new LogplaneError(ErrorCode.NOT_FOUND, 404, 'not_found', 'channel not found');
      const nowMs = Date.now();
      const nowSec = Math.floor(nowMs / 1000);
      const series = app.rates.series(nowSec);
      const cluster = shared ? await shared.appStats(app, series, nowSec) : null;
      // the current second is still filling: average the complete seconds before it
      let recent = 0;
      for (const s of RATE_SOURCES) {
        const c = series.counts[s];
        for (let i = c.length - 1 - RATE_NOW_S; i < c.length - 1; i++) recent += c[i]!;
      }
      let worst = -1;
      let dropped = 0;
      let delivered = 0;
      const list = await drains.list(app.id);
      for (const d of list) {
        worst = Math.max(worst, SEVERITY.length - 1 - SEVERITY.indexOf(d.status.state));
        dropped += d.status.dropped;
        delivered += d.status.delivered;
      }
      return {
        app: app.id,
        now: new Date(nowMs).toISOString(),
        lines_per_sec: Math.round((recent / RATE_NOW_S) * 10) / 10,
        rate_limited: cluster ? cluster.counts[2] : rateLimitedOf(app),
        series: { start: series.start, step: 1, window: RATE_WINDOW_S, sources: RATE_SOURCES, counts: series.counts },
        drains: { count: list.length, worst_state: worst < 0 ? null : SEVERITY[SEVERITY.length - 1 - worst]!, dropped, delivered },
        ...(cluster ? { nodes: cluster.nodes, partial: cluster.partial } : {}),
      };
    });
  });
}
