// Builds the web console (src/console) into dist/console with esbuild:
// one minified ES module and one stylesheet under assets/, named by content
// hash (served as immutable), and index.html naming them (served no-cache).
// Run by `npm run build` after the type check (tsc -p src/console).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const out = 'dist/console';
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

const result = await build({
  entryPoints: { app: 'src/console/main.ts' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  sourcemap: 'linked',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((n) => n.endsWith('.js'));
const css = outputs.find((n) => n.endsWith('.css'));
if (!js || !css) throw new Error(`console build: expected a .js and a .css output, got ${outputs.join(', ')}`);

const icon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1b1d21"/><path d="M3 4h10M3 7h7M3 10h9M3 13h5" stroke="#4fc1ff" stroke-width="1.6"/></svg>`;
const iconName = `icon-${createHash('sha256').update(icon).digest('hex').slice(0, 8)}.svg`;
writeFileSync(join(out, 'assets', iconName), icon);

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>logplane</title>
<link rel="icon" href="/console/assets/${iconName}" type="image/svg+xml">
<link rel="stylesheet" href="/console/assets/${css}">
<script type="module" src="/console/assets/${js}"></script>
</head>
<body>
<div id="root"><noscript>The logplane console needs JavaScript.</noscript></div>
</body>
</html>
`;
writeFileSync(join(out, 'index.html'), html);
