// Logplex v3 drain routes (SPEC 6.1); reading needs any key of the app,
// changing or replaying a developer key (SPEC 12); a non-admin sees drain URLs
// redacted and drain tokens as `***`, but for the token of the drain its POST
// just created (as an API key's secret, shown in the answer that makes it):
//   POST   /v3/channels/:app/drains        {"url", "filter"?} -> 201 + Location, {"id","token","url"[,"filter"]}
//   GET    /v3/channels/:app/drains        -> 200 [drain with status]
//   GET    /v3/channels/:app/drains/:id    -> 200 drain with status
//   PUT    /v3/channels/:app/drains/:id    {"url"} -> 200 {"id","token","url"}
//   DELETE /v3/channels/:app/drains/:id    -> 204 (404 if not this app's)
//   POST   /v3/channels/:app/drains/:id/replay {"after"} | {"num"} -> 202 {"replayed","missing"} (SPEC 16)
import type { FastifyInstance } from 'fastify';
import type { Context } from '../context.js';
import type { DrainInfo, DrainManager } from '../drains/manager.js';
import type { DrainStatus } from '../drains/status.js';
import { BadRequestError } from '../errors.js';
import type { DrainRecord } from '../store/store.js';
import { parseReplayRequest } from '../drains/replay.js';
import { apiScope, principalOf, type ApiRouteConfig } from './scope.js';
import type { Principal } from '../access/roles.js';
import { displayUrl } from '../drains/url.js';

interface AppParams {
  app: string;
}
interface DrainParams extends AppParams {
  id: string;
}

/** The optional `filter` field of a JSON body (checked by the drain manager). */
export function filterField(body: unknown): unknown {
  return (body as { filter?: unknown }).filter;
}

/** The `url` field of a JSON body, or a 400 naming it. */
export function urlField(body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('body must be a JSON object with a "url" field', 'invalid_params');
  const url = (body as { url?: unknown }).url;
  if (url === undefined || url === null) throw new BadRequestError('url: required', 'invalid_params');
  if (typeof url !== 'string') throw new BadRequestError('url: must be a string', 'invalid_params');
  return url;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Status as JSON (snake_case, times as ISO 8601). */
export function statusJson(s: DrainStatus) {
  const e = s.lastError;
  return {
    state: s.state,
    delivered: s.delivered,
    dropped: s.dropped,
    queue_depth: s.queueDepth,
    last_success_at: iso(s.lastSuccessAt),
    last_error: e === null ? null : { at: iso(e.at), ...(e.status !== undefined ? { status: e.status } : {}), ...(e.errno !== undefined ? { errno: e.errno } : {}), text: e.text },
    next_retry_at: iso(s.nextRetryAt),
    latency_ms: { p50: s.latencyMs?.p50 ?? null, p99: s.latencyMs?.p99 ?? null },
    dropped_1h: s.dropped1h ?? 0,
  };
}

/** A drain's filter as JSON: null when it takes every line. */
export function filterJson(r: DrainRecord) {
  const f = r.filter;
  return f === undefined ? null : { source: f.source ?? null, dyno: f.dyno ?? null, grep: f.grep ?? null };
}

/** Read and change rules of the drain routes (api/scope.ts). */
export const DRAIN_READ: ApiRouteConfig = { access: { perm: 'read', param: 'app' } };
export const DRAIN_CHANGE: ApiRouteConfig = { access: { perm: 'drains', param: 'app' } };

/** A drain URL as this caller may see it: whole for the admin, redacted for other keys (SPEC 12). */
export function urlFor(who: Principal, url: string): string {
  return who.role === 'admin' ? url : displayUrl(url);
}

/**
 * A token, an app's (`t.…`) or a drain's (`d.…`), as this caller may see it:
 * whole for the admin, `***` for other keys (SPEC 12). A drain's token is
 * what its receiver tells batches apart by, so whoever reads it could forge
 * batches to that receiver.
 */
export function tokenFor(who: Principal, token: string): string {
  return who.role === 'admin' ? token : '***';
}

/**
 * The answer to POST and PUT: Logplex's {"id","token","url"}, plus "filter"
 * when the drain has one. who null: the POST that created the drain, whose
 * caller reads its token and URL as given, once; else as `who` may see them.
 */
function createdJson(r: DrainRecord, who: Principal | null) {
  const json = who === null ? { id: r.id, token: r.token, url: r.url } : { id: r.id, token: tokenFor(who, r.token), url: urlFor(who, r.url) };
  return r.filter === undefined ? json : { ...json, filter: filterJson(r) };
}

function infoJson(i: DrainInfo, who: Principal) {
  const r = i.record;
  return { id: r.id, token: tokenFor(who, r.token), url: urlFor(who, r.url), filter: filterJson(r), created_at: r.createdAt, updated_at: r.updatedAt, status: statusJson(i.status) };
}

export function registerDrainRoutes(root: FastifyInstance, ctx: Context, drains: DrainManager): void {
  apiScope(root, ctx, (app) => drainRoutes(app, ctx, drains));
}

function drainRoutes(app: FastifyInstance, ctx: Context, drains: DrainManager): void {
  app.post<{ Params: AppParams }>('/v3/channels/:app/drains', { config: DRAIN_CHANGE }, async (req, reply) => {
    const url = urlField(req.body);
    const rec = await drains.add(req.params.app, url, filterField(req.body));
    const who = principalOf(req);
    ctx.access.audit.addDrain(req.params.app, rec.url, who);
    reply.code(201).header('Location', `${ctx.publicUrl}/v3/channels/${encodeURIComponent(req.params.app)}/drains/${rec.id}`);
    // the caller's own URL, as given
    return createdJson(rec, null);
  });

  app.get<{ Params: AppParams }>('/v3/channels/:app/drains', { config: DRAIN_READ }, async (req) => {
    const who = principalOf(req);
    return (await drains.list(req.params.app)).map((d) => infoJson(d, who));
  });

  app.get<{ Params: DrainParams }>('/v3/channels/:app/drains/:id', { config: DRAIN_READ }, async (req) => {
    return infoJson(await drains.get(req.params.app, req.params.id), principalOf(req));
  });

  app.put<{ Params: DrainParams }>('/v3/channels/:app/drains/:id', { config: DRAIN_CHANGE }, async (req) => {
    const url = urlField(req.body);
    const { record: rec, changed } = await drains.update(req.params.app, req.params.id, url, filterField(req.body));
    const who = principalOf(req);
    // a URL the drain has already (another request's change, or this one repeated) is no change: no line
    if (changed) ctx.access.audit.updateDrain(req.params.app, rec.id, rec.url, who);
    return createdJson(rec, who);
  });

  app.post<{ Params: DrainParams }>('/v3/channels/:app/drains/:id/replay', { config: DRAIN_CHANGE }, async (req, reply) => {
    const r = parseReplayRequest(req.body ?? {});
    const answer = await drains.replay(req.params.app, req.params.id, r);
    if (answer.retryAfter !== undefined) reply.header('Retry-After', String(answer.retryAfter));
    return reply.code(answer.status).send(answer.body);
  });

  app.delete<{ Params: DrainParams }>('/v3/channels/:app/drains/:id', { config: DRAIN_CHANGE }, async (req, reply) => {
    // only by id here, and only this app's (404 otherwise)
    await drains.record(req.params.app, req.params.id);
    const rec = await drains.remove(req.params.app, req.params.id);
    ctx.access.audit.removeDrain(req.params.app, rec.token, principalOf(req));
    return reply.code(204).send();
  });
}
