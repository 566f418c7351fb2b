#!/usr/bin/env node
// The `logplane` command: dispatches to one file per command group.
// Errors are one line on stderr and a non-zero exit (2 = wrong usage).
import { apps, appsCreate, appsDestroy } from './apps.js';
import { CliError, discover, type Command } from './client.js';
import { configKey } from './config.js';
import { drainCommands } from './drains.js';
import { keys, keysCreate, keysRevoke, login, whoami } from './keys.js';
import { packageVersion } from './invocation.js';
import { logs } from './logs.js';
import { run } from './run.js';
import { send } from './send.js';
import { tokensCreate } from './tokens.js';

const SERVE_USAGE = `usage: logplane serve [--port N] [--host ADDR] [--data-dir DIR] [--syslog-port N] ...

Run the service. Every setting is a flag or an environment variable
(--port / LOGPLANE_PORT, --data-dir / LOGPLANE_DATA_DIR, ...); see
docs/operations.md. While it runs, <data-dir>/server.json tells a local
\`logplane\` CLI where to find it.`;

/** How drains:remove and drains:replay name a drain (cli/drains.ts). */
const DRAIN_KEY_HELP = `The drain is its id, its token, or its URL: as added, or as \`logplane drains\`
prints it (credentials hidden). When several drains look alike that way, give the id.
Needs a developer or admin key of APP.`;

/** The drain commands (cli/drains.ts), with the server found by the shared discovery. */
function drainCommand(name: keyof typeof drainCommands, summary: string, usage: string): Command {
  return {
    name,
    summary,
    usage,
    async run(argv) {
      await drainCommands[name](argv, {
        out: (text) => process.stdout.write(text),
        env: process.env,
        discover: async () => {
          const t = await discover();
          return { url: t.url, key: t.key, urlNote: t.urlNote, keyFrom: t.keyFrom };
        },
      });
    },
  };
}

const commands: readonly Command[] = [
  // loaded only for serve: the other commands stay quick to start
  { name: 'serve', summary: 'run the service', usage: SERVE_USAGE, run: async (argv) => (await import('./serve.js')).serve(argv) },
  apps,
  appsCreate,
  appsDestroy,
  tokensCreate,
  send,
  run,
  logs,
  drainCommand('drains', "list an app's drains with their state", 'usage: logplane drains -a APP [--json]\n\nList the drains of APP: id, URL (credentials hidden), state, delivered, dropped.'),
  drainCommand('drains:add', 'add a drain (https://, http://, syslog://, syslog+tls://)', 'usage: logplane drains:add URL -a APP [--source SOURCE] [--dyno DYNO] [--grep TEXT] [--json]\n\nEvery line of APP is delivered to URL (SPEC 6.2 schemes); with filters, only the lines\nof that source, of that dyno (web matches web.1) and containing TEXT.'),
  drainCommand('drains:remove', 'remove a drain by id, token or URL', `usage: logplane drains:remove ID|TOKEN|URL -a APP [--json]\n\n${DRAIN_KEY_HELP}`),
  drainCommand('drains:replay', "re-send a drain what the app's history holds", `usage: logplane drains:replay ID|TOKEN|URL -a APP (--num N | --after SEQ) [--json]\n\nQueue the newest N lines of the history (or those after SEQ) for the drain again, in order,\nafter an L10 line counting those the history no longer holds. Refused while the drain is failing.\n\n${DRAIN_KEY_HELP}`),
  drainCommand('drains:status', "each drain's delivery status in detail", 'usage: logplane drains:status -a APP [--json]\n\nState, filter, delivered, dropped (in all and in the last hour), latency p50/p99 (last 5 min),\nqueue depth, last success, last error, next retry.'),
  configKey,
  keys,
  keysCreate,
  keysRevoke,
  login,
  whoami,
];

function usage(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return `usage: logplane <command> [options]

${commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n')}

Run \`logplane <command> --help\` for a command's options,
\`logplane --version\` (-v) for the version.
The CLI finds the server by LOGPLANE_URL, else <data dir>/server.json, else
the url of ~/.config/logplane/credentials.json, else http://127.0.0.1:8601;
the key by LOGPLANE_API_KEY, else <data dir>/config.json (a local embedded
server) or <data dir>/server.json (a local node in distributed mode, while it
runs), else the key of credentials.json (\`logplane login\` stores it). The data dir is
LOGPLANE_DATA_DIR, else ./.logplane.
`;
}

/** --help / -h before any `--`. */
function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? commands.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(topic ? `${topic.usage}\n` : usage());
    return;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) throw new CliError(`unknown command ${JSON.stringify(name)}; run \`logplane --help\` for the list`, 2);
  if (wantsHelp(rest)) {
    process.stdout.write(`${cmd.usage}\n`);
    return;
  }
  await cmd.run(rest);
}

main(process.argv.slice(2)).catch((err: Error) => {
  // Exit even if stdin or a socket is still open (e.g. `tail -f | logplane send` after an error).
  process.stderr.write(`logplane: ${err.message}\n`, () => process.exit(err instanceof CliError ? err.exitCode : 1));
});
