// Drain URLs read one way (docs/drains.md, "URLs"): each class of input two
// URL parsers could read differently is refused with 422 and a reason, on
// every scheme; what is accepted connects to the host its display form
// names (checked over combinations of tricky parts against WHATWG URL).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { displayUrl, parseDrainUrl } from '../../src/drains/url.js';
import { UnprocessableError } from '../../src/errors.js';

const SCHEMES = ['https', 'http', 'syslog', 'syslog+tls'] as const;

function refused(url: string, re: RegExp): void {
  assert.throws(
    () => parseDrainUrl(url),
    (e: unknown) => e instanceof UnprocessableError && e.status === 422 && e.id === 'invalid_url' && re.test(e.message),
    JSON.stringify(url),
  );
  assert.equal(displayUrl(url), '***', `display of ${JSON.stringify(url)}`);
}

describe('drain URLs two parsers read differently are refused', () => {
  test('a backslash anywhere, on every scheme', () => {
    refused('http://127.0.0.1:19001\\@logs.example.com/ingest', /backslash/);
    refused('https://logs.example.com\\@127.0.0.1/', /backslash/);
    refused('https://logs.example.com/a\\b', /backslash/);
    refused('https://u\\ser:pw@logs.example.com/', /backslash/);
    for (const s of SCHEMES) refused(`${s}://127.0.0.1:601\\@logs.example.com`, /backslash/);
    refused('http:\\\\logs.example.com/', /backslash/);
  });

  test('whitespace and control characters anywhere (WHATWG drops TAB, CR, LF; trims the ends)', () => {
    refused('https://user\nFAKE[router]:at=error\n:pw@logs2.example.com/', /line feed at offset 12/);
    refused('https://logs.exa\tmple.com/', /a tab/);
    refused('https://logs.example.com/x\r\nHost: evil', /carriage return/);
    refused(' https://logs.example.com/', /a space at offset 0/);
    refused('https://logs.example.com/ ', /a space/);
    refused('https://logs.example.com/a b', /a space/);
    refused('https://logs.example.com/\u0000', /U\+0000/);
    refused('https://logs.example.com/\u007f', /U\+007F/);
    for (const s of SCHEMES) refused(`${s}://logs.exa\nmple.com`, /line feed/);
  });

  test('non-ASCII anywhere: IDNA would map the host (fullwidth letters, ideographic full stop), paths go out as UTF-8 or Latin-1', () => {
    refused('https://exämple.com/', /ASCII/);
    refused('https://ｅｘａｍｐｌｅ.com/', /ASCII/);
    refused('https://logs.example.com\u3002evil.com/', /ASCII/);
    refused('https://logs.example.com/café', /ASCII/);
    refused('syslog+tls://exämple.com', /ASCII/);
    assert.equal(parseDrainUrl('https://xn--exmple-cua.com/caf%C3%A9').host, 'xn--exmple-cua.com');
  });

  test('the authority: one @ at most, userinfo of RFC 3986 characters, a host written as the host it is', () => {
    refused('http://user:pw@evil.example@logs.example.com/', /more than one @/);
    refused('https://@logs.example.com/', /nothing before @/);
    refused('https://us[er:pw@logs.example.com/', /user name may hold only .* offset 2 of it/);
    refused('https://user:p{w@logs.example.com/', /password may hold only .* offset 1 of it/);
    refused('https://user:p%zz@logs.example.com/', /% not followed by two hex digits/);
    refused('https://user:p%FF@logs.example.com/', /UTF-8/);
    refused('https://us%3Aer:pw@logs.example.com/', /user name must not decode to ':'/);
    refused('https://logs%2eexample.com/', /host may hold only/);
    refused('https://ex%61mple.com/', /host may hold only/);
    refused('http:///logs.example.com/x', /must have a host/);
    for (const h of ['127.1', '0x7f.0.0.1', '0177.0.0.1', '2130706433', '127.0.0.01', '1.2.3.4.5', 'logs.123']) {
      for (const s of SCHEMES) refused(`${s}://${h}`, /IPv4 address as four decimal numbers/);
    }
    refused('https://[fe80::1%25eth0]/', /zone ids/);
    refused('https://[::1/', /end with \]/);
    refused('https://[::1]x/', /only :port/);
    refused('https://[1.2.3.4]/', /not an IPv6 address/);
  });

  test('the port: decimal 1-65535 without leading zeros, not empty', () => {
    for (const p of ['', '080', '0', '65536', '80:90', '8o', '0x50']) refused(`https://logs.example.com:${p}/`, /port must be 1-65535/);
    assert.equal(parseDrainUrl('https://logs.example.com:65535/').port, 65535);
    assert.equal(parseDrainUrl('https://logs.example.com:443/').port, 443);
  });

  test('what is accepted reads the same to WHATWG URL', () => {
    const t = parseDrainUrl('HTTPS://u%40s:p%3Ass@Logs.Example.COM:8443/a%20b/c?x=1&y=%zz#insecure');
    assert.deepEqual([t.kind, t.host, t.port, t.path, t.insecure], ['https', 'logs.example.com', 8443, '/a%20b/c?x=1&y=%zz', true]);
    assert.equal(t.authorization, `Basic ${Buffer.from('u@s:p:ss').toString('base64')}`);
    assert.equal(t.display, 'HTTPS://u%40s:***@Logs.Example.COM:8443/a%20b/c?x=***&y=***#insecure');
    assert.equal(parseDrainUrl('http://[::FFFF:127.0.0.1]:8080/x').host, '::ffff:7f00:1');
    assert.equal(parseDrainUrl('syslog://Logs.Example.com:514').host, 'logs.example.com');
    assert.equal(parseDrainUrl('http://a_b.example.com./').host, 'a_b.example.com.');
  });
});

