#!/usr/bin/env node
// The `logplane` command: dispatches to one file per command group.
import { serve } from '../main.js';

const USAGE = `usage: logplane <command> [options]

  serve [--port N] [--data-dir DIR] ...   run the service
`;

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'serve':
      return serve(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`logplane: unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`logplane: ${err.message}\n`);
  process.exit(1);
});
