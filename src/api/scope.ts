// The management API's edge, in one place for every management route (v3
// channels, tokens, history, drains, sessions v2/v3, keys, the Heroku
// Platform subset). Routes registered through apiScope get:
//   - a change a web page of another site could have made the browser send
//     refused first (403 cross_origin, 415 for a form's body type: csrf.ts);
//   - the key checked on arrival (onRequest), before any of the body is
//     parsed or buffered: the admin key or an API key (SPEC 12); an
//     unauthenticated request with a body over the cap (or chunked) is
//     answered 401 and its connection closed, so that body is not even read
//     to be discarded; an address with too many failures gets 429 instead,
//     whatever key it brings (the throttle, access/throttle.ts, asked with
//     whether the key was right: one Redis round trip in distributed mode);
//   - the route's access rule checked before the body is read (preParsing):
//     the permission it needs on the app its path names; a rule whose app is
//     named in the body (a session) is checked for the role then, and for
//     the app once the body is parsed (preHandler). A key outside its apps
//     or role gets 403 forbidden whether or not the app exists, and before
//     any 400 or 413 about a body it may not send. A route that declares no
//     rule is admin only;
//   - one body rule: JSON whatever Content-Type the client declared (none,
//     application/octet-stream; but the types of an HTML form, see above),
//     read by one parser; a body
//     that does not parse is 400 invalid_json; an empty body is no body;
//   - a body cap of API_BODY_LIMIT (413 body_too_large), far below the ingest
//     limit: POST /logs lives in its own scope with its own auth and limit;
//   - Content-Encoding gzip read as POST /logs reads it (the cap then holds
//     for the inflated body too), any other encoding 415; a body that is not
//     UTF-8 is 400 invalid_json without its bytes (the parser's reason for
//     UTF-8 text quotes the text).
// A route without the key check says `config: { public: true }`; one open to
// API keys says `config: { access: { perm, param | field } }`. accessTable()
// lists every route with its rule (docs/api.md's table, the role test).
import { isUtf8 } from 'node:buffer';
import { gunzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RequestPayload } from 'fastify';
import type { Context } from '../context.js';
import { BadRequestError, LogplaneError, ErrorCode, UnauthorizedError } from '../errors.js';
import { ADMIN, allows, type Permission, type Principal } from '../access/roles.js';
import { ENC_GZIP, ENC_UNSUPPORTED, encodingOf, headerValue } from '../ingest/http.js';
import { forgery } from './csrf.js';

/** Largest management request body, bytes. */
export const API_BODY_LIMIT = 64 * 1024;

/** What a route needs, and where its app is named. */
export interface AccessRule {
  perm: Permission;
  /** The path parameter that names the app. */
  param?: string;
  /** The body field that names the app (POST /v3/sessions: channel_id). */
  field?: string;
}

/** Route config read by the scope's hooks. */
export interface ApiRouteConfig {
  /** No key needed (the healthcheck). */
  public?: boolean;
  /** Who may call it; absent: the admin key or an admin API key only. */
  access?: AccessRule;
}

const ADMIN_ONLY: AccessRule = { perm: 'admin' };

/** One management route and its rule (null: public). */
export interface RouteAccess {
  method: string;
  url: string;
  rule: AccessRule | null;
}

const tables = new WeakMap<FastifyInstance, RouteAccess[]>();

/** Every management route registered on this server so far, with its rule. */
export function accessTable(root: FastifyInstance): readonly RouteAccess[] {
  return tables.get(root) ?? [];
}

const principals = new WeakMap<FastifyRequest, Principal>();

/** Who made this request (set by the edge; the admin for public routes). */
export function principalOf(req: FastifyRequest): Principal {
  return principals.get(req) ?? ADMIN;
}

/** 403: the key may not do this here (the same answer whether or not the app exists). */
export class ForbiddenError extends LogplaneError {
  constructor(message: string) {
    super(ErrorCode.UNAUTHORIZED, 403, 'forbidden', message);
    this.name = 'ForbiddenError';
  }
}

