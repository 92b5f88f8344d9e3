// Self-managed certificates across replicas against an in-memory Secret with
// the API server's optimistic concurrency, on a clock the test moves. After
// every change of the published bundle and of what a replica serves, the
// invariant is checked: each replica's certificate is signed by a CA in the
// bundle the API server trusts.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createCertificateAuthority, issueServerCertificate } from '../../src/certs/issue.js';
import { SelfManagedCertificates, type CertificateStore, type StoredSecret } from '../../src/certs/self-managed.js';
import { SECRET_KEYS, splitPemCertificates } from '../../src/certs/stored-certificates.js';
import { createLogSink } from '../helpers/log-sink.js';

/** An in-memory Secret and webhook configurations (two hooks) with the API server's optimistic concurrency. */
class FakeCertificateStore implements CertificateStore {
  secret: StoredSecret | undefined;
  /** The caBundle of each hook. */
  hooks = ['', ''];
  writes = 0;
  /** Called after every change of what the API server trusts. */
  onPublish: () => void = () => undefined;
  private rv = 1;

  async readSecret() {
    await new Promise((r) => setImmediate(r)); // let concurrent replicas interleave
    return this.secret && { data: { ...this.secret.data }, annotations: { ...this.secret.annotations }, resourceVersion: this.secret.resourceVersion };
  }

  async writeSecret(data: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>, resourceVersion: string | undefined) {
    await new Promise((r) => setImmediate(r));
    if (this.secret?.resourceVersion !== resourceVersion) return 'conflict' as const;
    this.writes++;
    this.secret = { data: { ...data }, annotations: { ...annotations }, resourceVersion: String(++this.rv) };
    return 'written' as const;
  }

  async readCaBundles() {
    return [...this.hooks];
  }

  /** Bundles published that Go's pem.Decode would not read whole (a BEGIN line glued to the END line before it). */
  malformed: string[] = [];

  async injectCaBundle(caPem: string) {
    if (!/^(-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----\n)+$/.test(caPem)) this.malformed.push(caPem);
    // One hook at a time, as a PUT per configuration would land.
    for (let i = 0; i < this.hooks.length; i++) {
      await new Promise((r) => setImmediate(r));
      this.hooks[i] = caPem;
      this.onPublish();
    }
  }
}

const hosts = ['wi.wi-system.svc', '127.0.0.1'];
const S = 1000;
const VALIDITY = { leafMs: 30 * S, caMs: 90 * S };

interface Replica {
  readonly name: string;
  readonly dir: string;
  readonly manager: SelfManagedCertificates;
  served: string | undefined;
}

/** Replicas sharing `store`, each serving what its key pair watcher would load from its directory. */
function replicas(t: Test, store: FakeCertificateStore, names: string[], clock: { now: number }, onServe: () => void): Replica[] {
  return names.map((name) => {
    const dir = join(t.testdirName, name);
    const replica: Replica = {
      name,
      dir,
      served: undefined,
      manager: new SelfManagedCertificates({
        store,
        dir,
        hosts,
        replica: name,
        validity: VALIDITY,
        serving: {
          certificate: () => replica.served,
          reload: async () => {
            replica.served = readFileSync(join(dir, 'tls.crt'), 'utf8');
            onServe();
          },
        },
        log: createLogSink().log,
        now: () => clock.now,
      }),
    };
    return replica;
  });
}

/** Each replica's certificate is signed by a CA that every hook trusts. */
function untrusted(store: FakeCertificateStore, all: readonly Replica[]): string[] {
  return all.flatMap((r) => {
    if (!r.served) return [];
    const cert = new X509Certificate(r.served);
    const trustedByAll = store.hooks.every((bundle) => splitPemCertificates(bundle).some((pem) => cert.checkIssued(new X509Certificate(pem)) && cert.verify(new X509Certificate(pem).publicKey)));
    return trustedByAll ? [] : [`${r.name} serves ${cert.issuer.replaceAll('\n', ' ')}, which a hook does not trust`];
  });
}

