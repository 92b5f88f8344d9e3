// API server faults, against the whole server over real TLS and the loopback
// stand-in API server that the server's API client lists, watches and reads:
// down at start, down after the cache synced, a watch cut mid-stream, 410 Gone
// on the resumed watch, and slow GETs on a cache miss.
import t from 'tap';
import { HARNESS, startHarness, waitReady, type Harness } from '../helpers/harness.js';
import { eventually, GENEROUS_WAIT_MS, getText } from '../helpers/https-client.js';
import { assertNoSecrets, clientIdAnnotation, injectedClientId, KUBE_TOKEN, mutatePod, readMetric } from './support.js';

const OLD_ID = HARNESS.CLIENT_ID;
const NEW_ID = '9d3c1b2a-8e7f-4a6b-9c5d-4e3f2a1b0c9d';

async function cacheSize(h: Harness): Promise<number> {
  return (await h.server.metrics.serviceAccountCacheSize.get()).values[0]?.value ?? 0;
}

/** Live GETs of one ServiceAccount the server has made so far. */
function liveGets(h: Harness, name: string): number {
  return h.api.calls.filter((c) => c.verb === 'get' && c.resource === 'serviceaccounts' && c.name === name).length;
}

function serviceAccountLists(h: Harness): number {
  return h.api.calls.filter((c) => c.verb === 'list' && c.resource === 'serviceaccounts').length;
}

/** resourceVersions the ServiceAccount watches were started from, in order. */
function watchStarts(h: Harness): number[] {
  return h.api.requests
    .filter((r) => r.startsWith('GET /api/v1/serviceaccounts?') && r.includes('watch=true'))
    .map((r) => Number(new URL(r.slice(4), 'http://x').searchParams.get('resourceVersion')));
}

void t.test('down at start: not ready, pods are denied ServiceAccountLookupFailed (never admitted unmutated); served once it is back', async (t) => {
  const h = await startHarness(t, [], (_dir, api) => {
    api.down = true;
  });
  const readyz = await getText(h.server.healthPort, '/readyz');
  t.equal(readyz.status, 503);
  t.match(JSON.parse(readyz.body), { ready: false, checks: { serviceAccounts: false, kubernetesVersion: false, certificate: true } });

  const during = await mutatePod(h, 'u-down', 'workload');
  t.equal(during.http.status, 200, 'an AdmissionReview answer, not an HTTP error');
  t.equal(during.response.uid, 'u-down');
  t.equal(during.response.allowed, false, 'denied: a pod is never admitted without its identity');
  t.equal(during.response.patch, undefined, 'no patch');
  t.equal(during.response.status?.code, 400);
  t.match(during.response.status?.message, /^wi-admission: Pod default\/pod-u-down: could not read ServiceAccount default\/workload \([\s\S]*503[\s\S]*\)\. The pod was not admitted unmutated; retry, and check that the webhook can reach the API server\. \[ServiceAccountLookupFailed\]$/, 'names the object, the API server\'s status and what to do');
  t.notMatch(during.response.status?.message, /\n/, 'one line, as kubectl prints it');
  t.equal(await readMetric(h.server.metricsPort, 'wi_admission_serviceaccount_lookups_total', { result: 'error' }), 1);
  t.match(h.sink.lines.find((l) => l.msg === 'admission' && l.uid === 'u-down'), { decision: 'denied', reason: 'ServiceAccountLookupFailed', serviceAccount: 'workload' });

  h.api.down = false;
  await waitReady(h);
  const after = await mutatePod(h, 'u-up', 'workload');
  t.equal(injectedClientId(after.pod, after.response), OLD_ID, 'mutated once the API server answers');
  assertNoSecrets(t, h.sink.text(), { 'the kubeconfig token': KUBE_TOKEN });
});

