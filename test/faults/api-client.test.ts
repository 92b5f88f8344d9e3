// The server's API client under the faults a real cluster gives it, against
// the whole server over real TLS and the loopback stand-in API server: an
// exec plugin that authenticates with a client certificate, throttling (429
// with Retry-After) and a reset keep-alive connection on the ServiceAccount
// GET of an admission, a rotated token file, and a watch ERROR event.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FakeKubeApi, type KubeCall } from '../helpers/fake-kube-api.js';
import { createCertificateAuthority, issueClientCertificate } from '../helpers/client-certificate.js';
import { HARNESS, startHarness, waitReady, type Harness } from '../helpers/harness.js';
import { eventually } from '../helpers/https-client.js';
import { assertNoSecrets, clientIdAnnotation, injectedClientId, mutatePod, readMetric } from './support.js';

const CLIENT_ID = HARNESS.CLIENT_ID;

function gets(h: Harness, name: string): KubeCall[] {
  return h.api.calls.filter((c) => c.verb === 'get' && c.resource === 'serviceaccounts' && c.name === name);
}

void t.test('an exec plugin that returns a client certificate authenticates every request, including the watches', async (t) => {
  const clientCa = await createCertificateAuthority('fake kube-apiserver client CA');
  const pair = await issueClientCertificate(clientCa, 'system:serviceaccount:wi-system:wi');
  const api = new FakeKubeApi({ clientCa: clientCa.cert });
  const h = await startHarness(t, [], undefined, {
    api,
    kubeconfigUser: (dir) => {
      writeFileSync(join(dir, 'credential.json'), JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { clientCertificateData: pair.cert, clientKeyData: pair.key } }));
      writeFileSync(join(dir, 'plugin.mjs'), "import { readFileSync } from 'node:fs';\nprocess.stdout.write(readFileSync(new URL('./credential.json', import.meta.url), 'utf8'));\n");
      return { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [join(dir, 'plugin.mjs')], interactiveMode: 'Never' } };
    },
  });
  await waitReady(h);
  h.api.putServiceAccount('default', 'not-cached', clientIdAnnotation(CLIENT_ID), { silent: true });
  const miss = await mutatePod(h, 'u-miss', 'not-cached');
  t.equal(injectedClientId(miss.pod, miss.response), CLIENT_ID, 'a live GET with the plugin\'s certificate');
  const verbs = new Set(h.api.calls.map((c) => c.verb));
  t.ok(verbs.has('list') && verbs.has('watch') && verbs.has('get'), 'lists, watches and GETs were made');
  t.same([...new Set(h.api.calls.map((c) => c.clientCommonName))], ['system:serviceaccount:wi-system:wi'], 'each presented the plugin\'s certificate');
  assertNoSecrets(t, h.sink.text(), { 'the client key': pair.key });
});

void t.test('429 with Retry-After on the ServiceAccount GET: retried and the pod admitted; a wait past --sa-lookup-timeout is not', async (t) => {
  const h = await startHarness(t, ['--sa-lookup-timeout', '3s']);
  await waitReady(h);
  h.api.putServiceAccount('default', 'throttled', clientIdAnnotation(CLIENT_ID), { silent: true });
  h.api.putServiceAccount('default', 'throttled-long', clientIdAnnotation(CLIENT_ID), { silent: true });
  let throttledOnce = false;
  h.api.interceptors.push((call, _req, res) => {
    const throttle = (call.name === 'throttled' && !throttledOnce) || call.name === 'throttled-long';
    if (call.verb !== 'get' || !throttle) return false;
    if (call.name === 'throttled') throttledOnce = true;
    // API Priority and Fairness: a 429 that says when to come back.
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': call.name === 'throttled' ? '1' : '30' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'TooManyRequests', message: 'Too many requests, please try again later.', code: 429 }));
    return true;
  });

  const admitted = await mutatePod(h, 'u-throttled', 'throttled');
  t.equal(injectedClientId(admitted.pod, admitted.response), CLIENT_ID, 'mutated after the retry');
  t.same(gets(h, 'throttled').map((c) => c.status), [429, 200], 'one 429, then the answer');
  t.equal(await readMetric(h.server.metricsPort, 'wi_admission_kube_request_retries_total', { reason: 'throttled' }), 1, 'the retry is counted');

  const bounded = await mutatePod(h, 'u-throttled-long', 'throttled-long');
  t.equal(bounded.response.allowed, false, 'Retry-After 30 s does not fit in 3 s: denied, never admitted unmutated');
  t.match(bounded.response.status?.message, /could not read ServiceAccount default\/throttled-long \(GET [^)]*: 429 TooManyRequests: Too many requests, please try again later\.\)/, 'the message names the throttling');
  t.equal(gets(h, 'throttled-long').length, 1, 'no attempt after the deadline');
});

