import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createCertificateAuthority, issueServerCertificate } from '../../src/certs/issue.js';
import { SelfManagedCertificates, type CertificateStore } from '../../src/certs/self-managed.js';
import { createLogSink } from '../helpers/log-sink.js';

/** An in-memory Secret with the API server's optimistic concurrency. */
class FakeCertificateStore implements CertificateStore {
  secret: { data: Record<string, string>; resourceVersion: string } | undefined;
  bundles: string[] = [];
  writes = 0;
  private rv = 1;

  async readSecret() {
    await new Promise((r) => setImmediate(r)); // let concurrent replicas interleave
    return this.secret ? { data: { ...this.secret.data }, resourceVersion: this.secret.resourceVersion } : undefined;
  }

  async writeSecret(data: Readonly<Record<string, string>>, resourceVersion: string | undefined) {
    await new Promise((r) => setImmediate(r));
    if ((this.secret?.resourceVersion ?? undefined) !== resourceVersion) return 'conflict' as const;
    this.writes++;
    this.secret = { data: { ...data }, resourceVersion: String(++this.rv) };
    return 'written' as const;
  }

  async injectCaBundle(caPem: string) {
    this.bundles.push(caPem);
  }
}

const hosts = ['wi.wi-system.svc', '127.0.0.1'];

void t.test('creates the Secret, writes the files and the CA bundle; replicas started together agree on one CA', async (t) => {
  const store = new FakeCertificateStore();
  const dirs = [t.testdir({}), `${t.testdirName}-b`];
  const replicas = dirs.map((dir) => new SelfManagedCertificates({ store, dir, hosts, log: createLogSink().log }));
  await Promise.all(replicas.map((r) => r.ensure()));
  t.equal(store.writes, 1, 'one replica wrote, the other read what it wrote');
  t.ok(replicas.every((r) => r.isReady()));
  const ca = store.secret?.data['ca.crt'] ?? '';
  t.same(store.bundles, [ca, ca], 'both wrote the same CA bundle');
  for (const dir of dirs) {
    const cert = new X509Certificate(readFileSync(join(dir, 'tls.crt')));
    t.ok(cert.checkIssued(new X509Certificate(ca)), `${dir}: the served certificate is signed by the stored CA`);
    t.match(cert.subjectAltName ?? '', /DNS:wi\.wi-system\.svc, IP Address:127\.0\.0\.1/);
  }
});

void t.test('a valid Secret is reused; an expiring, mismatched or broken one is replaced', async (t) => {
  const store = new FakeCertificateStore();
  const manager = new SelfManagedCertificates({ store, dir: t.testdir({}), hosts, log: createLogSink().log });
  await manager.ensure();
  const first = store.secret?.data['tls.crt'];
  await manager.ensure();
  t.equal(store.secret?.data['tls.crt'], first, 'reused while valid');

  const ca = await createCertificateAuthority('old CA');
  const soon = await issueServerCertificate(ca, { dnsNames: ['wi.wi-system.svc'], ipAddresses: ['127.0.0.1'], validDays: 10 });
  store.secret = { data: { 'ca.crt': ca.cert, 'tls.crt': soon.cert, 'tls.key': soon.key }, resourceVersion: '100' };
  await manager.ensure();
  t.not(store.secret?.data['tls.crt'], soon.cert, 'renewed inside the 30-day window');

  const other = await issueServerCertificate(ca, { dnsNames: ['elsewhere.svc'], validDays: 365 });
  store.secret = { data: { 'ca.crt': ca.cert, 'tls.crt': other.cert, 'tls.key': other.key }, resourceVersion: '101' };
  await manager.ensure();
  t.match(new X509Certificate(store.secret?.data['tls.crt'] ?? '').subjectAltName ?? '', /wi\.wi-system\.svc/, 'replaced when it does not cover the hosts');

  store.secret = { data: { 'ca.crt': 'garbage', 'tls.crt': 'garbage', 'tls.key': 'garbage' }, resourceVersion: '102' };
  await manager.ensure();
  t.ok(new X509Certificate(store.secret?.data['tls.crt'] ?? ''), 'replaced when unreadable');
});

void t.test('a Secret that keeps changing is an error, not a loop', async (t) => {
  const store = new FakeCertificateStore();
  store.writeSecret = async () => 'conflict';
  const manager = new SelfManagedCertificates({ store, dir: t.testdir({}), hosts, log: createLogSink().log });
  await t.rejects(manager.ensure(), /kept changing under this replica/);
  t.equal(manager.isReady(), false);
});