void t.test('down after the cache synced: cached ServiceAccounts keep answering, misses are denied, changes made meanwhile arrive when it is back', async (t) => {
  const h = await startHarness(t);
  await waitReady(h);
  await eventually(() => h.api.watcherCount() === 1, GENEROUS_WAIT_MS, 'the ServiceAccount watch is open');

  h.api.down = true;
  h.api.cutWatches();
  const cached = await mutatePod(h, 'u-cached', 'workload');
  t.equal(injectedClientId(cached.pod, cached.response), OLD_ID, 'the cached ServiceAccount still mutates');
  const miss = await mutatePod(h, 'u-miss', 'not-cached');
  t.equal(miss.response.allowed, false);
  t.match(miss.response.status?.message, /could not read ServiceAccount default\/not-cached \([\s\S]*503[\s\S]*\)\. The pod was not admitted unmutated; [\s\S]*\[ServiceAccountLookupFailed\]$/);
  t.equal((await getText(h.server.healthPort, '/readyz')).status, 200, 'still ready: the last known state answers (documented)');

  // Created while the server cannot reach the API server; the watch history keeps the event.
  h.api.putServiceAccount('default', 'created-in-outage', clientIdAnnotation(NEW_ID));
  await eventually(async () => (await readMetric(h.server.metricsPort, 'wi_admission_informer_restarts_total', { cause: 'error' })) >= 1, GENEROUS_WAIT_MS, 'a failed watch counted');
  h.api.down = false;
  await eventually(async () => (await cacheSize(h)) === 2, GENEROUS_WAIT_MS, 'the informer caught up');
  const gets = liveGets(h, 'created-in-outage');
  const late = await mutatePod(h, 'u-late', 'created-in-outage');
  t.equal(injectedClientId(late.pod, late.response), NEW_ID);
  t.equal(liveGets(h, 'created-in-outage'), gets, 'answered from the cache');
  t.ok(h.sink.lines.some((l) => l.component === 'serviceaccounts' && (l.msg === 'watch failed, retrying' || l.msg === 'list failed, retrying')), 'the outage is logged');
  assertNoSecrets(t, h.sink.text(), { 'the kubeconfig token': KUBE_TOKEN });
});

void t.test('watch cut mid-stream: the watch resumes from the last resourceVersion and replays what changed meanwhile', async (t) => {
  const h = await startHarness(t, [], (_dir, api) => {
    api.putServiceAccount('default', 'changing', clientIdAnnotation(OLD_ID));
    api.putServiceAccount('default', 'doomed', clientIdAnnotation(OLD_ID));
  });
  await waitReady(h);
  await eventually(() => h.api.watcherCount() === 1, GENEROUS_WAIT_MS, 'the ServiceAccount watch is open');
  const before = await mutatePod(h, 'u-before', 'changing');
  t.equal(injectedClientId(before.pod, before.response), OLD_ID);
  const lists = serviceAccountLists(h);

  // Everything below happens in one turn of the event loop: no watch is connected while it changes.
  h.api.cutWatches();
  h.api.putServiceAccount('default', 'changing', clientIdAnnotation(NEW_ID));
  h.api.deleteServiceAccount('default', 'doomed');
  h.api.putServiceAccount('default', 'born', clientIdAnnotation(NEW_ID));
  t.equal(h.api.watcherCount(), 0, 'the changes were made while the watch was cut');

  // workload + changing + born: the last event (born) is applied, so the ones before it are too.
  await eventually(async () => (await cacheSize(h)) === 3 && h.api.watcherCount() === 1, GENEROUS_WAIT_MS, 'the watch resumed and caught up');
  t.equal(serviceAccountLists(h), lists, 'resumed without a relist');
  t.ok(
    (await readMetric(h.server.metricsPort, 'wi_admission_informer_restarts_total', { cause: 'error' })) +
      (await readMetric(h.server.metricsPort, 'wi_admission_informer_restarts_total', { cause: 'closed' })) >= 1,
    'the restart is counted',
  );
  const getsBefore = liveGets(h, 'changing') + liveGets(h, 'born');
  const changed = await mutatePod(h, 'u-changed', 'changing');
  t.equal(injectedClientId(changed.pod, changed.response), NEW_ID, 'the new client ID, not the stale one');
  const born = await mutatePod(h, 'u-born', 'born');
  t.equal(injectedClientId(born.pod, born.response), NEW_ID);
  t.equal(liveGets(h, 'changing') + liveGets(h, 'born'), getsBefore, 'both answered from the cache');
  const doomed = await mutatePod(h, 'u-doomed', 'doomed');
  t.equal(doomed.response.allowed, false, 'the deleted ServiceAccount is gone from the cache');
  t.match(doomed.response.status?.message, /serviceaccounts "doomed" not found in namespace "default"/);
});

