// The admission port speaks only modern TLS: with --tls-min-version 1.2 (the
// most permissive setting) a TLS 1.1 or 1.0 client is refused by the server
// itself, and so is plain HTTP. The client is configured to really offer the
// old protocol (security level 0), so a refusal is the server's, not ours:
// the alert the server sends ("alert protocol version") is asserted.
import { connect as connectPlain } from 'node:net';
import { connect } from 'node:tls';
import t from 'tap';
import { startHarness, waitReady } from '../helpers/harness.js';
import { post } from '../helpers/https-client.js';

function handshake(port: number, ca: string, version: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2'): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
      resolve(`connected with ${socket.getProtocol()}`);
      socket.destroy();
    });
    socket.on('error', (err) => resolve(`refused: ${err.message}`));
  });
}

void t.test('TLS 1.0 and 1.1 are refused by the server even at --tls-min-version 1.2; plain HTTP gets nothing', async (t) => {
  const h = await startHarness(t, ['--tls-min-version', '1.2']);
  await waitReady(h);
  t.equal(await handshake(h.server.webhookPort, h.ca, 'TLSv1.2'), 'connected with TLSv1.2', 'the client can speak TLS 1.2 to it');
  for (const version of ['TLSv1.1', 'TLSv1'] as const) {
    t.match(await handshake(h.server.webhookPort, h.ca, version), /^refused: .*alert protocol version/, `${version}: the server answers with a protocol_version alert`);
  }
  const plain = await new Promise<string>((resolve) => {
    const socket = connectPlain(h.server.webhookPort, '127.0.0.1', () => socket.end('POST /mutate-v1-pod HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'));
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('close', () => resolve(received));
    socket.on('error', () => resolve(received));
  });
  t.notMatch(plain, /HTTP\/1\.1 \d{3}/, 'plain HTTP gets no HTTP answer on the admission port');
  t.equal((await post(h.server.webhookPort, '/mutate-v1-pod', '{}', { ca: h.ca })).status, 400, 'while TLS clients are still served');
});
