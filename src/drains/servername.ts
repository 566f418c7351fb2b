// The TLS server name (SNI) a drain sends for its host.
import { isIP } from 'node:net';

/**
 * tls.connect's `servername` option for a drain host: none for an IP literal
 * (RFC 6066 section 3 allows no literals), and a fully qualified name without
 * its trailing dot (`host.example.` sends `host.example`: the HostName is
 * written without it). Node checks the certificate against `servername`, and
 * its own check ignores a trailing dot too, so both agree.
 */
export function tlsServername(host: string): { servername?: string } {
  if (isIP(host) !== 0) return {};
  return { servername: host.endsWith('.') ? host.slice(0, -1) : host };
}
