// Logplex v3 management API (SPEC 4, 7): channels, tokens, history,
// healthcheck, plus the paged channel list with per-app stats (extension;
// in distributed mode the line counts are the whole cluster's, read from
// Redis: cluster/counts.ts).
// Every route but /v3/healthcheck needs a key: reading an app (and the list,
// which shows only the key's apps) any key of the app, tokens a developer
// key, creating and destroying apps the admin (SPEC 12); auth, the access
// rules, body parsing and the body cap are the management scope's
// (api/scope.ts). A non-admin sees app and drain tokens as `***` and drain
// URLs redacted.
import type { FastifyInstance } from 'fastify';
import type { App, TokenChanges } from '../apps.js';
import type { Context } from '../context.js';
import { logplexFrames } from '../drains/frame.js';
import { BadRequestError, LogplaneError, ErrorCode } from '../errors.js';
import { apiScope, ForbiddenError, principalOf, type ApiRouteConfig } from './scope.js';
import type { Principal } from '../access/roles.js';
import { tokenFor, urlFor } from './drains.js';
import { lossesSent, type HistorySource } from '../history/source.js';
import type { NodeStats } from '../cluster/node-stats.js';
import type { Counts } from '../cluster/counts.js';

/** Lines returned by GET /v3/channels/:app/logs when `num` is absent. */
export const DEFAULT_NUM = 100;
/** Channels per page of GET /v3/channels when `limit` is absent. */
export const DEFAULT_LIMIT = 100;
/** Largest page of GET /v3/channels. */
export const MAX_LIMIT = 1000;

const DIGITS = /^\d{1,15}$/;

type Params = { app: string };
type Query = Record<string, string | string[] | undefined>;

/** A request body field failed validation: 400 naming the field. */
function badField(field: string, why: string): BadRequestError {
  return new BadRequestError(`${field}: ${why}`, 'invalid_params');
}

function notFound(): LogplaneError {
  return new LogplaneError(ErrorCode.NOT_FOUND, 404, 'not_found', 'channel not found');
}

/** The body as an object; absent body counts as `{}` so the missing field is named. */
function bodyObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw badField('body', 'must be a JSON object');
  return body as Record<string, unknown>;
}