void t.test('410 Gone on the resumed watch: the informer relists, and after the relist no answer is stale', async (t) => {
  const h = await startHarness(t, [], (_dir, api) => {
    api.putServiceAccount('default', 'changing', clientIdAnnotation(OLD_ID));
    api.putServiceAccount('default', 'doomed', clientIdAnnotation(OLD_ID));
  });
  await waitReady(h);
  await eventually(() => h.api.watcherCount() === 1, GENEROUS_WAIT_MS, 'the ServiceAccount watch is open');
  const before = await mutatePod(h, 'u-before', 'doomed');
  t.equal(injectedClientId(before.pod, before.response), OLD_ID, 'doomed is cached with the old client ID');

  h.api.cutWatches();
  h.api.putServiceAccount('default', 'changing', clientIdAnnotation(NEW_ID));
  h.api.deleteServiceAccount('default', 'doomed');
  h.api.putServiceAccount('default', 'born', clientIdAnnotation(NEW_ID));
  h.api.compact(); // the history is gone: resuming from the old resourceVersion gets 410 Gone
  const compactedAt = Math.max(...watchStarts(h), 0);
  t.equal(h.api.watcherCount(), 0, 'the changes were made while the watch was cut');

  await eventually(async () => (await readMetric(h.server.metricsPort, 'wi_admission_informer_restarts_total', { cause: 'expired' })) >= 1, GENEROUS_WAIT_MS, 'the 410 counted');
  // The informer opens a watch only after the relist replaced the store, and from the relist's resourceVersion.
  await eventually(() => watchStarts(h).some((rv) => rv > compactedAt) && h.api.watcherCount() === 1, GENEROUS_WAIT_MS, 'the watch restarted after the relist');

  const gets = { changing: liveGets(h, 'changing'), born: liveGets(h, 'born'), doomed: liveGets(h, 'doomed') };
  const changed = await mutatePod(h, 'u-changed', 'changing');
  t.equal(injectedClientId(changed.pod, changed.response), NEW_ID, 'the client ID changed during the cut is the one injected');
  const born = await mutatePod(h, 'u-born', 'born');
  t.equal(injectedClientId(born.pod, born.response), NEW_ID, 'a ServiceAccount created during the cut is known');
  t.same({ changing: liveGets(h, 'changing'), born: liveGets(h, 'born') }, { changing: gets.changing, born: gets.born }, 'both from the relisted cache');
  const doomed = await mutatePod(h, 'u-doomed', 'doomed');
  t.equal(doomed.response.allowed, false, 'the ServiceAccount deleted during the cut does not survive the relist');
  t.match(doomed.response.status?.message, /serviceaccounts "doomed" not found in namespace "default"/);
  t.equal(liveGets(h, 'doomed'), gets.doomed + 1, 'the cache missed it and the live GET confirmed it is gone');
  t.ok(h.sink.lines.some((l) => l.msg === 'watch expired (410 Gone), relisting'), 'the relist is logged');
});

void t.test('slow GET on a cache miss: bounded by --sa-lookup-timeout, then ServiceAccountLookupFailed; cached answers do not wait behind it', async (t) => {
  // The bound is the only wait here, and it is generous for what must happen within it: one cached admission.
  const h = await startHarness(t, ['--sa-lookup-timeout', '8s']);
  await waitReady(h);
  h.api.putServiceAccount('default', 'slow', clientIdAnnotation(NEW_ID), { silent: true });
  h.api.putServiceAccount('default', 'in-time', clientIdAnnotation(NEW_ID), { silent: true });

  // The API server holds this GET: only the lookup's own bound can end the wait.
  const releaseSlow = h.api.holdServiceAccountGets('slow');
  t.teardown(releaseSlow);
  let slowAnswered = false;
  const slow = mutatePod(h, 'u-slow', 'slow').then((r) => {
    slowAnswered = true;
    return r;
  });
  await eventually(() => liveGets(h, 'slow') === 1, GENEROUS_WAIT_MS, 'the live GET started');
  const cached = await mutatePod(h, 'u-cached', 'workload');
  t.equal(slowAnswered, false, 'the cached admission was answered while the slow one still waited');
  t.equal(injectedClientId(cached.pod, cached.response), OLD_ID);
  const result = await slow;
  const get = h.api.calls.find((c) => c.verb === 'get' && c.name === 'slow');
  t.equal(get?.answeredAt, undefined, 'answered while the API server still held the GET');
  t.equal(result.response.allowed, false);
  t.equal(result.response.status?.message, 'wi-admission: Pod default/pod-u-slow: could not read ServiceAccount default/slow (no answer from the API server within 8000 ms). The pod was not admitted unmutated; retry, and check that the webhook can reach the API server. [ServiceAccountLookupFailed]');

  // A GET that is slow but answers within the bound is used.
  const releaseInTime = h.api.holdServiceAccountGets('in-time');
  const inTime = mutatePod(h, 'u-in-time', 'in-time');
  await eventually(() => liveGets(h, 'in-time') === 1, GENEROUS_WAIT_MS, 'the second live GET started');
  releaseInTime();
  const answered = await inTime;
  t.equal(injectedClientId(answered.pod, answered.response), NEW_ID, 'a slow answer within the timeout is used');
  t.equal(await readMetric(h.server.metricsPort, 'wi_admission_serviceaccount_lookups_total', { result: 'error' }), 1);
  t.equal(await readMetric(h.server.metricsPort, 'wi_admission_serviceaccount_lookups_total', { result: 'live' }), 1);
});
