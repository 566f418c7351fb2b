// loadConfig: flags over environment over defaults; every problem listed at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaults, hostPort, loadConfig, publicBaseUrl } from '../../src/config.js';
import { ConfigError, ErrorCode } from '../../src/errors.js';

function problemsOf(argv: string[], env: Record<string, string>): readonly string[] {
  try {
    loadConfig(argv, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, ErrorCode.CONFIG);
    for (const p of err.problems) assert.ok(err.message.includes(p), 'the message lists every problem');
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('defaults when nothing is given; the result is frozen', () => {
  const c = loadConfig([], {});
  // every default pinned as a literal (SPEC 2, 3.1, 5.4, 6, docs/drains.md, docs/operations.md):
  // comparing with the module's own `defaults` would pass whatever they were changed to
  const pinned = {
    port: 8601,
    host: '127.0.0.1',
    syslogPort: 6001,
    syslogTlsPort: null,
    tlsCert: null,
    tlsKey: null,
    apiKey: null,
    dataDir: './.logplane',
    historyLines: 1500,
    redisUrl: null,
    redisCluster: false,
    publicUrl: null,
    maxBodyBytes: 8 * 1024 * 1024,
    frameIdTtlMs: 5 * 60 * 1000,
    drainQueueBytes: 4 * 1024 * 1024,
    drainBudgetBytes: 256 * 1024 * 1024,
    drainBurstBytes: 64 * 1024 * 1024,
    maxDrainsPerApp: 5,
    drainReplaysPerMinute: 6,
    maxTokensPerApp: 100,
    drainAllowPrivate: false,
    drainRetries: 5,
    drainBackoffBaseMs: 500,
    drainBackoffMaxMs: 30_000,
    drainConnectTimeoutMs: 3000,
    drainResponseTimeoutMs: 5000,
    drainReconnectBaseMs: 1000,
    drainReconnectMaxMs: 300_000,
    drainFlushTimeoutMs: 5000,
    tailQueueLines: 1024,
    maxSessions: 100_000,
    maxSessionsPerKey: 1000,
    maxSessionsPerApp: 10_000,
    sessionAdminReservePercent: 5,
    logLevel: 'info',
    ingestWorkers: 1,
    heapHeadroomMb: 96,
    // SPEC 17
    maxConnections: 10_000,
    maxConnectionsPerIp: 1000,
    syslogIdleMs: 10 * 60 * 1000,
    tlsHandshakeMs: 10_000,
    httpHeadersTimeoutMs: 10_000,
    httpRequestTimeoutMs: 60_000,
    httpKeepAliveMs: 60_000,
    appRateLines: 0,
    authFailureLimit: 20,
    authThrottleLoopback: false,
    auditAdminKey: true,
    metricsKey: null,
  };
  assert.deepEqual({ ...c }, pinned);
  assert.deepEqual({ ...defaults }, pinned);
  assert.ok(Object.isFrozen(c));
  assert.throws(() => {
    (c as { port: number }).port = 1;
  }, TypeError);
});

test('environment over defaults', () => {
  const c = loadConfig([], {
    LOGPLANE_PORT: '9000',
    LOGPLANE_HOST: '0.0.0.0',
    LOGPLANE_SYSLOG_PORT: '0',
    LOGPLANE_HISTORY_LINES: '20',
    LOGPLANE_DATA_DIR: '/tmp/x',
    REDIS_URL: 'redis://127.0.0.1:6379/0',
    LOGPLANE_PUBLIC_URL: 'https://logs.example.com//',
    LOGPLANE_DRAIN_ALLOW_PRIVATE: 'yes',
    LOGPLANE_LOG_LEVEL: 'debug',
    LOGPLANE_API_KEY: 'k'.repeat(16),
    UNRELATED: 'ignored',
  });
  assert.equal(c.port, 9000);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.syslogPort, 0);
  assert.equal(c.historyLines, 20);
  assert.equal(c.dataDir, '/tmp/x');
  assert.equal(c.redisUrl, 'redis://127.0.0.1:6379/0');
  assert.equal(c.publicUrl, 'https://logs.example.com');
  assert.equal(c.drainAllowPrivate, true);
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.apiKey, 'k'.repeat(16));
  assert.equal(publicBaseUrl(c, 1234), 'https://logs.example.com');
  assert.equal(publicBaseUrl(loadConfig([], { LOGPLANE_HOST: '0.0.0.0' }), 1234), 'http://127.0.0.1:1234');
  assert.equal(publicBaseUrl(loadConfig([], { LOGPLANE_HOST: '::1' }), 1234), 'http://[::1]:1234');
});

