// API keys (SPEC 12), admin only:
//   POST   /v3/keys      {"name","role","apps"} -> 201 {"id","key","name","role","apps","created_at"}
//                        (the secret `key` is in this answer only)
//   GET    /v3/keys      -> 200 [{"id","name","role","apps","created_at","updated_at"}]
//   GET    /v3/keys/:id  -> 200 one of those
//   PATCH  /v3/keys/:id  {"role"?, "apps"?} -> 200 the key
//   DELETE /v3/keys/:id  -> 204
// and, for any key (the web console and scripts ask who they are):
//   GET    /v3/account   -> 200 {"id","name","role","apps"} of the key used
//                        (the admin key: id null, apps null = every app)
// Each change of a key's scope is an audit line in each app whose access it
// changes (every app when the key is or becomes role admin: access/audit.ts).
import type { FastifyInstance } from 'fastify';
import type { Context } from '../context.js';
import { createInput, keyJson, patchInput } from '../access/keys.js';
import { apiScope, principalOf } from './scope.js';
import type { Principal } from '../access/roles.js';

/** Who the caller is: the key's id, name and role, and its apps (null: every app). */
export function accountJson(who: Principal): { id: string | null; name: string; role: string; apps: string[] | null } {
  return { id: who.keyId, name: who.name, role: who.role, apps: who.role === 'admin' ? null : [...who.apps].sort() };
}

interface KeyParams {
  id: string;
}

export function registerKeyRoutes(root: FastifyInstance, ctx: Context): void {
  apiScope(root, ctx, (api) => keyRoutes(api, ctx));
}

function keyRoutes(app: FastifyInstance, ctx: Context): void {
  const { keys, audit } = ctx.access;

  app.post('/v3/keys', async (req, reply) => {
    const { record, secret } = await keys.create(createInput(req.body));
    await audit.keyChange(null, record, principalOf(req));
    reply.code(201).header('Location', `${ctx.publicUrl}/v3/keys/${record.id}`);
    const { id, name, role, apps, created_at } = keyJson(record);
    return { id, key: secret, name, role, apps, created_at };
  });

  app.get('/v3/keys', async () => keys.list().map(keyJson));

  app.get('/v3/account', { config: { access: { perm: 'read' } } }, async (req) => accountJson(principalOf(req)));

  app.get<{ Params: KeyParams }>('/v3/keys/:id', async (req) => keyJson(await keys.require(req.params.id)));

  app.patch<{ Params: KeyParams }>('/v3/keys/:id', async (req) => {
    await keys.require(req.params.id); // 404 before any 400 about the body
    const { before, after } = await keys.update(req.params.id, patchInput(req.body));
    await audit.keyChange(before, after, principalOf(req));
    return keyJson(after);
  });

  app.delete<{ Params: KeyParams }>('/v3/keys/:id', async (req, reply) => {
    const rec = await keys.revoke(req.params.id);
    await audit.keyChange(rec, null, principalOf(req));
    return reply.code(204).send();
  });
}
