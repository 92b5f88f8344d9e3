// Leader election on a Lease, with client-go's timings (15 s lease, 10 s
// renew deadline, 2 s retry) on a fake clock, against an in-memory Lease
// store with the API server's optimistic concurrency.
import t, { type Test } from 'tap';
import { LEASE_TIMINGS, LeaderElector, microTime } from '../../src/audit/leader-election.js';
import { KubeApiError } from '../../src/kube/api-error.js';
import { fakeTime, flush } from '../azure/fakes.js';
import { createLogSink } from '../helpers/log-sink.js';

const PATH = '/apis/coordination.k8s.io/v1/namespaces/wi-system/leases/wi';

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/** The Lease as the API server keeps it: create once, replace only with the current resourceVersion. */
class LeaseStore {
  lease: Lease | undefined;
  private rv = 1;
  writes: { by: string; holder: string | undefined }[] = [];

  client(by: string, broken: () => boolean = () => false) {
    return {
      getOrUndefined: async (path: string): Promise<unknown> => {
        if (broken()) throw new Error('connection refused');
        if (path !== PATH) throw new Error(`unexpected GET ${path}`);
        return this.lease ? structuredClone(this.lease) : undefined;
      },
      request: async (method: string, path: string, options: { body?: unknown } = {}): Promise<unknown> => {
        if (broken()) throw new Error('connection refused');
        const body = options.body as Lease;
        if (method === 'POST') {
          if (this.lease) throw new KubeApiError(method, path, 409, 'AlreadyExists', 'leases "wi" already exists');
        } else if (method === 'PUT') {
          if (!this.lease) throw new KubeApiError(method, path, 404, 'NotFound', 'leases "wi" not found');
          if (body.metadata.resourceVersion !== this.lease.metadata.resourceVersion) throw new KubeApiError(method, path, 409, 'Conflict', 'the object has been modified');
        } else throw new Error(`unexpected ${method}`);
        this.lease = { metadata: { name: 'wi', namespace: 'wi-system', resourceVersion: String(++this.rv) }, spec: structuredClone(body.spec) };
        this.writes.push({ by, holder: body.spec.holderIdentity });
        return structuredClone(this.lease);
      },
    };
  }
}

function candidate(t: Test, store: LeaseStore, time: ReturnType<typeof fakeTime>, identity: string, broken?: () => boolean) {
  const events: string[] = [];
  const sink = createLogSink();
  const elector = new LeaderElector({
    client: store.client(identity, broken),
    namespace: 'wi-system',
    name: 'wi',
    identity,
    log: sink.log,
    onStartedLeading: () => void events.push('started'),
    onStoppedLeading: () => void events.push('stopped'),
    now: time.now,
    wallClock: () => new Date(1_780_000_000_000 + time.now()),
    delay: time.delay,
    random: () => 0.5,
  });
  t.teardown(() => elector.stop());
  return { elector, events, sink };
}

/** a starts first and leads; b starts after it and follows. `aBroken` makes a's every request fail while it returns true. */
async function aLeadsThenB(t: Test, aBroken?: () => boolean) {
  const store = new LeaseStore();
  const time = fakeTime();
  const a = candidate(t, store, time, 'pod-a_1', aBroken);
  const b = candidate(t, store, time, 'pod-b_2');
  a.elector.start();
  await flush();
  b.elector.start();
  await flush();
  return { store, time, a, b };
}

void t.test('the first candidate creates the Lease and leads; the other follows while it renews', async (t) => {
  const { store, time, a, b } = await aLeadsThenB(t);
  t.ok(a.elector.isLeader(), 'a leads');
  t.notOk(b.elector.isLeader(), 'b follows');
  t.same(a.events, ['started']);
  t.match(store.lease?.spec, { holderIdentity: 'pod-a_1', leaseDurationSeconds: 15, leaseTransitions: 0 });
  t.match(store.lease?.spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'MicroTime with six fractional digits');
  await time.advance(60_000);
  t.ok(a.elector.isLeader());
  t.notOk(b.elector.isLeader(), 'b never took a Lease that kept changing');
  const renewals = store.writes.filter((w) => w.by === 'pod-a_1').length;
  t.ok(renewals >= 25 && renewals <= 31, `a renewed every 2 s (${renewals} writes in 60 s)`);
  t.notOk(store.writes.some((w) => w.by === 'pod-b_2'), 'b never wrote');
});