test('flags over environment, in both --flag value and --flag=value forms', () => {
  const env = { LOGPLANE_PORT: '9000', LOGPLANE_HISTORY_LINES: '20', LOGPLANE_DRAIN_ALLOW_PRIVATE: '1', LOGPLANE_DATA_DIR: '/env' };
  const c = loadConfig(['--port', '9100', '--history-lines=30', '--drain-allow-private=off', '--data-dir', '/flag'], env);
  assert.equal(c.port, 9100);
  assert.equal(c.historyLines, 30);
  assert.equal(c.drainAllowPrivate, false);
  assert.equal(c.dataDir, '/flag');
  // env still applies where no flag is given
  assert.equal(loadConfig(['--port', '1'], env).historyLines, 20);
  // a bare boolean flag means true, also before another flag
  assert.equal(loadConfig(['--drain-allow-private'], {}).drainAllowPrivate, true);
  const d = loadConfig(['--drain-allow-private', '--port', '5'], { LOGPLANE_DRAIN_ALLOW_PRIVATE: 'false' });
  assert.equal(d.drainAllowPrivate, true);
  assert.equal(d.port, 5);
  // the last of a repeated flag wins
  assert.equal(loadConfig(['--port', '1', '--port=2'], {}).port, 2);
});

test('every problem is listed at once', () => {
  const problems = problemsOf(
    ['stray', '--nope', '--syslog-port', '70000', '--history-lines=abc', '--max-drains-per-app', '-1', '--host'],
    {
      LOGPLANE_PORT: 'http',
      LOGPLANE_HISTORY_LINES: '0',
      REDIS_URL: 'http://not-redis',
      LOGPLANE_PUBLIC_URL: 'ftp://x',
      LOGPLANE_LOG_LEVEL: 'loud',
      LOGPLANE_DRAIN_ALLOW_PRIVATE: 'maybe',
      LOGPLANE_API_KEY: 'short',
      LOGPLANE_DATA_DIR: '',
      LOGPLANE_TLS_CERT: '/c.pem',
    },
  );
  // LOGPLANE_HISTORY_LINES is not read: --history-lines overrides it
  const want = [
    'LOGPLANE_PORT',
    'REDIS_URL',
    'LOGPLANE_PUBLIC_URL',
    'LOGPLANE_LOG_LEVEL',
    'LOGPLANE_DRAIN_ALLOW_PRIVATE',
    'LOGPLANE_DATA_DIR',
    '--nope',
    '"stray"',
    '--syslog-port',
    '--history-lines',
    '--max-drains-per-app',
    '--host needs a value',
    'syslog TLS needs all of',
    'LOGPLANE_API_KEY: must be at least 16',
  ];
  for (const w of want) assert.ok(problems.some((p) => p.includes(w)), `a problem mentions ${w}:\n${problems.join('\n')}`);
  assert.equal(problems.length, want.length, problems.join('\n'));
});

test('bad values name the setting and the value', () => {
  const [p] = problemsOf([], { LOGPLANE_SYSLOG_PORT: '65536' });
  assert.equal(p, 'LOGPLANE_SYSLOG_PORT: must be a port number 0-65535 (got "65536")');
  const [q] = problemsOf(['--history-lines', '1000001'], {});
  assert.equal(q, '--history-lines: must be at most 1000000 (got "1000001")');
  assert.equal(loadConfig(['--history-lines', '1000000'], {}).historyLines, 1_000_000);
  assert.equal(loadConfig([], { LOGPLANE_PORT: '65535' }).port, 65535);
});

test('a flag replaces its environment variable, which is then not read: a bad value there does not stop the start', () => {
  assert.equal(loadConfig(['--history-lines', '10'], { LOGPLANE_HISTORY_LINES: 'abc' }).historyLines, 10);
  assert.equal(loadConfig(['--port=9'], { LOGPLANE_PORT: 'http' }).port, 9);
  assert.equal(loadConfig(['--api-key', 'k'.repeat(16)], { LOGPLANE_API_KEY: 'short' }).apiKey, 'k'.repeat(16));
});