const issuerCn = (pem: string | undefined): string => (pem ? new X509Certificate(pem).issuer.replace(/^CN=/, '') : '');
const bundleSize = (store: FakeCertificateStore): number => splitPemCertificates(store.secret?.data['ca.crt'] ?? '').length;

void t.test('creates the Secret, the files and the bundle; replicas started together agree on one CA', async (t) => {
  const store = new FakeCertificateStore();
  const clock = { now: Date.now() };
  const all = replicas(t, store, ['a', 'b'], clock, () => undefined);
  await Promise.all(all.map((r) => r.manager.ensure()));
  t.equal(store.writes > 0, true);
  t.ok(all.every((r) => r.manager.isReady()));
  const ca = store.secret?.data['ca.crt'] ?? '';
  t.equal(splitPemCertificates(ca).length, 1, 'one CA');
  t.same(store.hooks, [ca, ca], 'both hooks trust it');
  t.ok(store.secret?.data[SECRET_KEYS.signerKey], 'the signing CA\'s key is kept, so serving certificates can be renewed without a new CA');
  for (const r of all) {
    const cert = new X509Certificate(readFileSync(join(r.dir, 'tls.crt')));
    t.ok(cert.checkIssued(new X509Certificate(ca)), `${r.name}: the served certificate is signed by the stored CA`);
    t.match(cert.subjectAltName ?? '', /DNS:wi\.wi-system\.svc, IP Address:127\.0\.0\.1/);
    t.equal(r.served, store.secret?.data['tls.crt'], `${r.name} serves the stored pair`);
  }
  t.same(Object.keys(store.secret?.annotations ?? {}).sort(), ['serving.wi-admission.io/a', 'serving.wi-admission.io/b'], 'each replica reports what it serves');
});

void t.test('two replicas through three serving certificates and a CA rotation: a trusted certificate at every moment', async (t) => {
  const store = new FakeCertificateStore();
  const clock = { now: Date.now() };
  const violations: string[] = [];
  let all: Replica[] = [];
  const check = (): void => void violations.push(...untrusted(store, all));
  store.onPublish = check;
  all = replicas(t, store, ['a', 'b'], clock, check);
  const [a, b] = all as [Replica, Replica];
  await a.manager.ensure();
  await b.manager.ensure();
  const firstCa = issuerCn(a.served);
  const leaves = new Set<string>();
  const cas = new Set<string>();
  let maxBundle = 0;
  // 150 simulated seconds: a pass of each replica per second, in an order that changes.
  for (let second = 1; second <= 150; second++) {
    clock.now += S;
    const order = second % 3 === 0 ? [b, a] : [a, b];
    if (second % 5 === 0) await Promise.all(order.map((r) => r.manager.ensure()));
    else for (const r of order) await r.manager.ensure();
    for (const r of all) {
      leaves.add(r.served ?? '');
      cas.add(issuerCn(r.served));
    }
    maxBundle = Math.max(maxBundle, bundleSize(store));
  }
  t.same(violations, [], 'never a certificate the published bundle does not trust');
  t.same(store.malformed, [], 'every published bundle is one PEM block per certificate, each on its own lines');
  t.ok(leaves.size >= 5, `serving certificates renewed along the way (${leaves.size})`);
  t.ok(cas.size >= 2, `the CA was replaced (${cas.size} CAs served)`);
  t.equal(maxBundle, 2, 'the bundle held the old and the new CA while they overlapped');
  t.equal(bundleSize(store), 1, 'and only the new CA afterwards');
  t.not(issuerCn(a.served), firstCa, 'a serves a certificate of the new CA');
  t.equal(issuerCn(a.served), issuerCn(b.served), 'both replicas on the same CA');
});

