// Logplex v3 drain routes (SPEC 6.1); reading needs any key of the app,
// changing a developer key (SPEC 12); a non-admin sees drain URLs redacted:
//   POST   /v3/channels/:app/drains        {"url"} -> 201 + Location, {"id","token","url"}
//   GET    /v3/channels/:app/drains        -> 200 [drain with status]
//   GET    /v3/channels/:app/drains/:id    -> 200 drain with status
//   PUT    /v3/channels/:app/drains/:id    {"url"} -> 200 {"id","token","url"}
//   DELETE /v3/channels/:app/drains/:id    -> 204 (404 if not this app's)
import type { FastifyInstance } from 'fastify';
import type { Context } from '../context.js';
import type { DrainInfo, DrainManager } from '../drains/manager.js';
import type { DrainStatus } from '../drains/status.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { apiScope, principalOf, type ApiRouteConfig } from './scope.js';
import type { Principal } from '../access/roles.js';
import { displayUrl } from '../drains/url.js';

interface AppParams {
  app: string;
}
interface DrainParams extends AppParams {
  id: string;
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
  };
}

/** Read and change rules of the drain routes (api/scope.ts). */
export const DRAIN_READ: ApiRouteConfig = { access: { perm: 'read', param: 'app' } };
export const DRAIN_CHANGE: ApiRouteConfig = { access: { perm: 'drains', param: 'app' } };

/** A drain URL as this caller may see it: whole for the admin, redacted for other keys (SPEC 12). */
export function urlFor(who: Principal, url: string): string {
  return who.role === 'admin' ? url : displayUrl(url);
}

function infoJson(i: DrainInfo, who: Principal) {
  const r = i.record;
  return { id: r.id, token: r.token, url: urlFor(who, r.url), created_at: r.createdAt, updated_at: r.updatedAt, status: statusJson(i.status) };
}

export function registerDrainRoutes(root: FastifyInstance, ctx: Context, drains: DrainManager): void {
  apiScope(root, ctx, (app) => drainRoutes(app, ctx, drains));
}

function drainRoutes(app: FastifyInstance, ctx: Context, drains: DrainManager): void {
  app.post<{ Params: AppParams }>('/v3/channels/:app/drains', { config: DRAIN_CHANGE }, async (req, reply) => {
    const rec = await drains.add(req.params.app, urlField(req.body));
    ctx.access.audit.addDrain(req.params.app, rec.url, principalOf(req));
    reply.code(201).header('Location', `${ctx.publicUrl}/v3/channels/${encodeURIComponent(req.params.app)}/drains/${rec.id}`);
    return { id: rec.id, token: rec.token, url: rec.url };
  });

  app.get<{ Params: AppParams }>('/v3/channels/:app/drains', { config: DRAIN_READ }, async (req) => {
    const who = principalOf(req);
    return drains.list(req.params.app).map((d) => infoJson(d, who));
  });

  app.get<{ Params: DrainParams }>('/v3/channels/:app/drains/:id', { config: DRAIN_READ }, async (req) => {
    return infoJson(drains.get(req.params.app, req.params.id), principalOf(req));
  });

  app.put<{ Params: DrainParams }>('/v3/channels/:app/drains/:id', { config: DRAIN_CHANGE }, async (req) => {
    const rec = await drains.update(req.params.app, req.params.id, urlField(req.body));
    const who = principalOf(req);
    ctx.access.audit.updateDrain(req.params.app, rec.token, rec.url, who);
    return { id: rec.id, token: rec.token, url: urlFor(who, rec.url) };
  });

  app.delete<{ Params: DrainParams }>('/v3/channels/:app/drains/:id', { config: DRAIN_CHANGE }, async (req, reply) => {
    const list = drains.list(req.params.app);
    // only by id here, and only this app's
    if (!list.some((d) => d.record.id === req.params.id)) throw new NotFoundError('drain not found');
    const rec = await drains.remove(req.params.app, req.params.id);
    ctx.access.audit.removeDrain(req.params.app, rec.token, principalOf(req));
    return reply.code(204).send();
  });
}