/** One query parameter as a string (first value if repeated), or undefined. */
function queryParam(q: Query, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A whole-number query parameter within [min, max], or the default. */
function intParam(q: Query, name: string, def: number, min: number, max: number, why: string): number {
  const raw = queryParam(q, name);
  if (raw === undefined || raw === '') return def;
  if (!DIGITS.test(raw)) throw badField(name, why);
  const n = Number(raw);
  if (n < min || n > max) throw badField(name, why);
  return n;
}

/** channelJson as `who` may see it: whole for the admin; for other keys app and drain tokens `***`, drain URLs redacted (SPEC 12). */
function channelJsonFor(app: App, who: Principal): ReturnType<typeof channelJson> {
  const c = channelJson(app);
  for (const [n, t] of Object.entries(c.tokens)) c.tokens[n] = tokenFor(who, t);
  c.drains = c.drains.map((d) => ({ ...d, token: tokenFor(who, d.token), url: urlFor(who, d.url) }));
  return c;
}

const READ: ApiRouteConfig = { access: { perm: 'read', param: 'app' } };

/** `{"channel","tokens":{name: token},"drains":[...]}` (Logplex v3 shape). */
export function channelJson(app: App): { channel: string; tokens: Record<string, string>; drains: { id: string; token: string; url: string }[] } {
  // One token per name (POST .../tokens answers an existing name's token); where a config written by an older version has several, the newest.
  const tokens: Record<string, string> = {};
  for (const t of app.record.tokens) tokens[t.name] = t.token;
  return {
    channel: app.id,
    tokens,
    drains: app.record.drains.map((d) => ({ id: d.id, token: d.token, url: d.url })),
  };
}

/** Lines of the app the rate limit dropped since this node started (0 when the limit is off). */
export function rateLimitedOf(app: App): number {
  return app.rateLimited;
}

/**
 * One entry of the channel list: names only (no credentials) and stats.
 * counts: the app's lines, bytes and rate-limited lines over the cluster
 * (distributed mode); absent: this process's.
 */
function listEntry(app: App, counts?: Counts) {
  return {
    channel: app.id,
    created_at: app.record.createdAt,
    updated_at: app.record.updatedAt,
    token_names: [...new Set(app.record.tokens.map((t) => t.name))],
    drains: app.record.drains.length,
    stats: {
      lines_in: counts ? counts[0] : app.linesIn,
      bytes_in: counts ? counts[1] : app.bytesIn,
      // this node's ring in both modes (docs/api.md says why not the shared history in Redis)
      ring_lines: app.ring.count,
      ring_bytes: app.ring.liveBytes,
      last_seq: app.seq,
      // lines the per-app ingest rate limit dropped (SPEC 17: counted per app)
      rate_limited: counts ? counts[2] : rateLimitedOf(app),
    },
  };
}

/** shared: distributed mode's cluster-wide figures (null in embedded mode). */
export function registerV3(root: FastifyInstance, ctx: Context, history: HistorySource, shared: NodeStats | null = null): void {
  apiScope(root, ctx, (app) => {
    // logplane_api_requests_total{code="2xx"|...}, children resolved once
    const byClass = ['1xx', '2xx', '3xx', '4xx', '5xx'].map((c) => ctx.metrics.apiRequests.labels(c));
    app.addHook('onResponse', async (_req, reply) => {
      byClass[Math.min(4, Math.max(0, Math.floor(reply.statusCode / 100) - 1))]!.value++;
    });
    routes(app, ctx, history, shared);
  });
}

function routes(app: FastifyInstance, ctx: Context, history: HistorySource, shared: NodeStats | null): void {
  const reg = ctx.registry;

  app.get('/v3/healthcheck', { config: { public: true } }, async (_req, reply) => {
    reply.type('text/plain; charset=utf-8');
    return 'OK';
  });

  // every key may list; a non-admin key sees only its apps
  app.get<{ Querystring: Query }>('/v3/channels', { config: { access: { perm: 'read' } } }, async (req, reply) => {
    const q = req.query;
    const limit = intParam(q, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT, `must be a whole number from 1 to ${MAX_LIMIT}`);
    const after = queryParam(q, 'after') || null;
    const who = principalOf(req);
    const page = who.role === 'admin' ? reg.list(after, limit + 1) : ownPage(reg, who.apps, after, limit + 1);
    const more = page.length > limit;
    if (more) page.length = limit;
    const next = more ? page[page.length - 1]!.id : null;
    if (next !== null) reply.header('Link', `</v3/channels?limit=${limit}&after=${encodeURIComponent(next)}>; rel="next"`);
    if (!shared) return { channels: page.map((a) => listEntry(a)), next };
    // distributed mode: partial when Redis did not answer for some apps (theirs are then this node's counts)
    const read = await shared.listCounts(page);
    return { channels: page.map((a) => listEntry(a, read.counts.get(a.id))), next, partial: read.partial };
  });

  app.put<{ Params: Params }>('/v3/channels/:app', async (req, reply) => {
    const id = req.params.app;
    const body = bodyObject(req.body);
    const tokens = body['tokens'];
    if (tokens === undefined) throw badField('tokens', 'required (an array of token names, e.g. ["app","heroku"])');
    if (!Array.isArray(tokens)) throw badField('tokens', 'must be an array of token names');
    tokens.forEach((n, i) => {
      if (typeof n !== 'string') throw badField(`tokens[${i}]`, 'must be a string');
    });
    // Conditional create (used by `logplane apps:create`): refuse to touch an existing channel.
    const onlyIfNew = req.headers['if-none-match'] === '*';
    const { app: a, ...changes } = await reg.putApp(id, tokens as string[], { onlyIfNew });
    auditTokens(ctx, a, changes, principalOf(req));
    reply.code(changes.created ? 201 : 200);
    return channelJson(a);
  });

  app.get<{ Params: Params }>('/v3/channels/:app', { config: READ }, async (req) => {
    const a = await reg.current(req.params.app);
    if (!a) throw notFound();
    return channelJsonFor(a, principalOf(req));
  });

  app.delete<{ Params: Params }>('/v3/channels/:app', async (req, reply) => {
    if (!(await reg.current(req.params.app))) throw notFound();
    // keys lose the app too: one made later under this name is not theirs
    await ctx.access.deleteApp(req.params.app);
    reply.code(204).send();
  });

  app.post<{ Params: Params }>('/v3/channels/:app/tokens', { config: { access: { perm: 'tokens', param: 'app' } } }, async (req) => {
    const body = bodyObject(req.body);
    const name = body['name'];
    if (name === undefined) throw badField('name', 'required (the token name, e.g. "app")');
    if (typeof name !== 'string') throw badField('name', 'must be a string');
    // a `heroku` token writes the platform's lines (router, rate-limit notices): the platform's, not a developer's to take
    if (name.toLowerCase() === 'heroku' && principalOf(req).role !== 'admin') throw new ForbiddenError('a token named heroku writes the platform\'s lines: only an admin creates or reads it');
    if (!(await reg.current(req.params.app))) throw notFound();
    // audited when this request made the token (the store's atomic change says so), not when it answered one that was there
    const { token, created } = await reg.createToken(req.params.app, name);
    if (created) ctx.access.audit.createToken(req.params.app, name, principalOf(req));
    return { token, name };
  });

  // History (SPEC 4): exactly min(num, stored) lines, oldest first, as Logplex frames.
  app.get<{ Params: Params; Querystring: Query }>('/v3/channels/:app/logs', { config: READ }, async (req, reply) => {
    const num = intParam(req.query, 'num', DEFAULT_NUM, 0, Number.MAX_SAFE_INTEGER, 'must be a whole number (0 or more)');
    const a = await reg.current(req.params.app);
    if (!a) throw notFound();
    // every node's lines in distributed mode (this node's own alone, marked partial, when Redis is down)
    const h = await history.read(a, num);
    if (!h.complete) reply.header('Logplane-History', 'partial');
    // loss notices among the lines (distributed mode): the body's frames are exact, so their count goes in a header
    const dropped = num > 0 ? lossesSent(h.lines.length, 0, h.losses, false).reduce((n, l) => n + l.n, 0) : 0;
    if (dropped > 0) reply.header('Logplane-Dropped', String(dropped));
    reply.code(200).header('Content-Type', 'application/logplex-1').header('Logplex-Msg-Count', String(h.lines.length));
    return reply.send(logplexFrames.encode(h.lines));
  });
}

/** A page of the apps a key reaches that exist, sorted by id (as Registry.list pages every app). */
function ownPage(reg: Context['registry'], apps: ReadonlySet<string>, after: string | null, limit: number): App[] {
  const out: App[] = [];
  for (const id of [...apps].sort()) {
    if (after !== null && id <= after) continue;
    const a = reg.get(id);
    if (a) out.push(a);
    if (out.length === limit) break;
  }
  return out;
}

/** Audit lines for the tokens a PUT created and removed (as its own atomic change made them: Registry.putApp). */
function auditTokens(ctx: Context, app: App, changes: TokenChanges, who: Principal): void {
  for (const n of changes.removed) ctx.access.audit.removeToken(app.id, n, who);
  for (const n of changes.added) ctx.access.audit.createToken(app.id, n, who);
}
