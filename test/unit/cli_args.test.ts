// The CLI's one argument parser (client.ts parseCommandArgs): every command's
// wrong invocation is our one line, exit 2, with a pointer to --help, never
// Node's parseArgs text. No server is contacted: arguments are checked first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/cli/client.js';
import { drainsAdd, drainsRemove, drainsReplay, type CliIO } from '../../src/cli/drains.js';
import { parseLogsArgs } from '../../src/cli/tail.js';

/** fn's error: a UsageError (exit 2) with exactly this text. */
async function usage(fn: () => unknown, text: string): Promise<void> {
  await assert.rejects(async () => fn(), (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.equal(e.exitCode, 2);
    assert.equal(e.message, text);
    return true;
  });
}

test('logs: a wrong option is our text, not parseArgs\'', async () => {
  // a value starting with '-' is the option's value, which -n then refuses as it documents
  await usage(() => parseLogsArgs(['-a', 'myapp', '-n', '-1']), `-n must be a whole number, 0 to ${Number.MAX_SAFE_INTEGER} (got "-1") (see: logplane logs --help)`);
  await usage(() => parseLogsArgs(['-a', 'myapp', '--bogus']), 'unknown option --bogus (see: logplane logs --help)');
  await usage(() => parseLogsArgs(['-a', 'myapp', '-tx']), 'unknown option -x (see: logplane logs --help)');
  await usage(() => parseLogsArgs(['-a', 'myapp', '-n']), '-n needs a value (see: logplane logs --help)');
  await usage(() => parseLogsArgs(['-a', 'myapp', '--json=yes']), '--json takes no value (see: logplane logs --help)');
  // what worked still does
  assert.equal(parseLogsArgs(['-a', 'myapp', '-tn20']).num, 20);
  assert.equal(parseLogsArgs(['--app=myapp', '--num=0']).num, 0);
});

test('drains:add, drains:remove, drains:replay: a wrong invocation is a usage error (exit 2, see --help), as in every other command', async () => {
  const io: CliIO = { out: () => assert.fail('nothing printed'), env: {}, discover: async () => assert.fail('no server asked') };
  await usage(() => drainsAdd(['-a', 'myapp'], io), 'missing the drain URL (see: logplane drains:add --help)');
  await usage(() => drainsAdd(['https://a.example/x', 'https://b.example/x', '-a', 'myapp'], io), 'unexpected argument "https://b.example/x" (see: logplane drains:add --help)');
  await usage(() => drainsAdd(['https://a.example/x'], io), 'missing app: pass -a APP (see: logplane drains:add --help)');
  await usage(() => drainsAdd(['https://a.example/x', '-a', 'myapp', '--grep'], io), '--grep needs a value (see: logplane drains:add --help)');
  await usage(() => drainsAdd(['https://a.example/x', '-a', 'myapp', '--bogus'], io), 'unknown option --bogus (see: logplane drains:add --help)');
  await usage(() => drainsRemove(['-a', 'myapp'], io), "missing the drain's ID, TOKEN or URL (see: logplane drains:remove --help)");
  await usage(() => drainsReplay(['x', '-a', 'myapp'], io), 'give --num N (the newest N lines) or --after SEQ (the lines after that seq) (see: logplane drains:replay --help)');
  await usage(() => drainsReplay(['x', '-a', 'myapp', '--num', 'abc'], io), '--num must be a whole number (got "abc") (see: logplane drains:replay --help)');
});
