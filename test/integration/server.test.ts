// The built server over real TLS (dev CA trusted, verification on), against
// a loopback stand-in API server that the server's own API client lists,
// watches and reads.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent } from 'node:https';
import { applyPatch } from 'rfc6902';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { createCertificateAuthority, issueServerCertificate, writeDevCertificates } from '../../src/certs/issue.js';
import { startServer } from '../../src/server/serve.js';
import { decodePatch, HARNESS, startHarness, waitReady } from '../helpers/harness.js';
import { eventually, GENEROUS_WAIT_MS, getText, post } from '../helpers/https-client.js';
import { createLogSink } from '../helpers/log-sink.js';
import { labelledPod, podReview } from '../helpers/reviews.js';

const { CLIENT_ID, TENANT } = HARNESS;

void t.test('mutates a v1 review over TLS and echoes uid, apiVersion and kind', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  const pod = labelledPod('web', 'workload');
  const res = await post(h.server.webhookPort, '/mutate-v1-pod', JSON.stringify(podReview(pod, { uid: 'uid-v1' })), { ca: h.ca });
  t.equal(res.status, 200);
  const review = res.json as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType: string; patch: string } };
  t.equal(review.apiVersion, 'admission.k8s.io/v1');
  t.equal(review.kind, 'AdmissionReview');
  t.equal(review.response.uid, 'uid-v1');
  t.equal(review.response.allowed, true);
  t.equal(review.response.patchType, 'JSONPatch');
  const patched = structuredClone(pod) as { spec: { containers: { env: { name: string; value: string }[] }[] } };
  t.same(applyPatch(patched, decodePatch(review.response)).filter(Boolean), []);
  t.same(patched.spec.containers[0]?.env, [
    { name: 'AZURE_CLIENT_ID', value: CLIENT_ID },
    { name: 'AZURE_TENANT_ID', value: TENANT },
    { name: 'AZURE_FEDERATED_TOKEN_FILE', value: '/var/run/secrets/azure/wi/token/azure-identity-token' },
    { name: 'AZURE_AUTHORITY_HOST', value: 'https://login.microsoftonline.com/' },
  ]);

  const lines = h.sink.lines.filter((l) => l.msg === 'admission');
  t.equal(lines.length, 1, 'exactly one log line for the admission');
  t.match(lines[0], { uid: 'uid-v1', namespace: 'default', pod: 'web', serviceAccount: 'workload', decision: 'patched', reason: 'Mutated' });
  t.notOk(h.sink.text().includes('fake-token-must-not-be-logged'), 'the API server token never reaches the logs');

  const metrics = await getText(h.server.metricsPort, '/metrics');
  t.match(metrics.body, /wi_admission_requests_total\{webhook="mutate",decision="patched",reason="Mutated"\} 1/);
  t.match(metrics.body, /wi_admission_serviceaccount_cache_synced 1/);
  t.match(metrics.body, /wi_admission_serviceaccount_cache_size 1/);
});

void t.test('answers a v1beta1 review in v1beta1', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  const body = podReview(labelledPod('web', 'workload'), { apiVersion: 'admission.k8s.io/v1beta1', uid: 'uid-beta' });
  const res = await post(h.server.webhookPort, '/mutate-v1-pod', JSON.stringify(body), { ca: h.ca });
  t.equal(res.status, 200);
  t.match(res.json, { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', response: { uid: 'uid-beta', allowed: true } });
});

void t.test('bad bodies get an HTTP error with a reason', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  const port = h.server.webhookPort;
  const cases: { name: string; body: string | Buffer; contentType?: string; status: number; message: RegExp }[] = [
    { name: 'invalid JSON', body: '{"apiVersion": ', status: 400, message: /not valid JSON/ },
    { name: 'empty body', body: '', status: 400, message: /empty/ },
    { name: 'JSON that is not a review', body: '{"hello":"world"}', status: 400, message: /not an AdmissionReview: apiVersion/ },
    { name: 'review without uid', body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }), status: 400, message: /request\.uid/ },
    { name: 'wrong kind', body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod', request: { uid: 'x' } }), status: 400, message: /kind must be AdmissionReview/ },
    { name: 'wrong content type', body: '{}', contentType: 'text/plain', status: 400, message: /Content-Type must be application\/json/ },
    { name: 'body over 3 MiB', body: Buffer.alloc(3 * 1024 * 1024 + 10, 0x20), status: 413, message: /larger than 3145728 bytes/ },
  ];
  for (const c of cases) {
    const res = await post(port, '/mutate-v1-pod', c.body, { ca: h.ca, ...(c.contentType ? { contentType: c.contentType } : {}) });
    t.equal(res.status, c.status, `${c.name}: status`);
    t.match((res.json as { message?: string } | undefined)?.message ?? '', c.message, `${c.name}: reason`);
  }
});