describe('the display form (SPEC 12) is built from the parsed parts', () => {
  test('user:password, query values and a port', () => {
    const cases: Array<[string, string]> = [
      ['https://user:hunter2@logs.example.com:8443/x?apikey=sekrit&tag=web&flag', 'https://user:***@logs.example.com:8443/x?apikey=***&tag=***&flag'],
      ['http://user:hunter2@127.0.0.1:19001/ingest', 'http://user:***@127.0.0.1:19001/ingest'],
      ['https://user@logs.example.com/', 'https://user@logs.example.com/'],
      ['https://user:@logs.example.com/', 'https://user:***@logs.example.com/'],
      ['http://logs.example.com?q=1', 'http://logs.example.com?q=***'],
      ['https://[2001:db8::1]:8443/a?k=v', 'https://[2001:db8::1]:8443/a?k=***'],
      ['syslog+tls://logs.example.com:6514#insecure', 'syslog+tls://logs.example.com:6514#insecure'],
    ];
    for (const [url, want] of cases) {
      assert.equal(displayUrl(url), want, url);
      assert.equal(parseDrainUrl(url).display, want, url);
    }
  });

  test('over combinations of tricky parts: refused, or the host shown is the host connected to', () => {
    const users = ['', 'user@', 'user:pw@', 'a:b:c@', 'u%40x:p%40y@', 'evil.example@', 'evil.example\\@', 'x@evil.example@', 'u\n:p@', ':p@'];
    const hosts = ['logs.example.com', 'LOGS.example.com', '127.0.0.1', '127.1', '[::1]', 'evil.example\\', 'evil.example\t', 'ex%61mple.com', 'exämple.com', '0x7f.1', ''];
    const ports = ['', ':443', ':19001', ':080', ':', '\\:80'];
    const rests = ['', '/', '/x?k=v', '\\@logs.example.com/x', '?@logs.example.com', '#@logs.example.com', '#insecure'];
    let accepted = 0;
    for (const scheme of SCHEMES) {
      for (const u of users) {
        for (const h of hosts) {
          for (const p of ports) {
            for (const r of rests) {
              const url = `${scheme}://${u}${h}${p}${r}`;
              let target;
              try {
                target = parseDrainUrl(url);
              } catch (e) {
                assert.ok(e instanceof UnprocessableError, url);
                continue;
              }
              accepted++;
              // the connect-to host and port are WHATWG's
              const w = new URL(url);
              const wHost = w.hostname.startsWith('[') ? w.hostname.slice(1, -1) : w.hostname.toLowerCase();
              assert.equal(target.host, wHost, url);
              if (w.port !== '') assert.equal(target.port, Number(w.port), url);
              // the display form names that same host and port
              const shown = target.display;
              const start = shown.indexOf('://') + 3;
              const stop = shown.slice(start).search(/[/?#]/);
              const authority = stop === -1 ? shown.slice(start) : shown.slice(start, start + stop);
              const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
              const d = new URL(`http://${hostPort}`);
              assert.equal(d.hostname.startsWith('[') ? d.hostname.slice(1, -1) : d.hostname, target.host, url);
              if (d.port !== '') assert.equal(Number(d.port), target.port, url);
              assert.equal(displayUrl(url), shown, url);
            }
          }
        }
      }
    }
    assert.ok(accepted > 100, `accepted ${accepted}`);
  });
});

describe('logplane drains (CLI) prints a stored URL', () => {
  test('without user:password, and as *** when its raw text holds what parsers read apart or a terminal acts on', async () => {
    const { hideCredentials } = await import('../../src/cli/drains.js');
    assert.equal(hideCredentials('https://user:pw@logs.example.com:8443/x?k=v'), 'https://logs.example.com:8443/x?k=v');
    assert.equal(hideCredentials('syslog+tls://logs.example.com:6514'), 'syslog+tls://logs.example.com:6514');
    for (const bad of ['http://127.0.0.1:19001\\@logs.example.com/ingest', 'https://user\nFAKE[router]:x\n:pw@h.example.com/', 'https://h.example.com/\u001b[2J', 'https://h.exämple.com/', 'https://h.example.com/a b']) {
      assert.equal(hideCredentials(bad), '***', JSON.stringify(bad));
    }
  });
});
