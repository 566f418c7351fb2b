// `logplane tokens:create APP NAME`: POST /v3/channels/:app/tokens, which
// answers the name's token, made if the app has none (one token per name).
import { UsageError, appPath, checkApp, connect, out, parseCommandArgs, type Command } from './client.js';

export const tokensCreate: Command = {
  name: 'tokens:create',
  summary: "print an app's write token of a name, created if missing",
  usage: `usage: logplane tokens:create APP NAME [--json]
       logplane tokens:create NAME -a APP

Print APP's token named NAME, creating it when APP has none of that name
(only the token, so it can be captured by a script). NAME becomes the
source of every line written with the token (e.g. "app" for your
processes, "heroku" for platform lines: only an admin key gets that one).
An app has one token per name (SPEC 7), so calling this again prints the
same token. A developer key of APP may run it too.

To replace a token that leaked, an admin sets APP's token names without
NAME, then with it (PUT /v3/channels/APP, docs/api.md): the old token stops
working and NAME gets a new one.

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