void t.test('a missing ServiceAccount is denied with a message naming namespace and ServiceAccount', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  const res = await post(h.server.webhookPort, '/mutate-v1-pod', JSON.stringify(podReview(labelledPod('web', 'ghost'), { uid: 'uid-missing' })), { ca: h.ca });
  t.equal(res.status, 200);
  const response = (res.json as { response: { uid: string; allowed: boolean; status: { code: number; message: string } } }).response;
  t.equal(response.uid, 'uid-missing');
  t.equal(response.allowed, false);
  t.equal(response.status.code, 400);
  t.match(response.status.message, /Pod default\/web: serviceaccounts "ghost" not found in namespace "default"/);
  t.ok(h.api.requests.some((r) => r === 'GET /api/v1/namespaces/default/serviceaccounts/ghost'), 'a live GET was tried before denying');
});

void t.test('a ServiceAccount created after start is found: live GET before the watch delivers it, then from the cache', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  h.api.putServiceAccount('default', 'late', { 'azure.workload.identity/client-id': CLIENT_ID }, { silent: true });
  const first = await post(h.server.webhookPort, '/mutate-v1-pod', JSON.stringify(podReview(labelledPod('a', 'late'))), { ca: h.ca });
  t.match(first.json, { response: { allowed: true, patchType: 'JSONPatch' } }, 'the live GET found it');

  h.api.putServiceAccount('default', 'later', { 'azure.workload.identity/client-id': CLIENT_ID });
  await eventually(() => h.server.metrics.serviceAccountCacheSize.get().then((m) => m.values[0]?.value === 2), GENEROUS_WAIT_MS, 'watch event applied');
  const before = h.api.requests.filter((r) => r.includes('/serviceaccounts/later')).length;
  const second = await post(h.server.webhookPort, '/mutate-v1-pod', JSON.stringify(podReview(labelledPod('b', 'later'))), { ca: h.ca });
  t.match(second.json, { response: { allowed: true, patchType: 'JSONPatch' } });
  t.equal(h.api.requests.filter((r) => r.includes('/serviceaccounts/later')).length, before, 'served from the cache, no API call');
});

void t.test('a certificate rotated on disk is served without dropping a request', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  const newCa = await createCertificateAuthority('rotated CA');
  const newPair = await issueServerCertificate(newCa, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => agent.destroy());
  const body = JSON.stringify(podReview(labelledPod('web', 'workload')));
  let stop = false;
  const statuses: number[] = [];
  const errors: string[] = [];
  const load = (async () => {
    while (!stop) {
      try {
        const res = await post(h.server.webhookPort, '/mutate-v1-pod', body, { ca: [h.ca, newCa.cert], agent });
        statuses.push(res.status);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  })();
  await eventually(() => statuses.length > 20, GENEROUS_WAIT_MS, 'requests before rotation');
  // Write both files to temporaries and rename them in, as a careful writer does.
  writeFileSync(join(h.certDir, 'tls.key.tmp'), newPair.key);
  writeFileSync(join(h.certDir, 'tls.crt.tmp'), newPair.cert);
  renameSync(join(h.certDir, 'tls.key.tmp'), join(h.certDir, 'tls.key'));
  renameSync(join(h.certDir, 'tls.crt.tmp'), join(h.certDir, 'tls.crt'));
  await eventually(() => servedIssuer(h.server.webhookPort, newCa.cert).then((cn) => cn === 'rotated CA'), GENEROUS_WAIT_MS, 'new certificate served');
  const countAtSwap = statuses.length;
  await eventually(() => statuses.length > countAtSwap + 20, GENEROUS_WAIT_MS, 'requests after rotation');
  stop = true;
  await load;
  t.same(errors, [], 'no request failed');
  t.ok(statuses.every((s) => s === 200), `all ${statuses.length} answered 200`);

  // A garbage pair keeps the previous one.
  writeFileSync(join(h.certDir, 'tls.crt'), 'not a certificate');
  await eventually(() => h.server.metrics.certificateReloads.get().then((m) => m.values.some((v) => v.labels.result === 'error' && v.value > 0)), GENEROUS_WAIT_MS, 'bad pair counted');
  t.equal(await servedIssuer(h.server.webhookPort, newCa.cert), 'rotated CA', 'still serving the last good pair');
  t.ok(h.sink.lines.some((l) => l.msg === 'new certificate rejected, still serving the previous one'), 'the rejection is logged');
});

void t.test('TLS below the configured minimum, and plain HTTP, are refused', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  const result = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: h.server.webhookPort, servername: 'localhost', ca: h.ca, maxVersion: 'TLSv1.2' }, () => {
      resolve(`connected with ${socket.getProtocol()}`);
      socket.destroy();
    });
    socket.on('error', (err) => resolve(`refused: ${err.message}`));
  });
  t.match(result, /^refused/, 'a TLS 1.2 client cannot connect to a TLS 1.3 listener');
  const plain = await fetch(`http://127.0.0.1:${h.server.webhookPort}/mutate-v1-pod`, { method: 'POST', body: '{}' }).then(
    (r) => `answered ${r.status}`,
    (err: Error) => `refused: ${err.message}`,
  );
  t.match(plain, /^refused/, 'plain HTTP gets no answer on the admission port');
});

