import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createCertificateAuthority, issueServerCertificate } from '../../src/certs/issue.js';
import { isAppError } from '../../src/errors.js';
import { loadKeyPair } from '../../src/server/tls.js';

void t.test('loads a matching pair and reports its expiry', async (t) => {
  const ca = await createCertificateAuthority('test CA');
  const pair = await issueServerCertificate(ca, { dnsNames: ['localhost'], validDays: 30 });
  const dir = t.testdir({ 'tls.crt': pair.cert, 'tls.key': pair.key });
  const loaded = await loadKeyPair(dir);
  t.equal(loaded.cert, pair.cert);
  t.ok(loaded.notAfter.getTime() > Date.now() + 28 * 86400_000, 'notAfter about 30 days out');
  t.match(loaded.fingerprint, /^[0-9a-f]{64}$/);
});

void t.test('missing, garbage, half-written and mismatched pairs are typed errors', async (t) => {
  const ca = await createCertificateAuthority('test CA');
  const a = await issueServerCertificate(ca, { dnsNames: ['a'] });
  const b = await issueServerCertificate(ca, { dnsNames: ['b'] });
  const cases: [string, Record<string, string>, string, RegExp][] = [
    ['missing key', { 'tls.crt': a.cert }, 'WIA_ERR_TLS_KEYPAIR_MISSING', /cannot read tls\.crt and tls\.key/],
    ['garbage certificate', { 'tls.crt': 'hello', 'tls.key': a.key }, 'WIA_ERR_TLS_KEYPAIR_INVALID', /cannot be used/],
    ['half-written certificate', { 'tls.crt': a.cert.slice(0, a.cert.length / 2), 'tls.key': a.key }, 'WIA_ERR_TLS_KEYPAIR_INVALID', /cannot be used/],
    ['key of another certificate', { 'tls.crt': a.cert, 'tls.key': b.key }, 'WIA_ERR_TLS_KEYPAIR_INVALID', /tls\.key does not belong to tls\.crt/],
  ];
  for (const [name, files, code, pattern] of cases) {
    const dir = t.testdir(files);
    const err = await loadKeyPair(dir).then(() => undefined, (e: unknown) => e);
    t.ok(isAppError(err, code as never), `${name}: ${code}`);
    t.match((err as Error).message, pattern, name);
  }
  const dir = t.testdir({});
  writeFileSync(join(dir, 'tls.crt'), a.cert);
  writeFileSync(join(dir, 'tls.key'), a.key);
  t.ok(await loadKeyPair(dir), 'the same directory loads once the pair is whole');
});