test('a problem names the setting as the user gave it: the flag for a flag, the variable for a variable', () => {
  assert.deepEqual(problemsOf(['--api-key', 'short'], {}), ['--api-key: must be at least 16 characters']);
  assert.deepEqual(problemsOf([], { LOGPLANE_API_KEY: 'short' }), ['LOGPLANE_API_KEY: must be at least 16 characters']);
  assert.deepEqual(problemsOf(['--syslog-tls-port', '6514'], {}), ['syslog TLS needs all of --syslog-tls-port, --tls-cert and --tls-key']);
  // two settings checked together: named as flags when the user set either by flag
  assert.deepEqual(problemsOf(['--drain-queue-bytes', '2097152'], { LOGPLANE_DRAIN_BUDGET_BYTES: '1048576' }), ['--drain-budget-bytes: must be at least --drain-queue-bytes (2097152)']);
});

test('syslog TLS needs port, certificate and key together', () => {
  const parts = { LOGPLANE_SYSLOG_TLS_PORT: '6514', LOGPLANE_TLS_CERT: '/c.pem', LOGPLANE_TLS_KEY: '/k.pem' };
  const c = loadConfig([], parts);
  assert.equal(c.syslogTlsPort, 6514);
  assert.equal(c.tlsCert, '/c.pem');
  assert.equal(c.tlsKey, '/k.pem');
  for (const drop of Object.keys(parts)) {
    const env: Record<string, string> = { ...parts };
    delete env[drop];
    assert.deepEqual(problemsOf([], env), ['syslog TLS needs all of LOGPLANE_SYSLOG_TLS_PORT, LOGPLANE_TLS_CERT and LOGPLANE_TLS_KEY']);
  }
  for (const only of Object.entries(parts)) {
    assert.equal(problemsOf([], Object.fromEntries([only])).length, 1);
  }
  // flags count too
  const f = loadConfig(['--syslog-tls-port', '0', '--tls-cert', '/c', '--tls-key=/k'], {});
  assert.equal(f.syslogTlsPort, 0);
  assert.equal(problemsOf(['--tls-key=/k'], {}).length, 1);
});

test('drain queues are bounded by bytes: per drain and node-wide, validated together', () => {
  const d = loadConfig([], {});
  assert.equal(d.drainQueueBytes, 4 * 1024 * 1024);
  assert.equal(d.drainBudgetBytes, 256 * 1024 * 1024);
  const c = loadConfig(['--drain-queue-bytes', '65536'], { LOGPLANE_DRAIN_BUDGET_BYTES: '1048576' });
  assert.equal(c.drainQueueBytes, 65536);
  assert.equal(c.drainBudgetBytes, 1048576);
  assert.deepEqual(problemsOf([], { LOGPLANE_DRAIN_QUEUE_BYTES: '100' }), ['LOGPLANE_DRAIN_QUEUE_BYTES: must be at least 1024 (got "100")']);
  assert.deepEqual(problemsOf([], { LOGPLANE_DRAIN_QUEUE_BYTES: '2048', LOGPLANE_DRAIN_BUDGET_BYTES: '1024' }), ['LOGPLANE_DRAIN_BUDGET_BYTES: must be at least LOGPLANE_DRAIN_QUEUE_BYTES (2048)']);
  // the burst ceiling: at least the queue (equal turns borrowing off), and may exceed the budget (which bounds it)
  assert.equal(d.drainBurstBytes, 64 * 1024 * 1024);
  const b = loadConfig(['--drain-burst-bytes=65536'], { LOGPLANE_DRAIN_QUEUE_BYTES: '65536', LOGPLANE_DRAIN_BUDGET_BYTES: '65536' });
  assert.equal(b.drainBurstBytes, 65536);
  assert.equal(loadConfig([], { LOGPLANE_DRAIN_BURST_BYTES: String(2 ** 31), LOGPLANE_DRAIN_BUDGET_BYTES: String(2 ** 23) }).drainBurstBytes, 2 ** 31);
  assert.deepEqual(problemsOf([], { LOGPLANE_DRAIN_BURST_BYTES: 'lots' }), ['LOGPLANE_DRAIN_BURST_BYTES: must be a whole number (got "lots")']);
  assert.deepEqual(problemsOf([], { LOGPLANE_DRAIN_QUEUE_BYTES: String(128 << 20) }), [`LOGPLANE_DRAIN_BURST_BYTES: must be at least LOGPLANE_DRAIN_QUEUE_BYTES (${128 << 20}); equal turns burst borrowing off`]);
  // the old line bound is refused rather than silently ignored
  const [old] = problemsOf([], { LOGPLANE_DRAIN_QUEUE_LINES: '50000' });
  assert.match(old!, /^LOGPLANE_DRAIN_QUEUE_LINES: no longer used; drain queues are bounded by bytes/);
});

