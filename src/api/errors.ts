// One error shape for the API: `{"id": "<code>", "error": "<sentence>"}`,
// plus the Request-Id header on every response.
import { MISSING_HOST, genReqId, missingHost, rawErrorResponse } from '../basics/request-id.js';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, LimitError, LogplaneError } from '../errors.js';
import type { Context } from '../context.js';

export { genReqId };

/**
 * Errors Fastify raises before routing (the server's `frameworkErrors`), in
 * the same shape: a malformed percent-encoding in the path is 400 bad_url; a
 * path parameter over the router's limit (which server.ts sets so that none
 * can reach it) would be 404 like any unknown resource.
 */
export function frameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  reply.header('Request-Id', req.id);
  if (err.code === 'FST_ERR_BAD_URL') {
    void reply.code(400).send({ id: 'bad_url', error: 'the path is not valid percent-encoding' });
  } else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.code(404).send({ id: 'not_found', error: 'not found: a path parameter is too long' });
  } else {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    void reply.code(status).send(status === 500 ? { id: 'internal_error', error: 'internal error' } : { id: 'bad_request', error: err.message });
  }
}

/** The answer to a request Node's parser refused: [status, id, sentence]. */
function clientErrorAnswer(err: NodeJS.ErrnoException): [number, string, string] {
  // Node raises ERR_HTTP_REQUEST_TIMEOUT for the header timeout and the request timeout alike
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'request_timeout', 'request timeout: the request headers or body did not arrive in time'];
  // a URL too long is a header overflow too (Node has no 414)
  if (err.code === 'HPE_HEADER_OVERFLOW') return [431, 'headers_too_large', 'request headers too large: the request line and headers are over the limit'];
  return [400, 'bad_request', `bad request: not a valid HTTP request${err.code ? ` (${err.code})` : ''}`];
}

/**
 * Requests Node's HTTP parser refuses before any route sees them (the
 * server's `clientErrorHandler`, for every request on the HTTP port, POST
 * /logs's front included): stalled headers or body (408), headers or a URL
 * over the limit (431), not HTTP (400). Answered in the API's shape with a new
 * Request-Id (the request's own is not known this early), then the
 * connection is closed. Fastify's default answered its own shape without
 * either.
 */
export function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // reset by the client: nobody to answer
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, id, error] = clientErrorAnswer(err);
  if (socket.writable) socket.write(rawErrorResponse(status, genReqId({ headers: {} }), id, error));
  socket.destroy(err);
}


export function installErrorHandling(app: FastifyInstance, ctx: Context): void {
  app.addHook('onRequest', async (req, reply) => {
    reply.header('Request-Id', req.id);
    if (missingHost(req.raw)) {
      reply.header('Connection', 'close');
      throw new BadRequestError(MISSING_HOST, 'missing_host');
    }
  });
  app.setErrorHandler((err: FastifyError | LogplaneError, req, reply) => {
    if (err instanceof LogplaneError) {
      // No WWW-Authenticate here (SPEC 7 asks for a JSON 401, nothing more): a Basic challenge makes a browser
      // prompt for the key and then send it with every request to this origin, forged ones included (csrf.ts).
      // POST /logs sets its own (SPEC 3.1).
      if (err instanceof LimitError) reply.header('Retry-After', String(err.retryAfter));
      // the Heroku Platform subset: Heroku clients print `message`
      if (req.url.startsWith('/apps/')) return reply.code(err.status).send({ id: err.id, error: err.message, message: err.message });
      return reply.code(err.status).send({ id: err.id, error: err.message });
    }
    const fe = err as FastifyError;
    const status = fe.statusCode ?? 500;
    if (status >= 500) {
      ctx.log.error({ at: 'api.error', reqId: req.id, method: req.method, route: req.routeOptions.url, err: fe.message }, 'request failed');
      return reply.code(500).send({ id: 'internal_error', error: 'internal error' });
    }
    let id = 'bad_request';
    let message = fe.message;
    if (fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      id = 'invalid_json';
      message = `invalid JSON body: ${fe.message}`;
    } else if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      id = 'body_too_large';
      message = 'request body too large';
    } else if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      id = 'unsupported_media_type';
    } else if (fe.validation) {
      id = 'invalid_params';
    }
    return reply.code(status).send({ id, error: message });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ id: 'not_found', error: `no route for ${req.method} ${req.url.split('?')[0]}` });
  });
}
