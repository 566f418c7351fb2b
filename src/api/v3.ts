// Logplex v3 management API (SPEC 7): channels, tokens, history, healthcheck.
import type { FastifyInstance } from 'fastify';
import type { Context } from '../context.js';

export function registerV3(_app: FastifyInstance, _ctx: Context): void {
  // TODO(issue 2): channels, tokens, GET /v3/channels/:app/logs, /v3/healthcheck
}
