// Serving-certificate faults against the whole server over real TLS: pairs
// caught half-written, garbage, a deleted key, and rotation under load in the
// layout kubelet gives a Secret volume (files behind a `..data` symlink that is
// swapped atomically, see atomicWriterDir).
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import t from 'tap';
import { createCertificateAuthority, issueServerCertificate } from '../../src/certs/issue.js';
import { startHarness, waitReady, type Harness } from '../helpers/harness.js';
import { eventually, GENEROUS_WAIT_MS, post } from '../helpers/https-client.js';
import { labelledPod, podReview } from '../helpers/reviews.js';
import { assertNoSecrets, atomicWriterDir, isWellFormedAnswer, KUBE_TOKEN, readMetric, servedIssuer } from './support.js';

const HOSTS = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };

async function reloadErrors(h: Harness): Promise<number> {
  return readMetric(h.server.metricsPort, 'wi_admission_certificate_reloads_total', { result: 'error' });
}

async function expiryGauge(h: Harness): Promise<number> {
  return readMetric(h.server.metricsPort, 'wi_admission_certificate_expiry_timestamp_seconds');
}

void t.test('half-written, mismatched, garbage and deleted pairs keep the previous pair; each is logged and counted; the completed pair is served', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  const original = await servedIssuer(h.server.webhookPort);
  t.equal(original, 'wi-admission development CA');
  const originalKey = readFileSync(join(h.certDir, 'tls.key'), 'utf8');
  const originalExpiry = await expiryGauge(h);
  t.ok(originalExpiry > Date.now() / 1000, 'the expiry gauge shows the loaded pair');

  const next = await createCertificateAuthority('next CA');
  const pair = await issueServerCertificate(next, { ...HOSTS, validDays: 7 });
  const files = (cert: string, key: string | undefined): void => {
    writeFileSync(join(h.certDir, 'tls.crt'), cert);
    if (key === undefined) unlinkSync(join(h.certDir, 'tls.key'));
    else writeFileSync(join(h.certDir, 'tls.key'), key);
  };
  const body = (uid: string): string => JSON.stringify(podReview(labelledPod('web', 'workload'), { uid }));
  const states: [string, () => void, string][] = [
    ['the new key written, the certificate not yet', () => files(readFileSync(join(h.certDir, 'tls.crt'), 'utf8'), pair.key), 'WIA_ERR_TLS_KEYPAIR_INVALID'],
    ['the new certificate cut off halfway', () => files(pair.cert.slice(0, Math.floor(pair.cert.length / 2)), pair.key), 'WIA_ERR_TLS_KEYPAIR_INVALID'],
    ['the new key cut off halfway', () => files(pair.cert, pair.key.slice(0, Math.floor(pair.key.length / 2))), 'WIA_ERR_TLS_KEYPAIR_INVALID'],
    ['garbage in both files', () => files('-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n', 'garbage'), 'WIA_ERR_TLS_KEYPAIR_INVALID'],
    ['the key deleted', () => files(pair.cert, undefined), 'WIA_ERR_TLS_KEYPAIR_MISSING'],
  ];
  for (const [what, write, code] of states) {
    const errors = await reloadErrors(h);
    const logged = h.sink.lines.length;
    write();
    await eventually(async () => (await reloadErrors(h)) > errors, GENEROUS_WAIT_MS, `${what}: counted as an error`);
    t.equal(await servedIssuer(h.server.webhookPort), original, `${what}: the previous pair is still served`);
    const res = await post(h.server.webhookPort, '/mutate-v1-pod', body(`u-${code}`), { ca: h.ca, agent: new Agent({ keepAlive: false }) });
    t.equal(res.status, 200, `${what}: a new connection still completes a verified handshake and is answered`);
    const line = h.sink.lines.slice(logged).find((l) => l.msg === 'new certificate rejected, still serving the previous one');
    t.match(line, { level: 40, component: 'tls', keptPrevious: true, err: { code } }, `${what}: logged at warn with the code`);
    t.equal(await expiryGauge(h), originalExpiry, `${what}: the expiry gauge still shows the pair in use`);
  }

  files(pair.cert, pair.key);
  await eventually(async () => (await servedIssuer(h.server.webhookPort)) === 'next CA', GENEROUS_WAIT_MS, 'the completed pair is served');
  const res = await post(h.server.webhookPort, '/mutate-v1-pod', body('u-next'), { ca: next.cert, agent: new Agent({ keepAlive: false }) });
  t.equal(res.status, 200, 'clients trusting only the new CA connect');
  t.ok((await expiryGauge(h)) < originalExpiry, 'the expiry gauge follows the new pair (7 days)');
  assertNoSecrets(t, h.sink.text(), { 'the first private key': originalKey, 'the new private key': pair.key, 'the kubeconfig token': KUBE_TOKEN });
});

