// The servers the tests start do not write audit lines for changes made with
// the admin key (SPEC 12 writes them by default: LOGPLANE_AUDIT_ADMIN_KEY):
// most tests set up apps, tokens and drains with the admin key and then count
// the lines an app's stream, tail or drain gets. The audit lines themselves,
// and that the default writes them, are tested in
// test/integration/access_keys.test.ts, which starts its server with the
// default (startServer's adminAudit).
export const QUIET_AUDIT: Record<string, string> = { LOGPLANE_AUDIT_ADMIN_KEY: '0' };
