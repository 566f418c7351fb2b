// `logplane apps`, `apps:create APP`, `apps:destroy APP`.
import { CliError, UsageError, appPath, connect, out, parseCommandArgs, requireApp, table, type Command } from './client.js';
import { cliCommand } from './invocation.js';

interface ChannelJson {
  channel: string;
  tokens: Record<string, string>;
  drains: unknown[];
}

interface ListEntry {
  channel: string;
  created_at: string;
  token_names: string[];
  drains: number;
  stats: { lines_in: number; bytes_in: number; ring_lines: number; ring_bytes: number; last_seq: number; rate_limited?: number };
}

interface ListPage {
  channels: ListEntry[];
  next: string | null;
}

/** Page size the CLI asks for; it follows `next` until the end. */
const PAGE = 500;

function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

export const apps: Command = {
  name: 'apps',
  summary: 'list apps with their line counts',
  usage: `usage: logplane apps [--json]

List every app (channel) on the server, with lines received since the server
started, bytes received, and lines held in its history.

  --json   print the raw list as JSON (one array)`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('apps', argv, { json: { type: 'boolean' } });
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, 'apps');
    const client = await connect();
    const all: ListEntry[] = [];
    let after: string | null = null;
    for (;;) {
      const q: string = `?limit=${PAGE}${after !== null ? `&after=${encodeURIComponent(after)}` : ''}`;
      const { data }: { data: ListPage } = await client.json<ListPage>('GET', `/v3/channels${q}`, [200]);
      all.push(...data.channels);
      if (data.next === null || data.channels.length === 0) break;
      after = data.next;
    }
    if (values.json) {
      out(JSON.stringify(all, null, 2));
      return;
    }
    if (all.length === 0) {
      out(`No apps yet. Create one with: ${cliCommand()} apps:create APP`);
      return;
    }
    const rows = [['APP', 'LINES IN', 'BYTES IN', 'HISTORY', 'TOKENS', 'DRAINS']];
    for (const a of all) {
      rows.push([a.channel, String(a.stats.lines_in), humanBytes(a.stats.bytes_in), String(a.stats.ring_lines), a.token_names.join(',') || '-', String(a.drains)]);
    }
    for (const line of table(rows)) out(line);
  },
};

export const appsCreate: Command = {
  name: 'apps:create',
  summary: 'create an app (with a token named "app")',
  usage: `usage: logplane apps:create APP [--json]

Create the app APP (a name matching [a-z0-9][a-z0-9._-]{0,99}) with one
token named "app", and print the token. Send syslog with the token as
APP-NAME, or POST /logs with it as the Basic-auth password.
Fails if the app already exists.

  --json   print the created channel as JSON`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('apps:create', argv, { app: { type: 'string', short: 'a' }, json: { type: 'boolean' } });
    const app = requireApp('apps:create', values.app, positionals);
    const client = await connect();
    const res = await client.request('PUT', appPath(app), { json: { tokens: ['app'] }, headers: { 'if-none-match': '*' } });
    if (res.status === 412) throw new CliError(`app ${JSON.stringify(app)} already exists`);
    if (res.status !== 201 && res.status !== 200) throw client.failure(res, app);
    const ch = JSON.parse(res.body.toString('utf8')) as ChannelJson;
    if (values.json) {
      out(JSON.stringify(ch, null, 2));
      return;
    }
    out(`Created ${ch.channel}`);
    for (const [name, token] of Object.entries(ch.tokens)) out(`  token ${name}: ${token}`);
  },
};

export const appsDestroy: Command = {
  name: 'apps:destroy',
  summary: 'destroy an app, its tokens, drains and history',
  usage: `usage: logplane apps:destroy APP

Destroy the app APP: its tokens stop working, its drains stop, its history is
dropped. This cannot be undone.`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('apps:destroy', argv, { app: { type: 'string', short: 'a' } });
    const app = requireApp('apps:destroy', values.app, positionals);
    const client = await connect();
    await client.json('DELETE', appPath(app), [204], { app });
    out(`Destroyed ${app}`);
  },
};