/** 429: too many failed authentications from this address. */
export class ThrottledError extends LogplaneError {
  constructor() {
    super(ErrorCode.UNAUTHORIZED, 429, 'too_many_failures', 'too many failed authentications from this address; try again later');
    this.name = 'ThrottledError';
  }
}

const WHAT: Record<Permission, string> = {
  read: 'read',
  drains: 'change the drains of',
  tokens: 'create tokens of',
  admin: 'change',
};

/**
 * An unread body the server should not read: chunked (any size), or declared
 * over the cap. Node reads and discards an unread body to keep the connection
 * open; that is fine for a small one, not for megabytes from a stranger.
 */
function largeBody(req: FastifyRequest): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && !(Number(cl) <= API_BODY_LIMIT);
}

/** 415: a body in an encoding the API does not read. */
export class UnsupportedEncodingError extends LogplaneError {
  constructor(encoding: string) {
    super(ErrorCode.BAD_REQUEST, 415, 'unsupported_media_type', `unsupported Content-Encoding ${JSON.stringify(encoding)}: send the body as is, or gzip`);
    this.name = 'UnsupportedEncodingError';
  }
}

/** Any body, whatever its declared type, as JSON (gunzipped first when it says gzip); empty is no body. */
function parseJson(req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void): void {
  if (body.length === 0) return done(null, undefined);
  const encoding = headerValue(req.headers['content-encoding']);
  const enc = encodingOf(encoding);
  if (enc === ENC_UNSUPPORTED) return done(new UnsupportedEncodingError(encoding!));
  if (enc !== ENC_GZIP) return done(...jsonOf(body));
  // the cap holds for what the body inflates to (a gzip bomb is 413 like any large body)
  gunzip(body, { maxOutputLength: API_BODY_LIMIT }, (err, inflated) => {
    if (err === null) done(...jsonOf(inflated));
    else if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') done(new LogplaneError(ErrorCode.BAD_REQUEST, 413, 'body_too_large', 'request body too large'));
    else done(new BadRequestError('invalid gzip body: the body is not valid gzip', 'invalid_gzip'));
  });
}

/** The JSON in body, or 400 invalid_json: the parser's reason, which quotes the text, for UTF-8 text only (never other bytes). */
function jsonOf(body: Buffer): [Error | null, unknown?] {
  if (!isUtf8(body)) return [new BadRequestError('invalid JSON body: not UTF-8 text', 'invalid_json')];
  try {
    return [null, JSON.parse(body.toString('utf8'))];
  } catch (err) {
    return [new BadRequestError(`invalid JSON body: ${(err as Error).message}`, 'invalid_json')];
  }
}

function onRequest(ctx: Context) {
  return (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const forged = forgery(req, ctx.publicUrl);
    // Past that the declared type is not consulted: without it every body reaches
    // the one parser, parseJson (Fastify would answer 415 to a type no parser
    // claims, or one it finds malformed, before any parser runs).
    delete req.raw.headers['content-type'];
    if (forged !== null) {
      if (largeBody(req)) reply.header('Connection', 'close');
      return done(forged);
    }
    if ((req.routeOptions.config as ApiRouteConfig).public === true) return done();
    // the key is checked first, the throttle then decides (a throttled address gets 429 whatever key it brings)
    const who = ctx.access.authenticate(req.headers.authorization);
    ctx.access.gate(req.ip, who !== null).then((wait) => {
      if (wait > 0) return done(throttled(req, reply, wait));
      if (who !== null) {
        principals.set(req, who);
        return done();
      }
      if (largeBody(req)) reply.header('Connection', 'close');
      done(new UnauthorizedError('Unauthorized: a valid API key is required'));
    }, done);
  };
}

