// `logplane tokens:create APP NAME`.
import { UsageError, appPath, checkApp, connect, out, parseCommandArgs, type Command } from './client.js';

export const tokensCreate: Command = {
  name: 'tokens:create',
  summary: 'create a write token for an app',
  usage: `usage: logplane tokens:create APP NAME [--json]
       logplane tokens:create NAME -a APP

Create a new token named NAME for APP and print it (only the token, so it can
be captured by a script). NAME becomes the source of every line written with
the token (e.g. "app" for your processes, "heroku" for platform lines).
Each call makes a new token; earlier ones keep working.

  --json   print {"token","name"}`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('tokens:create', argv, { app: { type: 'string', short: 'a' }, json: { type: 'boolean' } });
    const rest = [...positionals];
    const app = values.app ?? rest.shift();
    const name = rest.shift();
    if (!app || !name) throw new UsageError('need an app and a token name: logplane tokens:create APP NAME', 'tokens:create');
    if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`, 'tokens:create');
    checkApp(app);
    const client = await connect();
    const { data } = await client.json<{ token: string; name: string }>('POST', `${appPath(app)}/tokens`, [200, 201], { json: { name }, app });
    out(values.json ? JSON.stringify(data) : data.token);
  },
};
