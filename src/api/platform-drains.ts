// Heroku Platform API subset for log drains (SPEC 6.1), what `heroku drains`,
// `drains:add` and `drains:remove` call (Bearer auth: the admin key, any key
// of the app to list, a developer key to add and remove; SPEC 12):
//   GET    /apps/:app/log-drains                   -> 200 [drain]
//          ?extended=true (heroku drains -x): each drain also has
//          "extended": {"drain_id": <integer>, "status": {...}}
//   POST   /apps/:app/log-drains {"url", "filter"?} -> 201 drain (filter: our extension, SPEC 16)
//   DELETE /apps/:app/log-drains/:id_url_or_token  -> 200 drain (URL-encoded key)
// drain = {"id","url","token","created_at","updated_at","addon":null}, plus
// "filter" for a drain that has one; to a non-admin key, "url" redacted and
// "token" `***` except in the answer to the POST that created it (SPEC 12:
// `heroku drains` then prints `URL (***)`).
// Errors carry Heroku's `message` next to our `error`.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Context } from '../context.js';
import type { DrainInfo, DrainManager } from '../drains/manager.js';
import { LogplaneError } from '../errors.js';
import type { DrainRecord } from '../store/store.js';
import { apiScope, principalOf } from './scope.js';
import { DRAIN_CHANGE, DRAIN_READ, filterField, filterJson, statusJson, tokenFor, urlField, urlFor } from './drains.js';
import type { Principal } from '../access/roles.js';

/** Heroku times: ISO 8601 to the second, UTC. */
function herokuTime(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z');
}

/** A drain as Heroku shows it; without `who` (the POST that created it) its URL and token as given, else as `who` may see them. */
export function logDrainJson(r: DrainRecord, who?: Principal) {
  const json = { id: r.id, url: who ? urlFor(who, r.url) : r.url, token: who ? tokenFor(who, r.token) : r.token, created_at: herokuTime(r.createdAt), updated_at: herokuTime(r.updatedAt), addon: null };
  return r.filter === undefined ? json : { ...json, filter: filterJson(r) };
}

/**
 * Logplex's drain ids were integers and `heroku drains --extended` prints one
 * as `drain_id=<n>`. Ours is the first 48 bits of the drain's uuid4 id (all
 * random bits): a safe integer, the same on every call and every node.
 */
export function numericDrainId(id: string): number {
  return Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}

/** `extended` of GET /apps/:app/log-drains?extended=true: the numeric id and the drain's status. */
function extendedJson(d: DrainInfo) {
  return { drain_id: numericDrainId(d.record.id), status: statusJson(d.status) };
}

/** Run a handler; LogplaneErrors become {"id","error","message"} with their status. */
async function herokuErrors<T>(reply: FastifyReply, fn: () => Promise<T> | T): Promise<T | { id: string; error: string; message: string }> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof LogplaneError)) throw err;
    let message = err.message;
    if (err.status === 404 && message === 'channel not found') message = "Couldn't find that app.";
    reply.code(err.status);
    return { id: err.id, error: message, message };
  }
}

export function registerPlatformDrainRoutes(root: FastifyInstance, ctx: Context, drains: DrainManager): void {
  apiScope(root, ctx, (app) => platformDrainRoutes(app, ctx, drains));
}

function platformDrainRoutes(app: FastifyInstance, ctx: Context, drains: DrainManager): void {
  app.get<{ Params: { app: string }; Querystring: { extended?: string } }>('/apps/:app/log-drains', { config: DRAIN_READ }, async (req, reply) =>
    herokuErrors(reply, async () => {
      const extended = req.query.extended === 'true';
      const who = principalOf(req);
      return (await drains.list(req.params.app)).map((d) => (extended ? { ...logDrainJson(d.record, who), extended: extendedJson(d) } : logDrainJson(d.record, who)));
    }),
  );

  app.post<{ Params: { app: string } }>('/apps/:app/log-drains', { config: DRAIN_CHANGE }, async (req, reply) =>
    herokuErrors(reply, async () => {
      const url = urlField(req.body);
      const rec = await drains.add(req.params.app, url, filterField(req.body));
      ctx.access.audit.addDrain(req.params.app, rec.url, principalOf(req));
      reply.code(201);
      // the caller's own URL, as given
      return logDrainJson(rec);
    }),
  );

  app.delete<{ Params: { app: string; key: string } }>('/apps/:app/log-drains/:key', { config: DRAIN_CHANGE }, async (req, reply) =>
    herokuErrors(reply, async () => {
      const rec = await drains.remove(req.params.app, req.params.key);
      const who = principalOf(req);
      ctx.access.audit.removeDrain(req.params.app, rec.token, who);
      return logDrainJson(rec, who);
    }),
  );
}
