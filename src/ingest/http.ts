// Logplex HTTP input: POST /logs with octet-counted frames (SPEC 3.1).
import type { FastifyInstance } from 'fastify';
import type { Context } from '../context.js';

export function registerHttpIngest(_app: FastifyInstance, _ctx: Context): void {
  // TODO(issue 2): POST /logs
}