void t.test('rotation under load in a Secret volume layout: no request fails, new handshakes get the new pair; a garbage update keeps it', async (t) => {
  let volume: ReturnType<typeof atomicWriterDir> | undefined;
  const h = await startHarness(t, [], (dir) => {
    volume = atomicWriterDir(join(dir, 'certs'));
    volume.adopt(['ca.crt', 'tls.crt', 'tls.key']);
  });
  if (!volume) throw new Error('no volume');
  await waitReady(h);
  const second = await createCertificateAuthority('second CA');
  const secondPair = await issueServerCertificate(second, HOSTS);
  const third = await createCertificateAuthority('third CA');
  const thirdPair = await issueServerCertificate(third, HOSTS);
  const cas = [h.ca, second.cert, third.cert];

  const fresh = new Agent({ keepAlive: false, maxSockets: Infinity });
  const reused = new Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => {
    fresh.destroy();
    reused.destroy();
  });
  let stop = false;
  let sent = 0;
  const failures: string[] = [];
  const issuersSeen = new Set<string>();
  const worker = async (agent: Agent, name: string): Promise<void> => {
    while (!stop) {
      const uid = `${name}-${sent++}`;
      try {
        const res = await post(h.server.webhookPort, '/mutate-v1-pod', JSON.stringify(podReview(labelledPod('web', 'workload'), { uid })), { ca: cas, agent });
        if (res.status !== 200 || !isWellFormedAnswer(res.json, uid)) failures.push(`${uid}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
      } catch (err) {
        failures.push(`${uid}: ${(err as Error).message}`);
      }
    }
  };
  const load = Promise.all([worker(fresh, 'fresh-a'), worker(fresh, 'fresh-b'), worker(fresh, 'fresh-c'), worker(reused, 'kept-a'), worker(reused, 'kept-b')]);
  const rotate = async (files: Record<string, string>, expect: string, what: string): Promise<void> => {
    const before = sent;
    await eventually(() => sent > before + 20, GENEROUS_WAIT_MS, `requests before ${what}`);
    volume?.write(files);
    await eventually(async () => {
      const issuer = await servedIssuer(h.server.webhookPort);
      issuersSeen.add(issuer);
      return issuer === expect;
    }, GENEROUS_WAIT_MS, `${what}: ${expect} served`);
  };

  await rotate({ 'ca.crt': second.cert, 'tls.crt': secondPair.cert, 'tls.key': secondPair.key }, 'second CA', 'the first rotation');
  const errors = await reloadErrors(h);
  volume.write({ 'ca.crt': third.cert, 'tls.crt': 'garbage', 'tls.key': thirdPair.key });
  await eventually(async () => (await reloadErrors(h)) > errors, GENEROUS_WAIT_MS, 'the garbage update counted');
  t.equal(await servedIssuer(h.server.webhookPort), 'second CA', 'the garbage update keeps the second pair');
  await rotate({ 'ca.crt': third.cert, 'tls.crt': thirdPair.cert, 'tls.key': thirdPair.key }, 'third CA', 'the second rotation');
  const last = sent;
  await eventually(() => sent > last + 20, GENEROUS_WAIT_MS, 'requests after the last rotation');
  stop = true;
  await load;

  t.same(failures, [], `no request failed (${sent} sent over fresh and reused connections)`);
  t.ok(sent > 60, 'the load ran through every rotation');
  t.notOk(issuersSeen.has(''), 'every handshake during the rotations completed');
  assertNoSecrets(t, h.sink.text(), { 'the second private key': secondPair.key, 'the third private key': thirdPair.key, 'the kubeconfig token': KUBE_TOKEN });
});
