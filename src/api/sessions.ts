// HTTP side of sessions (SPEC 5.1, 5.2): POST /v3/sessions and /v2/sessions
// (Logplex), GET /sessions/:id over SSE or chunked text, and the WebSocket
// gateway on the same server. The Heroku Platform API's log-sessions is in
// api/platform.ts and creates sessions through the same service.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../context.js';
import { NotFoundError, BadRequestError } from '../errors.js';
import { apiScope, principalOf } from './scope.js';
import { DEFAULT_NUM, type SessionSpec } from '../tail/session.js';
import type { TailService } from '../tail/service.js';
import { intField, objectBody, parseSeq, stringField } from '../tail/params.js';
import { SseTailSink } from '../tail/sse.js';
import { TextTailSink } from '../tail/text.js';
import { WsGateway } from '../tail/ws.js';

/** The URL of a session: `<public>/sessions/<uuid4>`. */
export function sessionUrl(ctx: Context, id: string): string {
  return `${ctx.publicUrl}/sessions/${id}`;
}

/** Caps `num` at the ring size: more cannot be held anyway. */
export function clampNum(ctx: Context, n: number | null): number {
  return Math.min(n ?? DEFAULT_NUM, ctx.config.historyLines);
}

/** Body of POST /v3/sessions and /v2/sessions → spec; app existence is checked by the caller. */
function logplexSpec(ctx: Context, raw: unknown): SessionSpec {
  const body = objectBody(raw);
  const app = body.channel_id;
  if (typeof app !== 'string' || app === '') throw new BadRequestError('channel_id: required string', 'invalid_params');
  const ps = stringField(body, 'ps');
  const dyno = stringField(body, 'dyno');
  return {
    app,
    num: clampNum(ctx, intField(body, 'num')),
    // Logplex: `tail` present (whatever its value) means tail
    tail: Object.prototype.hasOwnProperty.call(body, 'tail'),
    source: stringField(body, 'source'),
    dyno: ps ?? dyno,
    grep: stringField(body, 'grep'),
    after: intField(body, 'after'),
  };
}

/**
 * Whether an Accept header asks for Server-Sent Events (SPEC 5.2): a
 * `text/event-stream` range (media types are case-insensitive, RFC 9110
 * 8.3.1) whose weight is not 0 (q=0 is "not acceptable", RFC 9110 12.4.2).
 */
export function acceptsEventStream(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    if (type !== 'text/event-stream') return false;
    const q = params.find((p) => /^q\s*=/.test(p));
    return q === undefined || Number(q.slice(q.indexOf('=') + 1).trim()) !== 0;
  });
}

/** The session routes and the WebSocket gateway, serving the tails of `service`. */
export function registerSessions(http: FastifyInstance, ctx: Context, service: TailService): void {
  const gateway = new WsGateway(service, http.server);
  service.closers.push(() => gateway.close());

  const create = (v3: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    const spec = logplexSpec(ctx, req.body);
    const app = await ctx.registry.current(spec.app);
    if (!app) return reply.code(422).send({ error: 'channel not found' });
    // the session carries its creator's scope: it stops working when the key no longer reaches the app
    const session = await service.createSession(app, { ...spec, keyId: principalOf(req).keyId });
    const url = sessionUrl(ctx, session.id);
    if (v3) reply.header('Location', url);
    return reply.code(201).send({ url });
  };
  // any key that reaches the app (channel_id); the key, the JSON body and its cap are the management scope's
  apiScope(http, ctx, (api) => {
    const config = { access: { perm: 'read', field: 'channel_id' } } as const;
    api.post('/v3/sessions', { config }, create(true));
    api.post('/v2/sessions', { config }, create(false));
  });

  type SessionRequest = FastifyRequest<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>;
  /** What GET and HEAD share: the session, the transport (SPEC 5.2) and the resume point; errors are the API's. */
  const readRequest = async (req: SessionRequest) => {
    const found = await service.lookupAnywhere(req.params.id); // distributed mode: a session made on another node
    if (!found) throw new NotFoundError('session not found or expired');
    const sse = acceptsEventStream(req.headers.accept);
    // resume point: Last-Event-ID (an SSE reconnect) wins over ?after=
    let after: number | null = null;
    const q = req.query.after;
    if (q !== undefined && q !== '') {
      const n = parseSeq(q);
      if (n === undefined) throw new BadRequestError('after: must be a non-negative integer', 'invalid_params');
      after = n;
    }
    const last = req.headers['last-event-id'];
    if (sse && typeof last === 'string' && last !== '') {
      const n = parseSeq(last.trim());
      if (n !== undefined) after = n;
    }
    const headers = {
      'Content-Type': sse ? 'text/event-stream' : 'text/plain; charset=utf-8',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
      'Request-Id': req.id,
    };
    return { found, sse, after, headers };
  };

  // fastify's automatic HEAD would run the GET handler: a tail opened for a response without a body,
  // holding a reader (and the connection) until the client went away. HEAD answers the GET's headers and ends.
  http.get('/sessions/:id', { exposeHeadRoute: false }, async (req: SessionRequest, reply) => {
    const { found, sse, after, headers } = await readRequest(req);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, headers);
    res.flushHeaders();
    const clock = service.options.clock;
    const sink = sse ? new SseTailSink(res, clock, after ?? found.session.spec.after) : new TextTailSink(res, clock);
    res.on('error', () => {
      /* peer reset: 'close' follows */
    });
    const tail = service.open(found.session, found.app, sink, after);
    res.on('close', () => tail.close());
  });
  http.head('/sessions/:id', async (req: SessionRequest, reply) => {
    const { headers } = await readRequest(req);
    return reply.code(200).headers(headers).send();
  });
}
