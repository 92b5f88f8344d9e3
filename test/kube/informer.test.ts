import t from 'tap';
import { KubeApiError } from '../../src/kube/api-error.js';
import { Informer, type ListPage, type ListRequest, type ListWatchSource } from '../../src/kube/informer.js';
import { toServiceAccountEntry, toServiceAccountRecord } from '../../src/kube/service-account-cache.js';
import type { ServiceAccountRecord } from '../../src/identity/service-account.js';
import { createLogSink } from '../helpers/log-sink.js';

const sa = (namespace: string, name: string, rv: number, annotations: Record<string, string> = {}) => ({
  metadata: { namespace, name, resourceVersion: String(rv), annotations: { ...annotations, 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"blob"}' } },
  secrets: [{ name: 'token' }],
});

/** A scripted API server side: list pages and controllable watches. */
class FakeSource implements ListWatchSource {
  pages: ListPage[][] = [];
  listCalls = 0;
  /** resourceVersion of each list call that started a list (not its continuation pages). */
  listVersions: string[] = [];
  listError: Error | undefined;
  /** Thrown once by the next list call at this resourceVersion. */
  failOnceAt: { resourceVersion: string; err: Error } | undefined;
  watches: { rv: string; onEvent: (type: string, object: unknown) => void; onDone: (err: unknown) => void; aborted: boolean }[] = [];

  async list({ resourceVersion, continueToken }: ListRequest): Promise<ListPage> {
    this.listCalls++;
    if (continueToken === undefined) this.listVersions.push(resourceVersion);
    if (this.listError) throw this.listError;
    if (this.failOnceAt && this.failOnceAt.resourceVersion === resourceVersion && continueToken === undefined) {
      const { err } = this.failOnceAt;
      this.failOnceAt = undefined;
      throw err;
    }
    const set = this.pages[0];
    if (!set) throw new Error('no list scripted');
    const index = continueToken ? Number(continueToken) : 0;
    const page = set[index];
    if (!page) throw new Error(`no page ${index}`);
    if (index === set.length - 1 && this.pages.length > 1) this.pages.shift();
    return page;
  }

  async watch(rv: string, onEvent: (type: string, object: unknown) => void, onDone: (err: unknown) => void) {
    const w = { rv, onEvent, onDone, aborted: false };
    this.watches.push(w);
    return { abort: () => void (w.aborted = true) };
  }

  last() {
    const w = this.watches.at(-1);
    if (!w) throw new Error('no watch');
    return w;
  }
}

const tick = () => new Promise((r) => setImmediate(r));
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await tick();
  if (!check()) throw new Error('condition never held');
}

function build(source: FakeSource, sink = createLogSink()) {
  const delays: number[] = [];
  const restarts: string[] = [];
  const informer = new Informer<ServiceAccountRecord>({
    source,
    toEntry: (object) => {
      const record = toServiceAccountRecord(object);
      return record && ([`${record.namespace}/${record.name}`, record] as const);
    },
    log: sink.log,
    delay: (ms) => {
      delays.push(ms);
      return new Promise<void>((r) => setImmediate(r));
    },
    hooks: { onRestart: (cause) => void restarts.push(cause) },
  });
  return { informer, delays, restarts };
}

void t.test('lists every page, keeps slim records, then watches from the list resourceVersion', async (t) => {
  const source = new FakeSource();
  source.pages = [[
    { items: [sa('a', 'one', 5, { 'azure.workload.identity/client-id': 'c1' })], resourceVersion: '10', continueToken: '1' },
    { items: [sa('b', 'two', 6)], resourceVersion: '10', continueToken: undefined },
  ]];
  const { informer } = build(source);
  t.equal(informer.hasSynced(), false);
  informer.start();
  await until(() => source.watches.length === 1);
  t.equal(informer.hasSynced(), true);
  t.equal(informer.size(), 2);
  t.same(informer.get('a/one'), { namespace: 'a', name: 'one', annotations: { 'azure.workload.identity/client-id': 'c1' } }, 'only azure.workload.identity/* annotations kept');
  t.equal(source.last().rv, '10');

  source.last().onEvent('ADDED', sa('c', 'three', 11));
  source.last().onEvent('MODIFIED', sa('a', 'one', 12, { 'azure.workload.identity/client-id': 'c2' }));
  source.last().onEvent('DELETED', sa('b', 'two', 13));
  source.last().onEvent('BOOKMARK', { metadata: { resourceVersion: '20' } });
  t.equal(informer.size(), 2);
  t.equal(informer.get('a/one')?.annotations['azure.workload.identity/client-id'], 'c2');
  t.equal(informer.get('b/two'), undefined);

  source.last().onDone(null); // server closed the watch normally
  await until(() => source.watches.length === 2);
  t.equal(source.last().rv, '20', 'resumes from the last resourceVersion seen (bookmark)');
  t.equal(source.listCalls, 2, 'no relist on a normal close');
  await informer.stop();
  t.equal(source.last().aborted, true, 'stop aborts the watch');
});