void t.test('stop() releases the Lease: the other candidate takes it at its next try', async (t) => {
  const { store, time, a, b } = await aLeadsThenB(t);
  await time.advance(5_000);
  await a.elector.stop();
  t.same(a.events, ['started', 'stopped']);
  t.match(store.lease?.spec, { leaseDurationSeconds: 1 }, 'released: a 1 s duration');
  t.notOk(store.lease?.spec.holderIdentity, 'and no holder');
  // b retries every 2 s × (1 + 0.5 × 1.2) = 3.2 s here.
  await time.advance(3_200);
  t.ok(b.elector.isLeader(), 'b leads within one retry period');
  t.match(store.lease?.spec, { holderIdentity: 'pod-b_2', leaseTransitions: 1 });
});

void t.test('a leader that dies (no release) is replaced once its Lease has not changed for the lease duration', async (t) => {
  let dead = false;
  const { time, a, b } = await aLeadsThenB(t, () => dead);
  await time.advance(10_000);
  dead = true;
  const lastRenewal = time.now();
  let tookOverAt: number | undefined;
  for (let waited = 0; waited < 30_000 && tookOverAt === undefined; waited += 1000) {
    await time.advance(1000);
    if (b.elector.isLeader()) tookOverAt = time.now();
  }
  t.ok(tookOverAt !== undefined, 'b took over');
  const after = (tookOverAt ?? Infinity) - lastRenewal;
  t.ok(after >= LEASE_TIMINGS.leaseDurationMs - LEASE_TIMINGS.retryPeriodMs, `not before the lease ran out (${after} ms after the last renewal)`);
  t.ok(after <= LEASE_TIMINGS.leaseDurationMs + 2 * LEASE_TIMINGS.retryPeriodMs * 2.2, `within the lease duration and a retry (${after} ms)`);
  t.same(a.events, ['started', 'stopped'], 'a stopped leading on its own: no renewal within the renew deadline');
  t.ok(a.sink.lines.some((l) => l.msg === 'leader: could not renew the lease in time, no longer writing'));
});

void t.test('one failed renewal within the renew deadline keeps the lead', async (t) => {
  const store = new LeaseStore();
  const time = fakeTime();
  let failures = 0;
  const a = candidate(t, store, time, 'pod-a_1', () => failures-- > 0);
  a.elector.start();
  await flush();
  failures = 2;
  await time.advance(20_000);
  t.ok(a.elector.isLeader());
  t.same(a.events, ['started']);
});

void t.test('two candidates racing for a new Lease: exactly one wins', async (t) => {
  const store = new LeaseStore();
  const time = fakeTime();
  const a = candidate(t, store, time, 'pod-a_1');
  const b = candidate(t, store, time, 'pod-b_2');
  a.elector.start();
  b.elector.start();
  await time.advance(10_000);
  t.equal([a, b].filter((c) => c.elector.isLeader()).length, 1);
});

void t.test('timings are checked as client-go checks them', async (t) => {
  const log = createLogSink().log;
  const build = (timings: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }) => () =>
    new LeaderElector({ client: new LeaseStore().client('x'), namespace: 'n', name: 'l', identity: 'x', log, onStartedLeading: () => undefined, onStoppedLeading: () => undefined, timings });
  t.throws(build({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }), /leaseDuration > renewDeadline/);
  t.throws(build({ leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }), /1\.2 × retryPeriod/);
  t.doesNotThrow(build(LEASE_TIMINGS));
  t.equal(microTime(new Date('2026-12-04T07:00:00.123Z')), '2026-12-04T07:00:00.123000Z');
});