void t.test('a Secret from an older release (no CA key) is upgraded through an overlap, not a switch of trust', async (t) => {
  const store = new FakeCertificateStore();
  const clock = { now: Date.now() };
  const legacyCa = await createCertificateAuthority('legacy CA');
  const legacyLeaf = await issueServerCertificate(legacyCa, { dnsNames: ['wi.wi-system.svc'], ipAddresses: ['127.0.0.1'], validDays: 365 });
  store.secret = { data: { 'ca.crt': legacyCa.cert, 'tls.crt': legacyLeaf.cert, 'tls.key': legacyLeaf.key }, annotations: {}, resourceVersion: '1' };
  store.hooks = [legacyCa.cert, legacyCa.cert];
  const violations: string[] = [];
  let all: Replica[] = [];
  const check = (): void => void violations.push(...untrusted(store, all));
  store.onPublish = check;
  all = replicas(t, store, ['a', 'b'], clock, check);
  // Both replicas were serving the legacy pair when they were upgraded.
  for (const r of all) r.served = legacyLeaf.cert;
  for (let second = 0; second < 10; second++) {
    clock.now += S;
    for (const r of all) await r.manager.ensure();
  }
  t.same(violations, []);
  t.equal(bundleSize(store), 1);
  t.not(issuerCn(all[0]?.served), 'legacy CA', 'moved to a CA whose key is stored');
  t.ok(store.secret?.data[SECRET_KEYS.signerKey]);
});

void t.test('a replica that stops removes its report; a report gone stale stops holding the old CA', async (t) => {
  const store = new FakeCertificateStore();
  const clock = { now: Date.now() };
  const all = replicas(t, store, ['a', 'b'], clock, () => undefined);
  const [a, b] = all as [Replica, Replica];
  await a.manager.ensure();
  await b.manager.ensure();
  t.ok(store.secret?.annotations['serving.wi-admission.io/b']);
  await b.manager.stop();
  t.equal(store.secret?.annotations['serving.wi-admission.io/b'], undefined, 'b\'s report removed on stop');

  // c serves until second 58, then dies without a word: its last report holds the old CA until it is stale (60 s here).
  const c = replicas(t, store, ['c'], clock, () => undefined)[0] as Replica;
  const start = clock.now;
  let switchedAt: number | undefined;
  let droppedAt: number | undefined;
  for (let second = 1; second <= 200 && droppedAt === undefined; second++) {
    clock.now += S;
    await a.manager.ensure();
    if (second <= 58) await c.manager.ensure();
    if (switchedAt === undefined && issuerCn(a.served) !== issuerCn(c.served)) switchedAt = clock.now;
    if (switchedAt !== undefined && bundleSize(store) === 1) droppedAt = clock.now;
  }
  const cReport = JSON.parse(store.secret?.annotations['serving.wi-admission.io/c'] ?? '{}') as { at: string; cas: string[] };
  const lastReport = Date.parse(cReport.at);
  t.ok(switchedAt !== undefined && droppedAt !== undefined, `the CA was switched (${((switchedAt ?? 0) - start) / S} s) and the old one dropped (${((droppedAt ?? 0) - start) / S} s)`);
  t.ok((droppedAt ?? 0) - lastReport >= 60 * S, 'not before c\'s last report went stale');
  t.ok((droppedAt ?? 0) - lastReport <= 62 * S, 'and soon after');
  t.ok(lastReport < (switchedAt ?? 0), 'c reported before the switch and never again');
});

void t.test('a Secret that keeps changing is an error, not a loop', async (t) => {
  const store = new FakeCertificateStore();
  store.writeSecret = async () => 'conflict';
  const manager = new SelfManagedCertificates({
    store,
    dir: t.testdir({}),
    hosts,
    replica: 'a',
    validity: VALIDITY,
    serving: { certificate: () => undefined, reload: async () => undefined },
    log: createLogSink().log,
  });
  await t.rejects(manager.ensure(), /kept changing under this replica/);
  t.equal(manager.isReady(), false);
});