void t.test('a reset kept-alive connection on the ServiceAccount GET is retried at once and the pod admitted', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  h.api.putServiceAccount('default', 'warm', clientIdAnnotation(CLIENT_ID), { silent: true });
  h.api.putServiceAccount('default', 'reset', clientIdAnnotation(CLIENT_ID), { silent: true });
  let reset = false;
  h.api.interceptors.push((call, req) => {
    if (reset || call.name !== 'reset' || !call.reusedConnection) return false;
    // The stand-in closes a kept-alive connection just as the server reuses it for the GET.
    reset = true;
    req.socket.destroy();
    return true;
  });
  await mutatePod(h, 'u-warm', 'warm'); // leaves a kept-alive connection in the pool
  const after = await mutatePod(h, 'u-reset', 'reset');
  t.ok(reset, 'the GET came on a reused connection, which was reset');
  t.equal(injectedClientId(after.pod, after.response), CLIENT_ID, 'mutated');
  t.same(gets(h, 'reset').map((c) => [c.reusedConnection, c.status]), [[true, undefined], [false, 200]], 'sent again on a fresh connection');
  t.equal(await readMetric(h.server.metricsPort, 'wi_admission_kube_request_retries_total', { reason: 'connection_reset' }), 1);
});

void t.test('tokenFile: it wins over token, and a rotated token is read again after a 401', async (t) => {
  const api = new FakeKubeApi();
  api.acceptedTokens = new Set(['token-1']);
  const h = await startHarness(t, [], undefined, {
    api,
    kubeconfigUser: (dir) => {
      writeFileSync(join(dir, 'token'), 'token-1\n');
      // The literal token is stale: client-go reads the file instead.
      return { token: 'stale-literal-token', tokenFile: join(dir, 'token') };
    },
  });
  await waitReady(h);
  t.notOk(h.api.calls.some((c) => c.bearer === 'stale-literal-token'), 'the literal token was never sent');

  // The token is rotated: the old one stops working before the minute-long cache would read the file again.
  writeFileSync(join(h.dir, 'token'), 'token-2\n');
  api.acceptedTokens = new Set(['token-2']);
  h.api.putServiceAccount('default', 'rotated', clientIdAnnotation(CLIENT_ID), { silent: true });
  const after = await mutatePod(h, 'u-rotated', 'rotated');
  t.equal(injectedClientId(after.pod, after.response), CLIENT_ID, 'mutated');
  t.same(gets(h, 'rotated').map((c) => [c.bearer, c.status]), [['token-1', 401], ['token-2', 200]], 'the 401 made the server read the file again and retry once');
  t.equal(await readMetric(h.server.metricsPort, 'wi_admission_kube_request_retries_total', { reason: 'unauthorized' }), 1);
  assertNoSecrets(t, h.sink.text(), { 'the first token': 'token-1', 'the second token': 'token-2' });
});

void t.test('a watch ERROR event (not 410) is logged, counted, and followed by a relist that sees what the watch missed', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  await eventually(() => h.api.watcherCount() >= 1, 5000, 'the ServiceAccount watch is open');
  const lists = (): number => h.api.calls.filter((c) => c.verb === 'list' && c.resource === 'serviceaccounts').length;
  const before = lists();
  // Created without a watch event: only a relist can find it.
  h.api.putServiceAccount('default', 'missed', clientIdAnnotation(CLIENT_ID), { silent: true });
  h.api.sendWatchError({ code: 500, reason: 'InternalError', message: 'etcd cluster is unavailable or misconfigured' });
  await eventually(() => lists() > before, 10_000, 'a relist');
  await eventually(async () => (await readMetric(h.server.metricsPort, 'wi_admission_serviceaccount_cache_size')) === 2, 10_000, 'the relisted cache');
  t.equal(await readMetric(h.server.metricsPort, 'wi_admission_informer_restarts_total', { cause: 'error_event' }), 1, 'counted as an ERROR event');
  t.match(h.sink.lines.find((l) => l.msg === 'watch error event, relisting'), { level: 40, component: 'serviceaccounts', status: { code: 500, reason: 'InternalError' } });
  const cached = await mutatePod(h, 'u-missed', 'missed');
  t.equal(injectedClientId(cached.pod, cached.response), CLIENT_ID);
  t.equal(gets(h, 'missed').length, 0, 'answered from the relisted cache, no live GET');
});

void t.test('the first list is served from the watch cache (resourceVersion=0); when the cache cannot, a consistent list follows at once', async (t) => {
  const h = await startHarness(t, [], (_dir, api) => {
    // An API server whose watch cache is behind (or off) for ServiceAccounts: 410 at resourceVersion 0.
    api.interceptors.push((call, req, res) => {
      const url = new URL(req.url ?? '', 'https://x');
      if (call.verb !== 'list' || call.resource !== 'serviceaccounts' || url.searchParams.get('resourceVersion') !== '0') return false;
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', message: 'too old resource version: 0 (101)', code: 410 }));
      return true;
    });
  });
  await waitReady(h);
  const lists = h.api.requests.filter((r) => r.startsWith('GET /api/v1/serviceaccounts?') && !r.includes('watch=true')).map((r) => new URL(r.slice(4), 'https://x').searchParams);
  t.same(lists.slice(0, 2).map((q) => q.get('resourceVersion')), ['0', null], 'resourceVersion=0 first, then a consistent list (no resourceVersion)');
  t.equal(lists[1]?.get('limit'), '500', 'the consistent list is paged');
  const namespaceLists = h.api.requests.filter((r) => r.startsWith('GET /api/v1/namespaces?'));
  t.same(namespaceLists, [], 'no policy: Namespaces are not listed');
  t.notOk(h.sink.lines.some((l) => l.msg === 'list failed, retrying'), 'the fallback is not a failure with a backoff');
});
