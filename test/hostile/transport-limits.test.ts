// Transport limits of the admission port, against the real listener:
// TLS 1.2 offers only forward-secret AEAD suites (with an ECDSA and an RSA
// key, and after a certificate reload); a connection that never sends a
// request, a request whose headers stall and one whose body stalls are each
// answered 408 and closed by the server; connections past the cap are
// refused and counted.
// The waits are real (Node's timers run in C++); each is bounded generously
// by a guard far below what the server took before (never, 60–90 s).
// @peculiar/x509 resolves its ASN.1 helpers through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect as connectTcp, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import * as x509 from '@peculiar/x509';
import t from 'tap';
import { writeDevCertificates } from '../../src/certs/issue.js';
import { TRANSPORT_LIMITS } from '../../src/server/transport.js';
import { startHarness, waitReady } from '../helpers/harness.js';
import { buildHostileApp, listenHostileApp } from '../helpers/hostile-app.js';
import { eventually, post } from '../helpers/https-client.js';

/** The negotiated suite, or `refused`. */
function handshake(port: number, ca: string, options: { ciphers?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', minVersion: 'TLSv1.2', maxVersion: options.maxVersion ?? 'TLSv1.2', ...(options.ciphers ? { ciphers: options.ciphers } : {}) }, () => {
      resolve(socket.getCipher().standardName);
      socket.destroy();
    });
    socket.on('error', () => resolve('refused'));
  });
}

/** A self-signed RSA certificate for localhost, as cert-manager issues by default. */
async function rsaPair(): Promise<{ cert: string; key: string }> {
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=localhost',
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: algorithm,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }])],
  });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: certificate.toString('pem'), key: x509.PemConverter.encode(der, 'PRIVATE KEY') };
}

const ECDSA_WEAK = ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA', 'ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA-AES256-SHA384'];

void t.test('TLS 1.2 with an ECDSA key: CBC suites refused, ECDHE with AEAD accepted; TLS 1.3 unchanged', async (t) => {
  const { port, ca } = await listenHostileApp(t, 'TLSv1.2');
  for (const cipher of ECDSA_WEAK) t.equal(await handshake(port, ca, { ciphers: cipher }), 'refused', `${cipher} refused`);
  t.equal(await handshake(port, ca, { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
  t.equal(await handshake(port, ca, { ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' }), 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256');
  t.equal(await handshake(port, ca, { maxVersion: 'TLSv1.3' }), 'TLS_AES_256_GCM_SHA384', 'TLS 1.3 negotiates as before');
});

void t.test('TLS 1.2 with an RSA key: no RSA key exchange, no CBC', async (t) => {
  const pair = await rsaPair();
  const built = buildHostileApp({ https: { ...pair, minVersion: 'TLSv1.2' } });
  await built.app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => built.app.close());
  const port = (built.app.server.address() as AddressInfo).port;
  for (const cipher of ['AES128-SHA', 'AES256-SHA', 'AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES128-SHA256']) {
    t.equal(await handshake(port, pair.cert, { ciphers: cipher }), 'refused', `${cipher} refused`);
  }
  t.equal(await handshake(port, pair.cert, { ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' }), 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384');
});

void t.test('a reloaded certificate keeps the suites (setSecureContext replaces every TLS setting)', async (t) => {
  const h = await startHarness(t, ['--tls-min-version', '1.2']);
  await waitReady(h);
  t.equal(await handshake(h.server.webhookPort, h.ca, { ciphers: ECDSA_WEAK[0] }), 'refused');
  const next = await writeDevCertificates(join(h.dir, 'next'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  writeFileSync(join(h.certDir, 'tls.crt'), next.server.cert);
  writeFileSync(join(h.certDir, 'tls.key'), next.server.key);
  await eventually(async () => (await handshake(h.server.webhookPort, next.ca.cert, {})) !== 'refused', 10_000, 'the new pair is served');
  t.equal(await handshake(h.server.webhookPort, next.ca.cert, { ciphers: ECDSA_WEAK[0] }), 'refused', 'after the reload too');
});

/** Opens a raw TLS connection, sends `text` (if any) and resolves with what the server sent before it closed. */
function closedByServer(port: number, ca: string, text: string | undefined, guardMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${guardMs} ms`));
    }, guardMs);
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      if (text !== undefined) socket.write(text);
    });
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(guard);
      resolve(received);
    });
  });
}

/** Two requests on one TLS connection, the second after `pauseMs` of idleness: both answers. */
function keepAlive(port: number, ca: string, pauseMs: number): Promise<string[]> {
  const request = 'POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';
  return new Promise((resolve, reject) => {
    const answers: string[] = [];
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => socket.write(request));
    socket.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      // Only a chunk that starts an answer counts (an answer may come in several).
      if (!text.startsWith('HTTP/1.1 ')) return;
      answers.push(text.split('\r\n')[0] ?? '');
      if (answers.length === 1) setTimeout(() => socket.write(request), pauseMs);
      else socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answers));
  });
}

void t.test('idle, stalled-header and stalled-body connections are closed by the server; idle keep-alive ones are not', async (t) => {
  const { port, ca } = await listenHostileApp(t);
  const head = 'POST /mutate-v1-pod HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n';
  const slack = 15_000;
  const [idle, headers, body, reused] = await Promise.all([
    closedByServer(port, ca, undefined, TRANSPORT_LIMITS.headersTimeoutMs + slack),
    closedByServer(port, ca, head, TRANSPORT_LIMITS.headersTimeoutMs + slack),
    closedByServer(port, ca, `${head}Content-Length: 1000\r\n\r\n{"apiVersi`, TRANSPORT_LIMITS.requestTimeoutMs + slack),
    keepAlive(port, ca, TRANSPORT_LIMITS.headersTimeoutMs + 3 * TRANSPORT_LIMITS.connectionsCheckingIntervalMs),
  ]);
  t.same(reused, ['HTTP/1.1 400 Bad Request', 'HTTP/1.1 400 Bad Request'], 'a keep-alive connection idle longer than the header timeout still serves');
  t.match(idle, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'a connection that sends nothing: 408');
  t.match(headers, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'stalled headers: 408');
  t.match(body, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'a stalled body: 408');
});

void t.test('connections past the cap are refused on arrival and counted; the listener caps at TRANSPORT_LIMITS.maxConnections', async (t) => {
  const { app, metrics, port, ca } = await listenHostileApp(t);
  t.equal(app.server.maxConnections, TRANSPORT_LIMITS.maxConnections);
  // The mechanism, at a cap a test can reach without thousands of sockets.
  app.server.maxConnections = 3;
  const open = (): Promise<Socket> => new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1', () => resolve(socket));
  });
  const held = [await open(), await open(), await open()];
  const refused = await open();
  await new Promise((resolve) => refused.on('close', resolve));
  await eventually(async () => (await metrics.connectionsRefused.get()).values[0]?.value === 1, 5_000, 'the refusal is counted');
  for (const socket of held) socket.destroy();
  await eventually(async () => (await post(port, '/validate', '{}', { ca }).catch(() => undefined))?.status === 400, 5_000, 'a freed slot serves again');
  t.pass('refused while full, served once a slot is free');
});