void t.test('readiness waits for the ServiceAccount cache and the API server version', async (t) => {
  const h = await startHarness(t, []);
  // Started against a reachable server: ready. Now a fresh server against a down API.
  await waitReady(h);
  h.api.down = true;
  const dir = t.testdir({});
  await writeDevCertificates(join(dir, 'certs'), { dnsNames: ['localhost'] });
  const loaded = loadConfig(
    ['--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--webhook-cert-dir', join(dir, 'certs'), '--kubeconfig', h.api.writeKubeconfig(dir), '--shutdown-delay', '0ms'],
    { AZURE_TENANT_ID: TENANT },
  );
  if (!loaded.ok) throw new Error(loaded.error);
  const second = await startServer(loaded.config, createLogSink().log);
  t.teardown(() => second.shutdown());
  const notReady = await getText(second.healthPort, '/readyz');
  t.equal(notReady.status, 503);
  t.match(JSON.parse(notReady.body), { ready: false, checks: { certificate: true, serviceAccounts: false, kubernetesVersion: false } });
  t.equal((await getText(second.healthPort, '/healthz')).status, 200, 'alive while not ready');
  h.api.down = false;
  await eventually(async () => (await getText(second.healthPort, '/readyz')).status === 200, GENEROUS_WAIT_MS, 'ready once the API server is back');
});

void t.test('shutdown: readiness goes false, in-flight requests finish, then the listener closes', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  // Cache misses wait on a live GET the API server holds: the requests stay in flight until released.
  const release = h.api.holdServiceAccountGets(...Array.from({ length: 10 }, (_, i) => `missing-${i}`));
  const agent = new Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const inFlight = Array.from({ length: 10 }, (_, i) =>
    post(h.server.webhookPort, '/mutate-v1-pod', JSON.stringify(podReview(labelledPod(`p${i}`, `missing-${i}`), { uid: `uid-${i}` })), { ca: h.ca, agent }),
  );
  await eventually(() => h.api.requests.filter((r) => r.includes('/serviceaccounts/missing-')).length === 10, GENEROUS_WAIT_MS, 'all requests reached the live GET');
  const shutdown = h.server.shutdown();
  t.equal(h.server.readiness().notShuttingDown, false, 'not ready as soon as shutdown starts');
  release();
  const results = await Promise.all(inFlight);
  await shutdown;
  t.same(results.map((r) => r.status), Array(10).fill(200), 'every in-flight request was answered');
  t.same(results.map((r) => (r.json as { response: { uid: string } }).response.uid), Array.from({ length: 10 }, (_, i) => `uid-${i}`));
  await t.rejects(post(h.server.webhookPort, '/mutate-v1-pod', '{}', { ca: h.ca }), 'new connections are refused after close');
});

/** CN of the issuer of the certificate the server presents, trusting `ca`. */
function servedIssuer(port: number, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().issuer?.CN ?? '';
      socket.destroy();
      resolve(Array.isArray(cn) ? (cn[0] ?? '') : cn);
    });
    socket.on('error', () => resolve(''));
  });
}
