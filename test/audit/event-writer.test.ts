// Events on ServiceAccounts whose binding turned to fail, written to the
// stand-in API server: the events.k8s.io/v1 shape kubectl describe finds
// (regarding the ServiceAccount by uid), and the rate limits.
import t, { type Test } from 'tap';
import type { BindingAudit } from '../../src/audit/binding-audit.js';
import { EventWriter, type EventResult } from '../../src/audit/event-writer.js';
import { createKubeClient } from '../../src/kube/client.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { createLogSink } from '../helpers/log-sink.js';

const failing = (name: string, message = `wi-admission: ServiceAccount shop/${name} is not allowed to use client ID c2. [IdentityNotApproved]`): BindingAudit => ({
  name,
  clientId: 'c2',
  result: 'fail',
  rule: 'team-must-own-identity',
  reason: 'IdentityNotApproved',
  message,
  reasons: ['IdentityNotApproved'],
});

async function setup(t: Test, options: { burst?: number; refillMs?: number; perServiceAccountMs?: number } = {}) {
  const api = new FakeKubeApi();
  await api.start();
  const client = createKubeClient(api.writeKubeconfig(t.testdir({})), {});
  t.teardown(async () => {
    client.close();
    await api.stop();
  });
  let now = 1_000_000;
  const results: EventResult[] = [];
  const writer = new EventWriter({
    client,
    reportingInstance: 'wi-7c9d8f5b4-x2x7k_0d6e',
    log: createLogSink().log,
    onResult: (r) => void results.push(r),
    now: () => now,
    wallClock: () => new Date('2026-12-04T07:00:00.000Z'),
    ...options,
  });
  return { api, writer, results, advance: (ms: number) => (now += ms) };
}

void t.test('the Event names the ServiceAccount by uid, with the reason and the admission message', async (t) => {
  const { api, writer, results } = await setup(t);
  api.putServiceAccount('shop', 'api', { 'azure.workload.identity/client-id': 'c2' });
  await writer.bindingFailed('shop', failing('api'));
  t.same(results, ['written']);
  const [event] = api.storedObjects('events.k8s.io', 'events', 'shop');
  t.match(event, {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: /^api\.[0-9a-f]+$/, namespace: 'shop' },
    eventTime: '2026-12-04T07:00:00.000000Z',
    reportingController: 'wi-admission.io/audit',
    reportingInstance: 'wi-7c9d8f5b4-x2x7k_0d6e',
    action: 'Audit',
    reason: 'IdentityNotApproved',
    type: 'Warning',
    regarding: { apiVersion: 'v1', kind: 'ServiceAccount', namespace: 'shop', name: 'api', uid: /^uid-\d+$/ },
    note: failing('api').message,
  });
  t.same(Object.keys((event as { regarding: object }).regarding).sort(), ['apiVersion', 'kind', 'name', 'namespace', 'resourceVersion', 'uid'], 'only the reference, nothing else of the ServiceAccount');
});

void t.test('a ServiceAccount deleted meanwhile gets no Event; a long message is cut to 1 KiB', async (t) => {
  const { api, writer } = await setup(t);
  await writer.bindingFailed('shop', failing('gone'));
  t.same(api.storedObjects('events.k8s.io', 'events', 'shop'), []);
  api.putServiceAccount('shop', 'long', {});
  await writer.bindingFailed('shop', failing('long', `wi-admission: ${'é'.repeat(2000)} [IdentityNotApproved]`));
  const note = (api.storedObjects('events.k8s.io', 'events', 'shop')[0] as { note: string }).note;
  t.ok(Buffer.byteLength(note) <= 1024, `the note is ${Buffer.byteLength(note)} bytes`);
  t.match(note, /é…$/, 'cut at a character, marked');
});

void t.test('rate limits: a burst, then one per refill; one per ServiceAccount per period', async (t) => {
  const { api, writer, results, advance } = await setup(t, { burst: 3, refillMs: 5_000, perServiceAccountMs: 600_000 });
  for (let i = 0; i < 6; i++) api.putServiceAccount('shop', `sa-${i}`, {});
  for (let i = 0; i < 5; i++) await writer.bindingFailed('shop', failing(`sa-${i}`));
  t.same(results, ['written', 'written', 'written', 'rate_limited', 'rate_limited'], 'a tag edit breaking many bindings: the burst, then nothing');
  advance(5_000);
  await writer.bindingFailed('shop', failing('sa-5'));
  t.equal(results.at(-1), 'written', 'one more after the refill');
  advance(60_000);
  await writer.bindingFailed('shop', failing('sa-0'));
  t.equal(results.at(-1), 'rate_limited', 'not twice for one ServiceAccount within the period');
  advance(600_000);
  await writer.bindingFailed('shop', failing('sa-0'));
  t.equal(results.at(-1), 'written', 'after it, again');
  t.equal(api.storedObjects('events.k8s.io', 'events', 'shop').length, 5);
});

void t.test('an API error is counted, not thrown', async (t) => {
  const { api, writer, results } = await setup(t);
  api.putServiceAccount('shop', 'api', {});
  api.down = true;
  await writer.bindingFailed('shop', failing('api'));
  t.same(results, ['error']);
});
