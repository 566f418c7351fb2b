// Heroku Platform API subset for log drains (SPEC 6.1), what `heroku drains`,
// `drains:add` and `drains:remove` call (Bearer auth, the admin key):
//   GET    /apps/:app/log-drains                   -> 200 [drain]
//   POST   /apps/:app/log-drains {"url"}           -> 201 drain
//   DELETE /apps/:app/log-drains/:id_url_or_token  -> 200 drain (URL-encoded key)
// drain = {"id","url","token","created_at","updated_at","addon":null}.
// Errors carry Heroku's `message` next to our `error`.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Context } from '../context.js';
import type { DrainManager } from '../drains/manager.js';
import { LogplaneError } from '../errors.js';
import type { DrainRecord } from '../store/store.js';
import { apiScope } from './scope.js';
import { urlField } from './drains.js';

/** Heroku times: ISO 8601 to the second, UTC. */
function herokuTime(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z');
}

export function logDrainJson(r: DrainRecord) {
  return { id: r.id, url: r.url, token: r.token, created_at: herokuTime(r.createdAt), updated_at: herokuTime(r.updatedAt), addon: null };
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
  apiScope(root, ctx, (app) => platformDrainRoutes(app, drains));
}

function platformDrainRoutes(app: FastifyInstance, drains: DrainManager): void {
  app.get<{ Params: { app: string } }>('/apps/:app/log-drains', async (req, reply) =>
    herokuErrors(reply, () => drains.list(req.params.app).map((d) => logDrainJson(d.record))),
  );

  app.post<{ Params: { app: string } }>('/apps/:app/log-drains', async (req, reply) =>
    herokuErrors(reply, async () => {
      const rec = await drains.add(req.params.app, urlField(req.body));
      reply.code(201);
      return logDrainJson(rec);
    }),
  );

  app.delete<{ Params: { app: string; key: string } }>('/apps/:app/log-drains/:key', async (req, reply) =>
    herokuErrors(reply, async () => logDrainJson(await drains.remove(req.params.app, req.params.key))),
  );
}
