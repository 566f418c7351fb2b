// Private-address guard (SPEC 6.2). Drains must not reach loopback,
// link-local, private, or otherwise special ranges unless the operator allows
// it (LOGPLANE_DRAIN_ALLOW_PRIVATE=1). The check that counts is made at connect
// time on the resolved address, through a `lookup` function handed to
// net/tls/https, so a name that resolves (or re-resolves) to 127.0.0.1 is
// refused too. An API-time check gives an early 422 for the obvious cases.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
// IPv4
blocked.addSubnet('0.0.0.0', 8, 'ipv4'); // "this network"
blocked.addSubnet('10.0.0.0', 8, 'ipv4'); // private
blocked.addSubnet('100.64.0.0', 10, 'ipv4'); // carrier-grade NAT
blocked.addSubnet('127.0.0.0', 8, 'ipv4'); // loopback
blocked.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local (cloud metadata)
blocked.addSubnet('172.16.0.0', 12, 'ipv4'); // private
blocked.addSubnet('192.0.0.0', 24, 'ipv4'); // IETF protocol assignments
blocked.addSubnet('192.168.0.0', 16, 'ipv4'); // private
blocked.addSubnet('198.18.0.0', 15, 'ipv4'); // benchmarking
blocked.addSubnet('224.0.0.0', 4, 'ipv4'); // multicast
blocked.addSubnet('240.0.0.0', 4, 'ipv4'); // reserved, broadcast
// IPv6 (IPv4-mapped addresses are matched against the IPv4 rules by BlockList)
blocked.addAddress('::', 'ipv6'); // unspecified
blocked.addAddress('::1', 'ipv6'); // loopback
blocked.addSubnet('fc00::', 7, 'ipv6'); // unique local
blocked.addSubnet('fe80::', 10, 'ipv6'); // link-local
blocked.addSubnet('fec0::', 10, 'ipv6'); // site-local (deprecated)
blocked.addSubnet('ff00::', 8, 'ipv6'); // multicast
blocked.addSubnet('64:ff9b:1::', 48, 'ipv6'); // local-use NAT64

/** 16 bytes of an IPv6 address (valid per isIP), or null. */
function ipv6Bytes(address: string): number[] | null {
  let a = address;
  const pct = a.indexOf('%');
  if (pct !== -1) a = a.slice(0, pct);
  let tail: number[] = [];
  const lastColon = a.lastIndexOf(':');
  const last = a.slice(lastColon + 1);
  if (last.includes('.')) {
    tail = last.split('.').map(Number);
    a = `${a.slice(0, lastColon + 1)}0:0`;
  }
  const halves = a.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const head = parse(halves[0]!);
  const rest = halves.length > 1 ? parse(halves[1]!) : [];
  const words = halves.length > 1 ? [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest] : head;
  if (words.length !== 8) return null;
  const out: number[] = [];
  for (const w of words) out.push(w >> 8, w & 0xff);
  if (tail.length === 4) out.splice(12, 4, ...tail);
  return out;
}

/** True for loopback, link-local, private and other non-public addresses. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 4) return blocked.check(address, 'ipv4');
  const b = ipv6Bytes(address);
  if (b) {
    const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
    const v4 = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
    // 6to4 2002:AABB:CCDD::/48 (RFC 3056) is routed to the IPv4 AA.BB.CC.DD in bits 16-47: judge that
    if (b[0] === 0x20 && b[1] === 0x02) return blocked.check(`${b[2]}.${b[3]}.${b[4]}.${b[5]}`, 'ipv4');
    // IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, IPv4-compatible ::/96: judge the embedded IPv4
    if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return blocked.check(v4, 'ipv4');
    if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return blocked.check(v4, 'ipv4');
    if (zero(0, 12) && !zero(12, 14)) return blocked.check(v4, 'ipv4');
  }
  return blocked.check(address, 'ipv6');
}

/**
 * How a refused address is allowed, in every refusal. The check runs in the
 * library, under both `logplane serve` (environment or flag) and an embedding
 * program (createLogplane's settings: the process environment is not read),
 * so the hint names the setting both ways.
 */
const ALLOW_HINT = 'allow with LOGPLANE_DRAIN_ALLOW_PRIVATE=1 or --drain-allow-private for logplane serve; settings: { LOGPLANE_DRAIN_ALLOW_PRIVATE: true } for createLogplane';

/** Error given to the connecting socket when the resolved address is refused. */
export class PrivateAddressError extends Error {
  readonly code = 'EPRIVATE';
  readonly address: string;
  constructor(host: string, address: string) {
    const what = host === address ? address : `${host} resolves to ${address}, which`;
    super(`${what} is a private, loopback or link-local address (${ALLOW_HINT})`);
    this.name = 'PrivateAddressError';
    this.address = address;
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
/** The dns.lookup shape net/tls/http call (`all` may be true: happy eyeballs). */
export type Lookup = (hostname: string, options: { all?: boolean; family?: number | string; hints?: number }, callback: LookupCallback) => void;

export const systemLookup: Lookup = dnsLookup as unknown as Lookup;

/**
 * A lookup for net/tls/https that refuses private addresses after resolution
 * (unless allowed). Hands every address through when allowed.
 */
export function guardedLookup(allowPrivate: boolean, base: Lookup = systemLookup): Lookup {
  if (allowPrivate) return base;
  return (hostname, options, callback) => {
    base(hostname, options, (err, address, family) => {
      if (err) return callback(err, address, family);
      if (Array.isArray(address)) {
        const bad = address.find((a) => isPrivateAddress(a.address));
        if (bad) return callback(new PrivateAddressError(hostname, bad.address), []);
        return callback(null, address);
      }
      if (isPrivateAddress(address)) return callback(new PrivateAddressError(hostname, address), '', family);
      callback(null, address, family);
    });
  };
}

/**
 * Check before connecting: IP literals skip `lookup` in net, so check them
 * here. Returns the error to fail with, or null.
 */
export function checkLiteral(host: string, allowPrivate: boolean): PrivateAddressError | null {
  if (allowPrivate || isIP(host) === 0) return null;
  return isPrivateAddress(host) ? new PrivateAddressError(host, host) : null;
}

/**
 * API-time check: the reason a drain host is refused, or null. `localhost`
 * and names under `.localhost` are refused by name; other names are resolved
 * once (briefly); a name that does not resolve now is accepted and checked
 * again at every connect.
 */
export async function refusedHost(host: string, allowPrivate: boolean, base: Lookup = systemLookup, timeoutMs = 2000): Promise<string | null> {
  if (allowPrivate) return null;
  const lit = checkLiteral(host, false);
  if (lit) return lit.message;
  if (isIP(host) !== 0) return null;
  // RFC 6761: localhost and every name under .localhost are loopback, whether or not this machine's resolver knows them
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return `${host} is a loopback name (RFC 6761), a private, loopback or link-local address (${ALLOW_HINT})`;
  const addrs = await new Promise<LookupAddress[]>((resolve) => {
    const t = setTimeout(() => resolve([]), timeoutMs);
    base(host, { all: true }, (err, address) => {
      clearTimeout(t);
      resolve(err || !Array.isArray(address) ? [] : address);
    });
  });
  const bad = addrs.find((a) => isPrivateAddress(a.address));
  return bad ? new PrivateAddressError(host, bad.address).message : null;
}
