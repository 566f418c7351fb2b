// `logplane config:key`: print the admin key a local `logplane serve` saved
// in its data dir, so it can be handed to other tools (the heroku CLI, curl).
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CliError, UsageError, dataDirOf, out, parseCommandArgs, type Command } from './client.js';
import { pidAlive } from '../basics/pid.js';
import { readRunFile } from './runfile.js';

export const configKey: Command = {
  name: 'config:key',
  summary: 'print the admin API key saved in the local data dir',
  usage: `usage: logplane config:key [--data-dir DIR]

Print the admin API key that \`logplane serve\` keeps in DIR/config.json
(DIR: --data-dir, else LOGPLANE_DATA_DIR, else ./.logplane), and nothing else,
so it can be captured:

  HEROKU_HOST=http://127.0.0.1:8601 HEROKU_API_KEY=$(logplane config:key) heroku logs -a myapp

A node in distributed mode (REDIS_URL) keeps its key in DIR/server.json while
it runs (Redis keeps only the key's SHA-256): that one is printed when DIR has
no config.json.`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('config:key', argv, { 'data-dir': { type: 'string' } });
    if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, 'config:key');
    const dir = values['data-dir'] ? resolve(values['data-dir']) : dataDirOf(process.env);
    const path = join(dir, 'config.json');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        // a distributed-mode node running with this data dir
        const run = await readRunFile(dir);
        if (run?.apiKey !== undefined && pidAlive(run.pid)) return out(run.apiKey);
        throw new CliError(`no admin key: ${path} does not exist; start the server once with \`logplane serve\` here (it makes one), or point --data-dir or LOGPLANE_DATA_DIR at the server's data dir`);
      }
      throw new CliError(`cannot read ${path}: ${code ?? (err as Error).message}`);
    }
    let key: unknown;
    try {
      key = (JSON.parse(text) as { apiKey?: unknown }).apiKey;
    } catch {
      throw new CliError(`${path} is not JSON (damaged?)`);
    }
    if (typeof key !== 'string' || key === '') {
      throw new CliError(`no admin key in ${path}; start the server once with \`logplane serve\` (it makes one)`);
    }
    out(key);
  },
};
