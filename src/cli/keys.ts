// API keys from the CLI (SPEC 12): `logplane keys`, `keys:create`,
// `keys:revoke` (admin key needed), `logplane whoami` (any key), and `logplane login`, which stores a URL
// and a key in ~/.config/logplane/credentials.json (mode 0600) so that an app
// developer's CLI works with their own key.
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { ApiClient, CliError, DEFAULT_URL, UsageError, checkApp, connect, credentialsPath, networkReason, out, parseCommandArgs, table, unreachable, type Command } from './client.js';

interface KeyJson {
  id: string;
  key?: string;
  name: string;
  role: string;
  apps: string[];
  created_at: string;
}

const ROLES = ['viewer', 'developer', 'admin'];

/** Names login shows; an admin key may see up to a page of 1,000 apps, which is no line to read. */
const LOGIN_APPS_SHOWN = 10;

/**
 * `3 apps: a, b, c`, or `1000 apps: <first 10> and 990 more`; `more` (the
 * page of 1,000 has a next page) makes the count a lower bound: `1000+ apps`.
 */
export function appsSummary(apps: string[], more: boolean): string {
  if (apps.length === 0) return 'no apps yet';
  const plus = more ? '+' : '';
  const count = `${apps.length}${plus} app${apps.length === 1 && !more ? '' : 's'}`;
  const rest = apps.length - LOGIN_APPS_SHOWN;
  const tail = rest > 0 ? ` and ${rest}${plus} more` : more ? ' and more' : '';
  return `${count}: ${apps.slice(0, LOGIN_APPS_SHOWN).join(', ')}${tail}`;
}

export const whoami: Command = {
  name: 'whoami',
  summary: 'which key the CLI is using: its name, role and apps',
  usage: `usage: logplane whoami [--json]

Print the name, role and apps of the key the CLI sends (GET /v3/account),
and the server it talks to. Any key may ask.`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('whoami', argv, { json: { type: 'boolean' } });
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, 'whoami');
    const client = await connect();
    const { data } = await client.json<{ id: string | null; name: string; role: string; apps: string[] | null }>('GET', '/v3/account', [200]);
    if (values.json) return out(JSON.stringify(data));
    const apps = data.apps === null ? 'every app' : data.apps.length ? `apps ${data.apps.join(', ')}` : 'no apps';
    out(`${data.name} (${data.role}; ${apps}) on ${client.target.url}`);
  },
};

export const keys: Command = {
  name: 'keys',
  summary: 'list API keys (admin)',
  usage: `usage: logplane keys [--json]

List the API keys: id, name, role and apps (never a secret). Needs the admin
key (or a key with role admin).`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('keys', argv, { json: { type: 'boolean' } });
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, 'keys');
    const client = await connect();
    const { data } = await client.json<KeyJson[]>('GET', '/v3/keys', [200]);
    if (values.json) return out(JSON.stringify(data));
    if (data.length === 0) return out('no API keys (create one with logplane keys:create NAME --role viewer -a APP)');
    const rows = [['ID', 'NAME', 'ROLE', 'APPS'], ...data.map((k) => [k.id, k.name, k.role, k.role === 'admin' ? '(all)' : k.apps.join(',') || '(none)'])];
    for (const line of table(rows)) out(line);
  },
};