void t.test('410 Gone relists, and the new list replaces the store whole', async (t) => {
  const source = new FakeSource();
  source.pages = [
    [{ items: [sa('a', 'one', 5), sa('a', 'gone', 6)], resourceVersion: '10', continueToken: undefined }],
    [{ items: [sa('a', 'one', 5), sa('a', 'new', 30)], resourceVersion: '30', continueToken: undefined }],
  ];
  const { informer, restarts } = build(source);
  informer.start();
  await until(() => source.watches.length === 1);
  source.last().onEvent('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
  await until(() => source.watches.length === 2);
  t.same(restarts, ['expired']);
  t.equal(informer.get('a/gone'), undefined, 'an object deleted while the watch was gone does not survive');
  t.ok(informer.get('a/new'));
  t.equal(source.last().rv, '30');
  await informer.stop();
});

void t.test('failures back off exponentially; readiness stays once synced', async (t) => {
  const source = new FakeSource();
  source.listError = new Error('connection refused');
  const { informer, delays } = build(source);
  informer.start();
  await until(() => delays.length >= 3);
  t.equal(informer.hasSynced(), false, 'not synced while the API server is down');
  delays.slice(0, 3).forEach((d, i) => t.ok(d >= 250 * 2 ** i && d <= 500 * 2 ** i, `wait ${i + 1} is ${d} ms, within the doubling window`));
  source.listError = undefined;
  source.pages = [[{ items: [sa('a', 'one', 1)], resourceVersion: '1', continueToken: undefined }]];
  await until(() => source.watches.length === 1);
  t.equal(informer.hasSynced(), true);
  const before = delays.length;
  source.last().onDone(new Error('stream reset'));
  await until(() => source.watches.length === 2);
  t.equal(delays.length, before + 1, 'a failed watch waits before retrying');
  t.equal(informer.hasSynced(), true, 'still synced: the last state keeps answering');
  t.equal(informer.get('a/one')?.name, 'one');
  await informer.stop();
});

void t.test('stop does not wait for a watch that never started', async (t) => {
  const source = new FakeSource();
  source.pages = [[{ items: [], resourceVersion: '1', continueToken: undefined }]];
  source.watch = () => new Promise(() => undefined);
  const { informer } = build(source);
  informer.start();
  await until(() => informer.hasSynced());
  await informer.stop();
  t.pass('stopped');
});

void t.test('the ServiceAccount cache keeps a key and the identity annotations; unannotated ones share one empty object', async (t) => {
  const annotated = toServiceAccountEntry(sa('a', 'one', 5, { 'azure.workload.identity/client-id': 'c1', 'other.example.com/x': 'y' }));
  t.same(annotated, ['a/one', { 'azure.workload.identity/client-id': 'c1' }]);
  const plain = [toServiceAccountEntry(sa('a', 'two', 6)), toServiceAccountEntry(sa('b', 'three', 7))];
  t.same(plain.map((e) => e?.[0]), ['a/two', 'b/three']);
  t.equal(plain[0]?.[1], plain[1]?.[1], 'the same object');
  t.ok(Object.isFrozen(plain[0]?.[1]));
  t.equal(toServiceAccountEntry({ metadata: { name: 'no-namespace' } }), undefined);
});

void t.test('lists from the watch cache first (resourceVersion 0), then never behind the last version seen, and consistently after a 410', async (t) => {
  const source = new FakeSource();
  source.pages = [
    [{ items: [sa('a', 'one', 5)], resourceVersion: '10', continueToken: undefined }],
    [{ items: [sa('a', 'one', 5)], resourceVersion: '20', continueToken: undefined }],
    [{ items: [sa('a', 'one', 5)], resourceVersion: '30', continueToken: undefined }],
  ];
  const { informer } = build(source);
  informer.start();
  await until(() => source.watches.length === 1);
  t.same(source.listVersions, ['0'], 'the initial list may be served by the watch cache');

  // Three failed watches: the informer relists, at the last version it saw.
  source.last().onEvent('BOOKMARK', { metadata: { resourceVersion: '15' } });
  for (let i = 0; i < 3; i++) {
    const before = source.watches.length;
    source.last().onDone(new Error('reset'));
    await until(() => source.watches.length === before + 1);
  }
  t.same(source.listVersions, ['0', '15'], 'a relist after failures is not older than what was seen');

  source.last().onEvent('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
  await until(() => source.watches.length === 5);
  t.same(source.listVersions, ['0', '15', ''], 'after 410 Gone: a consistent read from etcd');
  t.equal(source.last().rv, '30');
  await informer.stop();
});

void t.test('a list at a version the watch cache cannot serve falls back to a consistent list at once', async (t) => {
  const source = new FakeSource();
  source.pages = [[{ items: [sa('a', 'one', 5)], resourceVersion: '40', continueToken: undefined }]];
  source.failOnceAt = { resourceVersion: '0', err: new KubeApiError('GET', '/api/v1/serviceaccounts', 410, 'Expired', 'too old resource version: 0 (40)') };
  const { informer, delays } = build(source);
  informer.start();
  await until(() => source.watches.length === 1);
  t.same(source.listVersions, ['0', ''], 'retried as a consistent list');
  t.same(delays, [], 'without a backoff');
  t.equal(informer.hasSynced(), true);

  const tooLarge = new FakeSource();
  tooLarge.pages = [[{ items: [], resourceVersion: '41', continueToken: undefined }]];
  tooLarge.failOnceAt = { resourceVersion: '0', err: new KubeApiError('GET', '/api/v1/serviceaccounts', 504, 'Timeout', 'Timeout: Too large resource version: 50, current: 41') };
  const second = build(tooLarge);
  second.informer.start();
  await until(() => tooLarge.watches.length === 1);
  t.same(tooLarge.listVersions, ['0', ''], 'a resourceVersion newer than the cache: the same fallback');
  await Promise.all([informer.stop(), second.informer.stop()]);
});

void t.test('an ERROR event other than 410 ends the watch: logged, counted, and a relist after a backoff', async (t) => {
  const source = new FakeSource();
  source.pages = [
    [{ items: [sa('a', 'one', 5), sa('a', 'two', 6)], resourceVersion: '10', continueToken: undefined }],
    [{ items: [sa('a', 'one', 5)], resourceVersion: '12', continueToken: undefined }],
  ];
  const sink = createLogSink();
  const { informer, delays, restarts } = build(source, sink);
  informer.start();
  await until(() => source.watches.length === 1);
  const first = source.last();
  first.onEvent('ERROR', { kind: 'Status', status: 'Failure', code: 500, reason: 'InternalError', message: 'etcd cluster is unavailable or misconfigured' });
  t.equal(first.aborted, true, 'the watch is ended');
  // Events after the ERROR on the same stream are not applied.
  first.onEvent('DELETED', sa('a', 'one', 11));
  await until(() => source.watches.length === 2);
  t.same(restarts, ['error_event'], 'counted with its own cause');
  t.equal(delays.length, 1, 'after a backoff');
  t.same(source.listVersions, ['0', '10'], 'relisted');
  t.equal(informer.get('a/two'), undefined, 'the relist replaced the store');
  t.ok(informer.get('a/one'), 'the event after the ERROR was not applied');
  t.match(sink.lines.find((l) => l.msg === 'watch error event, relisting'), { level: 40, status: { code: 500, reason: 'InternalError', message: 'etcd cluster is unavailable or misconfigured' } });
  await informer.stop();
});
