// Send octet-counted syslog frames over TCP to a test server (token in APP-NAME).
import { connect } from 'node:net';

export function sendSyslog(port: number, msgs: string[]): Promise<void> {
  const payload = Buffer.concat(msgs.map((m) => Buffer.from(`${Buffer.byteLength(m)} ${m}`)));
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.end(payload));
    sock.once('error', reject);
    sock.once('close', () => resolve());
    sock.setTimeout(5000, () => sock.destroy(new Error('syslog socket timeout')));
  });
}