export const keysCreate: Command = {
  name: 'keys:create',
  summary: 'create an API key for some apps (admin)',
  usage: `usage: logplane keys:create NAME --role viewer|developer|admin -a APP [-a APP2 ...] [--json]

Create an API key named NAME and print its secret (only the secret, so a
script can capture it). The secret is shown this once: the server keeps only
its hash. viewer: read the apps' logs and drains; developer: also add and
remove drains and create tokens; admin: everything (no -a needed).

  --json   print {"id","key","name","role","apps","created_at"}`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('keys:create', argv, { role: { type: 'string', short: 'r' }, app: { type: 'string', short: 'a', multiple: true }, json: { type: 'boolean' } });
    const [name, ...rest] = positionals;
    if (!name) throw new UsageError('missing the key name: logplane keys:create NAME --role ROLE -a APP', 'keys:create');
    if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`, 'keys:create');
    const role = values.role;
    if (!role) throw new UsageError(`missing --role (${ROLES.join(', ')})`, 'keys:create');
    if (!ROLES.includes(role)) throw new UsageError(`unknown role ${JSON.stringify(role)}: use ${ROLES.join(', ')}`, 'keys:create');
    const apps = (values.app ?? []).map(checkApp);
    if (apps.length === 0 && role !== 'admin') throw new UsageError(`a ${role} key needs at least one app: pass -a APP`, 'keys:create');
    const client = await connect();
    const { data } = await client.json<KeyJson>('POST', '/v3/keys', [201], { json: { name, role, apps } });
    if (values.json) return out(JSON.stringify(data));
    out(data.key ?? '');
    if (process.stderr.isTTY) process.stderr.write(`created ${data.id} (${data.role}${data.apps.length ? ` of ${data.apps.join(', ')}` : ''}); store the key now: it is not shown again\n`);
  },
};

export const keysRevoke: Command = {
  name: 'keys:revoke',
  summary: 'revoke an API key (admin)',
  usage: `usage: logplane keys:revoke ID

Revoke the key with this id (k_..., see logplane keys). It stops working on
every node within a second; its live tails end.`,
  async run(argv) {
    const { positionals } = parseCommandArgs('keys:revoke', argv, {});
    const [id, ...rest] = positionals;
    if (!id) throw new UsageError('missing the key id (k_..., see logplane keys)', 'keys:revoke');
    if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`, 'keys:revoke');
    const client = await connect();
    const res = await client.request('DELETE', `/v3/keys/${encodeURIComponent(id)}`);
    if (res.status === 404) throw new CliError(`no key ${JSON.stringify(id)} (see logplane keys)`);
    if (res.status !== 204) throw client.failure(res);
    out(`revoked ${id}`);
  },
};

/** Lines of stdin when it is not a terminal (scripts: `printf 'URL\nKEY\n' | logplane login`). */
async function pipedLines(): Promise<string[]> {
  let text = '';
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) text += chunk.toString('utf8');
  return text.split(/\r?\n/);
}

/** Ask on the terminal; `hidden` echoes nothing (the key). */
function ask(question: string, hidden: boolean): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const r = rl as unknown as { _writeToOutput(s: string): void; output: NodeJS.WritableStream };
  if (hidden) {
    r._writeToOutput = (s: string) => {
      // the prompt itself, and the newline at the end; never the typed key
      if (s.startsWith(question) || s === '\r\n' || s === '\n') r.output.write(s.startsWith(question) ? question : s);
    };
  }
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer);
    });
  });
}

export const login: Command = {
  name: 'login',
  summary: 'store a server URL and your API key for this CLI',
  usage: `usage: logplane login [--url URL]

Ask for the server URL and an API key, check them against the server, and
store them in ~/.config/logplane/credentials.json (mode 0600). Every command
then uses them when LOGPLANE_URL / LOGPLANE_API_KEY are unset and no local
server is found. Not on a terminal, the URL (unless --url) and the key are
read as lines from stdin.`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('login', argv, { url: { type: 'string' } });
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, 'login');
    const fallback = process.env['LOGPLANE_URL']?.trim() || DEFAULT_URL;
    let url = values.url;
    let key: string;
    if (process.stdin.isTTY) {
      url ??= (await ask(`logplane URL [${fallback}]: `, false)).trim() || fallback;
      key = (await ask('API key: ', true)).trim();
    } else {
      const lines = await pipedLines();
      if (url === undefined) url = lines.shift()?.trim() || fallback;
      key = (lines.shift() ?? '').trim();
    }
    url = url.replace(/\/+$/, '');
    if (!/^https?:\/\/[^/]/i.test(url)) throw new CliError(`the server URL must be an http:// or https:// URL (got ${JSON.stringify(url)})`, 2);
    if (key === '') throw new CliError('no API key given', 2);
    const client = new ApiClient({ url, key, dataDir: '', keyFrom: 'the key given to login', urlNote: '' });
    let res;
    try {
      res = await client.request('GET', '/v3/channels?limit=1000');
    } catch (err) {
      throw err instanceof CliError ? err : new CliError(unreachable({ url, urlNote: '' }, networkReason(err)));
    }
    if (res.status === 401) throw new CliError(`the server at ${url} refused that key; nothing was stored`);
    if (res.status !== 200) throw client.failure(res);
    let apps: string[] = [];
    let more = false;
    try {
      const page = JSON.parse(res.body.toString('utf8')) as { channels: Array<{ channel: string }>; next?: string | null };
      apps = page.channels.map((c) => c.channel);
      more = typeof page.next === 'string';
    } catch {
      throw new CliError(`${url} does not answer like a logplane server; nothing was stored`);
    }
    const path = credentialsPath(process.env);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // mkdir leaves a directory that was there as it was: ours holds a key, so no one else lists or enters it
    await chmod(dirname(path), 0o700);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ url, key })}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
    out(`logged in to ${url} (${appsSummary(apps, more)}); saved in ${path}`);
  },
};
