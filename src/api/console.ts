// The web console (SPEC 13): GET / serves the single-page app that
// `npm run build` bundled into dist/console (scripts/build-console.mjs), and
// GET /console/assets/<name> its assets. No key is needed to load the page:
// the page holds no data, and every data call it makes carries the key the
// user signed in with. Asset names carry a content hash, so they are cached
// for a year as immutable; index.html is revalidated on every load (ETag).
// Every answer carries a strict Content-Security-Policy: only this origin's
// scripts, styles, images and connections (WebSocket included), nothing
// inline, no framing.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where `npm run build` puts the console, from dist/src/api/console.js. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));
export const ASSET_PREFIX = '/console/assets/';

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function load(path: string, type: string): Asset {
  const body = readFileSync(path);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** The built console, read once; null when it was not built. */
function loadConsole(dir: string): { index: Asset; assets: Map<string, Asset> } | null {
  try {
    const index = load(join(dir, 'index.html'), 'text/html; charset=utf-8');
    const assets = new Map<string, Asset>();
    for (const name of readdirSync(join(dir, 'assets'))) {
      const type = TYPES[extname(name)];
      if (type) assets.set(name, load(join(dir, 'assets', name), type));
    }
    return { index, assets };
  } catch {
    return null;
  }
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('Content-Security-Policy', CONSOLE_CSP)
    .header('X-Content-Type-Options', 'nosniff')
    .header('Referrer-Policy', 'no-referrer')
    .header('X-Frame-Options', 'DENY');
}

export function registerConsole(http: FastifyInstance, dir: string = CONSOLE_DIR): void {
  const built = loadConsole(dir);

  http.get('/', async (req, reply) => {
    secure(reply);
    if (!built) {
      reply.code(503).type('text/plain; charset=utf-8');
      return 'The web console is not built: run `npm run build`.\n';
    }
    const { index } = built;
    reply.header('Cache-Control', 'no-cache').header('ETag', index.etag).type(index.type);
    if (req.headers['if-none-match'] === index.etag) return reply.code(304).send();
    return index.body;
  });

  http.get<{ Params: { name: string } }>(`${ASSET_PREFIX}:name`, async (req, reply) => {
    secure(reply);
    const a = built?.assets.get(req.params.name);
    if (!a) {
      reply.code(404);
      return { id: 'not_found', error: 'no such console asset' };
    }
    reply.header('Cache-Control', 'public, max-age=31536000, immutable').header('ETag', a.etag).type(a.type);
    return a.body;
  });
}