test('a Redis Cluster is named by redis-cluster://host:port,host:port or LOGPLANE_REDIS_CLUSTER; a malformed seed list is refused', () => {
  const c = loadConfig([], { REDIS_URL: 'redis-cluster://10.0.0.1:7000,10.0.0.2:7000' });
  assert.equal(c.redisUrl, 'redis-cluster://10.0.0.1:7000,10.0.0.2:7000');
  assert.equal(loadConfig([], { REDIS_URL: 'redis://10.0.0.1:7000', LOGPLANE_REDIS_CLUSTER: '1' }).redisCluster, true);
  assert.throws(() => loadConfig([], { REDIS_URL: 'redis-cluster://10.0.0.1,10.0.0.2:7000' }), /REDIS_URL: must list host:port/);
  assert.throws(() => loadConfig([], { REDIS_URL: 'redis://x', LOGPLANE_REDIS_CLUSTER: 'maybe' }), /LOGPLANE_REDIS_CLUSTER/);
});

test('LOGPLANE_HEAP_HEADROOM_MB takes 0-65536 MB and nothing else', () => {
  assert.equal(loadConfig([], { LOGPLANE_HEAP_HEADROOM_MB: '0' }).heapHeadroomMb, 0);
  assert.deepEqual(problemsOf([], { LOGPLANE_HEAP_HEADROOM_MB: '-1' }), ['LOGPLANE_HEAP_HEADROOM_MB: must be a whole number (got "-1")']);
  assert.deepEqual(problemsOf([], { LOGPLANE_HEAP_HEADROOM_MB: '65537' }), ['LOGPLANE_HEAP_HEADROOM_MB: must be at most 65536 (got "65537")']);
  assert.deepEqual(problemsOf(['--heap-headroom-mb', 'lots'], {}), ['--heap-headroom-mb: must be a whole number (got "lots")']);
});

test('no credential in a problem: URLs shown with their user and password as ***, secret settings and the values of unknown flags never shown', () => {
  const secrets = ['SECRETPW', 'CLUSTERPW', 'FLAGPW', 'PUBPW', 'SHORTKEY', 'lpk_STRAYVALUE', 'OTHERPW'];
  const problems = problemsOf(['--redis-cluster', 'rediss://u:FLAGPW@h:1', '--apikey', 'lpk_STRAYVALUE', '--metric-key=OTHERPW'], {
    REDIS_URL: 'rediss//u:SECRETPW@h:1',
    LOGPLANE_PUBLIC_URL: 'ftp://u:PUBPW@logs.example.com',
    LOGPLANE_API_KEY: 'SHORTKEY',
  });
  const text = problems.join('\n');
  for (const s of secrets) assert.ok(!text.includes(s), `a problem shows ${s}: ${text}`);
  assert.ok(problems.includes('REDIS_URL: must be a URL (got "rediss//***@h:1")'), text);
  assert.ok(problems.includes('LOGPLANE_PUBLIC_URL: must be an http:// or https:// URL (got "ftp://***@logs.example.com")'), text);
  assert.ok(problems.includes('--redis-cluster: must be 1/0, true/false, yes/no or on/off (got "rediss://***@h:1")'), text);
  assert.ok(problems.includes('unknown flag --apikey') && problems.includes('unknown flag --metric-key'), text);
  assert.ok(problems.includes('LOGPLANE_API_KEY: must be at least 16 characters'), text);
  // a redis-cluster:// seed list that does not parse, and a stray argument holding a URL
  const more = problemsOf(['stray://a:STRAYPW@b'], { REDIS_URL: 'redis-cluster://u:CLUSTERPW@h1,h2' }).join('\n');
  assert.ok(!more.includes('CLUSTERPW') && !more.includes('STRAYPW'), more);
  assert.ok(more.includes('redis-cluster://***@h1,h2'), more);
});

test('the start message writes a listener as clients do: an IPv6 address in brackets', () => {
  // before: "syslog TCP + UDP: ::1:6001", which no syslog client takes
  assert.equal(hostPort('::1', 6001), '[::1]:6001');
  assert.equal(hostPort('127.0.0.1', 6001), '127.0.0.1:6001');
  assert.equal(publicBaseUrl(loadConfig([], { LOGPLANE_HOST: '::1' }), 8601), 'http://[::1]:8601');
});