/** The 429 for an address the throttle refuses (gate's `wait` seconds), for any route that takes a key. */
export function throttled(req: FastifyRequest, reply: FastifyReply, wait: number): ThrottledError {
  if (largeBody(req)) reply.header('Connection', 'close');
  reply.header('Retry-After', String(wait));
  return new ThrottledError();
}

/** The app a rule names in this request: '' when the rule names one the request lacks, null when the rule has none. */
function ruleApp(rule: AccessRule, req: FastifyRequest): string | null | undefined {
  if (rule.param !== undefined) {
    const v = (req.params as Record<string, unknown>)[rule.param];
    return typeof v === 'string' ? v : '';
  }
  if (rule.field !== undefined) {
    const b = req.body;
    const v = b !== null && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>)[rule.field] : undefined;
    // absent or not a string: the handler's validation answers 400 (it needs a string)
    return typeof v === 'string' ? v : undefined;
  }
  return null;
}

/**
 * The route's rule against the caller: 403 when it does not allow. `body`:
 * whether the request's body is parsed yet. Before it is (preParsing), a
 * rule that names its app in the path is checked whole and one that names it
 * in the body is checked for the role alone, so a caller the rule refuses
 * gets 403, not 400 or 413 for a body it was never allowed to send; once it
 * is (preHandler), the app the body names is checked.
 */
function check(req: FastifyRequest, body: boolean): ForbiddenError | null {
  const config = req.routeOptions.config as ApiRouteConfig;
  if (config.public === true) return null;
  const who = principalOf(req);
  if (who.role === 'admin') return null;
  const rule = config.access ?? ADMIN_ONLY;
  if (!body && rule.field !== undefined) return allows(who, rule.perm, null) ? null : refusal(who, rule, null);
  const app = ruleApp(rule, req);
  if (app === undefined ? allows(who, rule.perm, null) : allows(who, rule.perm, app)) return null;
  return refusal(who, rule, app);
}

function refusal(who: Principal, rule: AccessRule, app: string | null | undefined): ForbiddenError {
  if (rule.perm === 'admin') return new ForbiddenError(`forbidden: this needs the admin key or a key with role admin; ${JSON.stringify(who.name)} is a ${who.role} key`);
  const where = app ? `app ${JSON.stringify(app)}` : 'this app';
  return new ForbiddenError(`forbidden: the ${who.role} key ${JSON.stringify(who.name)} may not ${WHAT[rule.perm]} ${where}`);
}

function preParsing(req: FastifyRequest, _reply: FastifyReply, payload: RequestPayload, done: (err: Error | null, payload?: RequestPayload) => void): void {
  const refused = check(req, false);
  if (refused !== null) done(refused);
  else done(null, payload);
}

function preHandler(req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const config = req.routeOptions.config as ApiRouteConfig;
  // a rule without a body field was checked whole before the body was read
  if ((config.access ?? ADMIN_ONLY).field === undefined) return done();
  const refused = check(req, true);
  if (refused !== null) done(refused);
  else done();
}

/**
 * Registers `routes` in an encapsulated scope with the management edge above.
 * Fastify runs the registration when the server starts.
 */
export function apiScope(root: FastifyInstance, ctx: Context, routes: (api: FastifyInstance) => void): void {
  void root.register(async (api) => {
    api.removeAllContentTypeParsers();
    api.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: API_BODY_LIMIT }, parseJson);
    api.addHook('onRequest', onRequest(ctx));
    api.addHook('preParsing', preParsing);
    api.addHook('preHandler', preHandler);
    let table = tables.get(root);
    if (!table) tables.set(root, (table = []));
    const list = table;
    api.addHook('onRoute', (opts) => {
      const config = (opts.config ?? {}) as ApiRouteConfig;
      for (const method of [opts.method].flat()) {
        if (method === 'HEAD') continue;
        list.push({ method, url: opts.url, rule: config.public === true ? null : (config.access ?? ADMIN_ONLY) });
      }
    });
    routes(api);
  });
}
