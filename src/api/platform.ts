// Heroku Platform API subset (SPEC 5.1, 7) for the heroku CLI:
// `GET /apps/:app` and `POST /apps/:app/log-sessions`. The CLI sends
// `Authorization: Bearer <key>` and `Accept: application/vnd.heroku+json;
// version=3` (or `3.sdk`); it reads `generation.name` of the app (cedar apps
// get a Logplex session) and streams `logplex_url` with an EventSource.
// `GET /account` answers `heroku auth:whoami`. Log drains (SPEC 6.1) live in their own file.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { App } from '../apps.js';
import type { Context } from '../context.js';
import { apiScope, principalOf, type ApiRouteConfig } from './scope.js';
import type { TailService } from '../tail/service.js';
import { clampNum, sessionUrl } from './sessions.js';
import { intField, objectBody, stringField } from '../tail/params.js';
import { BadRequestError } from '../errors.js';
import { accountJson } from './keys.js';

/** Fixed id of the one generation we offer (Heroku's Cedar: Logplex log sessions). */
const CEDAR = { id: '7f4c2a9e-3b1d-4c5e-9a6f-0c3d2b1a0e9f', name: 'cedar' } as const;

/** Heroku timestamps: `2012-01-01T12:00:00Z`. */
export function herokuTime(iso: string | number): string {
  const d = new Date(iso);
  return `${d.toISOString().slice(0, 19)}Z`;
}

/** Heroku's error body shape plus ours (`message` is what Heroku clients print). */
function appNotFound(reply: FastifyReply): FastifyReply {
  const message = "Couldn't find that app.";
  return reply.code(404).send({ id: 'not_found', error: message, message, resource: 'app' });
}

/** The app object, with what the heroku CLI reads and Heroku's other keys set to neutral values. */
export function appObject(ctx: Context, app: App): Record<string, unknown> {
  const r = app.record;
  return {
    id: r.uuid,
    name: app.id,
    created_at: herokuTime(r.createdAt),
    updated_at: herokuTime(r.updatedAt),
    released_at: null,
    generation: CEDAR,
    maintenance: false,
    acm: false,
    archived_at: null,
    build_stack: { id: null, name: 'logplane' },
    stack: { id: null, name: 'logplane' },
    buildpack_provided_description: null,
    git_url: null,
    internal_routing: null,
    organization: null,
    team: null,
    space: null,
    owner: null,
    region: { id: null, name: 'local' },
    repo_size: null,
    slug_size: null,
    web_url: null,
  };
}

export function registerPlatform(root: FastifyInstance, ctx: Context, service: TailService): void {
  apiScope(root, ctx, (api) => platformRoutes(api, ctx, service));
}

/** Any key of the app (SPEC 12: `heroku logs` works with a viewer key). */
const READ: ApiRouteConfig = { access: { perm: 'read', param: 'app' } };

function platformRoutes(http: FastifyInstance, ctx: Context, service: TailService): void {
  // `heroku auth:whoami` prints `email`: here the key's name (`admin` for the admin key)
  http.get('/account', { config: { access: { perm: 'read' } } }, async (req) => {
    const who = accountJson(principalOf(req));
    return { id: who.id ?? 'admin', email: who.name, name: who.name, role: who.role, apps: who.apps };
  });

  http.get<{ Params: { app: string } }>('/apps/:app', { config: READ }, async (req, reply) => {
    const app = await ctx.registry.current(req.params.app);
    if (!app) return appNotFound(reply);
    return reply.code(200).send(appObject(ctx, app));
  });

  http.post<{ Params: { app: string } }>('/apps/:app/log-sessions', { config: READ }, async (req, reply) => {
    const body = objectBody(req.body);
    const app = await ctx.registry.current(req.params.app);
    if (!app) return appNotFound(reply);
    const tail = body.tail;
    if (tail !== undefined && tail !== null && typeof tail !== 'boolean') throw new BadRequestError('tail: must be a boolean', 'invalid_params');
    const session = await service.createSession(app, {
      num: clampNum(ctx, intField(body, 'lines')),
      tail: tail === true,
      source: stringField(body, 'source'),
      // `type` is what Fir apps send instead of dyno; here both filter by process
      dyno: stringField(body, 'dyno') ?? stringField(body, 'type'),
      grep: null,
      after: null,
      keyId: principalOf(req).keyId,
    });
    const at = herokuTime(session.createdAt);
    return reply.code(201).send({ id: session.id, created_at: at, updated_at: at, logplex_url: sessionUrl(ctx, session.id) });
  });
}
