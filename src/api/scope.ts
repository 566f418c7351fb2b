// The management API's edge, in one place for every admin route (v3
// channels, tokens, history, drains, sessions v2/v3, the Heroku Platform
// subset). Routes registered through apiScope get:
//   - the admin key checked on arrival (onRequest), before any of the body is
//     parsed or buffered; an unauthenticated request with a body over the cap
//     (or chunked) is answered 401 and its connection closed, so that body is
//     not even read to be discarded;
//   - one body rule: JSON whatever Content-Type the client declared (curl -d
//     says application/x-www-form-urlencoded), read by one parser; a body
//     that does not parse is 400 invalid_json; an empty body is no body;
//   - a body cap of API_BODY_LIMIT (413 body_too_large), far below the ingest
//     limit: POST /logs lives in its own scope with its own auth and limit.
// A route without the key check says `config: { public: true }`.
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Context } from '../context.js';
import { BadRequestError, UnauthorizedError } from '../errors.js';
import { isAdmin } from './auth.js';

/** Largest management request body, bytes. */
export const API_BODY_LIMIT = 64 * 1024;

/** Route config read by the scope's hook. */
export interface ApiRouteConfig {
  /** No admin key needed (the healthcheck). */
  public?: boolean;
}

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

/** Any body, whatever its declared type, as JSON; empty is no body. */
function parseJson(_req: FastifyRequest, body: string, done: (err: Error | null, body?: unknown) => void): void {
  if (body.length === 0) return done(null, undefined);
  try {
    done(null, JSON.parse(body));
  } catch (err) {
    done(new BadRequestError(`invalid JSON body: ${(err as Error).message}`, 'invalid_json'));
  }
}

function onRequest(ctx: Context) {
  return (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    // The declared type is not consulted: without it every body reaches the one
    // parser, parseJson (Fastify would answer 415 to a type no parser claims,
    // or one it finds malformed, before any parser runs).
    delete req.raw.headers['content-type'];
    if ((req.routeOptions.config as ApiRouteConfig).public === true) return done();
    if (isAdmin(req.headers.authorization, ctx.registry.apiKey)) return done();
    if (largeBody(req)) reply.header('Connection', 'close');
    done(new UnauthorizedError('Unauthorized: a valid API key is required'));
  };
}

/**
 * Registers `routes` in an encapsulated scope with the management edge above.
 * Fastify runs the registration when the server starts.
 */
export function apiScope(root: FastifyInstance, ctx: Context, routes: (api: FastifyInstance) => void): void {
  void root.register(async (api) => {
    api.removeAllContentTypeParsers();
    api.addContentTypeParser('*', { parseAs: 'string', bodyLimit: API_BODY_LIMIT }, parseJson);
    api.addHook('onRequest', onRequest(ctx));
    routes(api);
  });
}
