// PolicyReports written through the server's own API client to the
// stand-in API server: created, replaced and deleted with the resourceVersion
// read, a conflict read again and retried, unchanged reports never rewritten,
// Events for bindings that turn to fail, and the PolicyReport API missing.
import t, { type Test } from 'tap';
import type { BindingAudit } from '../../src/audit/binding-audit.js';
import { buildPolicyReport, knownResults, readResults, sameResults } from '../../src/audit/policy-report.js';
import { ReportWriter, type WriteOperation, type WriteResult } from '../../src/audit/report-writer.js';
import { createKubeClient } from '../../src/kube/client.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { eventually } from '../helpers/https-client.js';
import { createLogSink } from '../helpers/log-sink.js';

const pass = (name: string): BindingAudit => ({ name, clientId: 'c1', result: 'pass', rule: 'Approved', reason: 'Approved', message: undefined, reasons: [] });
const fail = (name: string): BindingAudit => ({
  name,
  clientId: 'c2',
  result: 'fail',
  rule: 'team-must-own-identity',
  reason: 'IdentityNotApproved',
  message: `wi-admission: ServiceAccount shop/${name} is not allowed to use client ID c2: rule "team-must-own-identity" requires tag owner=a. [IdentityNotApproved]`,
  reasons: ['IdentityNotApproved'],
});

class Results {
  readonly byNamespace = new Map<string, BindingAudit[]>();
  namespaces() {
    return this.byNamespace.keys();
  }
  verdictsOf(namespace: string) {
    return (this.byNamespace.get(namespace) ?? []).map((a) => ({ name: a.name, result: a.result }));
  }
  async resultsOf(namespace: string) {
    return this.byNamespace.get(namespace) ?? [];
  }
}

async function setup(t: Test, options: { installed?: boolean } = {}) {
  const api = new FakeKubeApi();
  api.policyReportsInstalled = options.installed ?? true;
  await api.start();
  const client = createKubeClient(api.writeKubeconfig(t.testdir({})), {});
  t.teardown(async () => {
    client.close();
    await api.stop();
  });
  const results = new Results();
  const failed: string[] = [];
  const writes: `${WriteOperation}/${WriteResult}`[] = [];
  const sink = createLogSink();
  const writer = new ReportWriter({
    client,
    audit: results,
    onBindingFailed: async (namespace, audit) => void failed.push(`${namespace}/${audit.name}`),
    log: sink.log,
    onWrite: (operation, result) => void writes.push(`${operation}/${result}`),
    retryMs: 10,
  });
  t.teardown(() => writer.standDown());
  const report = (namespace: string) => api.object('wgpolicyk8s.io', 'policyreports', namespace, 'wi-admission') as Record<string, unknown> | undefined;
  return { api, results, writer, failed, writes, sink, report };
}

void t.test('one report per namespace with bindings: created, left alone while unchanged, replaced, deleted', async (t) => {
  const { api, results, writer, failed, writes, report } = await setup(t);
  results.byNamespace.set('shop', [pass('api'), fail('borrowed')]);
  results.byNamespace.set('billing', [pass('worker')]);
  writer.lead();
  writer.changed([]);
  await writer.idle();
  t.same(writes.sort(), ['create/success', 'create/success']);
  t.match(report('shop'), {
    apiVersion: 'wgpolicyk8s.io/v1alpha2',
    kind: 'PolicyReport',
    metadata: { name: 'wi-admission', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'wi-admission' } },
    summary: { pass: 1, fail: 1, warn: 0, error: 0, skip: 0 },
    results: [
      { source: 'wi-admission', policy: 'wi-admission', rule: 'Approved', result: 'pass', resources: [{ apiVersion: 'v1', kind: 'ServiceAccount', namespace: 'shop', name: 'api' }], properties: { clientId: 'c1' }, message: 'ServiceAccount shop/api may use client ID c1: the policy approves it for namespace shop.' },
      { rule: 'team-must-own-identity', result: 'fail', severity: 'high', message: fail('borrowed').message, properties: { clientId: 'c2', reasons: 'IdentityNotApproved' } },
    ],
  });
  t.same(failed, [], 'no Event for a binding first seen failing');

  const calls = api.calls.length;
  writer.changed(['shop', 'billing']);
  await writer.idle();
  t.equal(api.calls.length, calls, 'unchanged results: not a single request');

  const firstSeen = (report('shop')?.results as { timestamp: { seconds: number } }[])[0]?.timestamp.seconds;
  results.byNamespace.set('shop', [fail('api'), fail('borrowed')]);
  writer.changed(['shop']);
  await writer.idle();
  t.equal(writes.at(-1), 'update/success');
  t.match(report('shop'), { summary: { pass: 0, fail: 2 } });
  t.same(failed, ['shop/api'], 'an Event for the binding that went from pass to fail');
  const stamps = (report('shop')?.results as { timestamp: { seconds: number } }[]).map((r) => r.timestamp.seconds);
  t.ok(firstSeen !== undefined && (stamps[0] ?? 0) >= firstSeen, 'the changed result is stamped anew');

  results.byNamespace.delete('billing');
  writer.changed(['billing']);
  await writer.idle();
  t.equal(writes.at(-1), 'delete/success');
  t.equal(report('billing'), undefined, 'a namespace left without bindings has no report');
  const del = api.calls.filter((c) => c.verb === 'delete');
  t.equal(del.length, 1);
});

void t.test('optimistic concurrency: a report changed by another writer is read again and replaced', async (t) => {
  const { api, results, writer, writes, report } = await setup(t);
  results.byNamespace.set('shop', [pass('api')]);
  writer.lead();
  writer.changed([]);
  await writer.idle();
  let raced = false;
  api.beforeWrite = (call) => {
    if (raced || call.verb !== 'update') return;
    raced = true;
    api.putObject('wgpolicyk8s.io', 'policyreports', 'shop', { ...report('shop'), results: [] });
  };
  results.byNamespace.set('shop', [fail('api')]);
  writer.changed(['shop']);
  await writer.idle();
  t.same(writes, ['create/success', 'update/conflict', 'update/success']);
  t.ok(api.calls.some((c) => c.verb === 'get' && c.resource === 'policyreports'), 'read again after the conflict');
  t.match(report('shop'), { results: [{ result: 'fail' }] });
});

void t.test('taking over: reports another replica wrote are kept when right, corrected or deleted when not', async (t) => {
  const { api, results, writer, writes, failed } = await setup(t);
  // What a previous leader left: shop up to date, billing stale (pass, now fail), old (no bindings any more).
  api.putObject('wgpolicyk8s.io', 'policyreports', 'shop', buildPolicyReport('shop', [pass('api')], new Map(), 1_700_000_000) as unknown as Record<string, unknown>);
  api.putObject('wgpolicyk8s.io', 'policyreports', 'billing', buildPolicyReport('billing', [pass('worker')], new Map(), 1_700_000_000) as unknown as Record<string, unknown>);
  api.putObject('wgpolicyk8s.io', 'policyreports', 'old', buildPolicyReport('old', [pass('gone')], new Map(), 1_700_000_000) as unknown as Record<string, unknown>);
  results.byNamespace.set('shop', [pass('api')]);
  results.byNamespace.set('billing', [fail('worker')]);
  writer.lead();
  await writer.idle();
  t.same(writes, [], 'nothing before the audit finished its first run');
  writer.changed([]);
  await writer.idle();
  t.same(writes.sort(), ['delete/success', 'update/success'], 'billing corrected, old deleted, shop untouched');
  t.same(failed, ['billing/worker'], 'the failure the previous leader had not reported yet gets its Event');
  t.ok(api.calls.some((c) => c.verb === 'list' && c.resource === 'policyreports'), 'one list of the reports that exist');
});

void t.test('without the PolicyReport API: said once, metrics and Events only, and found later', async (t) => {
  const { api, results, writer, failed, sink, report } = await setup(t, { installed: false });
  results.byNamespace.set('shop', [pass('api')]);
  writer.lead();
  writer.changed([]);
  await writer.idle();
  results.byNamespace.set('shop', [fail('api')]);
  writer.changed(['shop']);
  await writer.idle();
  t.same(failed, ['shop/api'], 'the Event still comes');
  t.notOk(api.calls.some((c) => c.resource === 'policyreports'), 'no report request');
  const notes = sink.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('PolicyReport API not installed'));
  t.equal(notes.length, 1, 'said once');
  t.match(notes[0], { level: 40, api: '/apis/wgpolicyk8s.io/v1alpha2' });
  await writer.standDown();
  api.policyReportsInstalled = true;
  writer.lead();
  writer.changed([]);
  await writer.idle();
  t.match(report('shop'), { results: [{ result: 'fail' }] }, 'a new lead looks again and writes');
});

void t.test('standing down stops writing', async (t) => {
  const { results, writer, writes } = await setup(t);
  results.byNamespace.set('shop', [pass('api')]);
  writer.lead();
  writer.changed([]);
  await writer.idle();
  await writer.standDown();
  t.notOk(writer.isLeading());
  results.byNamespace.set('shop', [fail('api')]);
  writer.changed(['shop']);
  await writer.idle();
  t.same(writes, ['create/success']);
});

void t.test('a failed write is retried', async (t) => {
  const { api, results, writer, writes, report } = await setup(t);
  results.byNamespace.set('shop', [pass('api')]);
  api.down = true;
  writer.lead();
  writer.changed([]);
  await new Promise((r) => setTimeout(r, 50));
  api.down = false;
  await eventually(() => report('shop') !== undefined, 10_000, 'the report after the API server came back');
  t.equal(writes.at(-1), 'create/success');
});

void t.test('reports read back from the API server compare as written', async (t) => {
  const report = buildPolicyReport('shop', [pass('api'), fail('borrowed')], new Map(), 1_700_000_000);
  const roundTrip = knownResults(readResults(JSON.parse(JSON.stringify(report))));
  t.ok(sameResults(roundTrip, report.results), 'what the API server returns is what was written');
  t.same(readResults({ results: [{ result: 'pass' }, null, 'x', { result: 'fail', resources: [], timestamp: { seconds: 1, nanos: 0 } }] }).length, 1, 'malformed results are left out');
  const later = buildPolicyReport('shop', [pass('api'), fail('borrowed')], knownResults(report.results), 1_800_000_000);
  t.same(later.results.map((r) => r.timestamp.seconds), [1_700_000_000, 1_700_000_000], 'unchanged results keep their timestamp');
  const changed = buildPolicyReport('shop', [fail('api'), fail('borrowed')], knownResults(report.results), 1_800_000_000);
  t.notOk(sameResults(knownResults(report.results), changed.results), 'a changed result is something to write');
  t.same(changed.results.map((r) => r.timestamp.seconds), [1_800_000_000, 1_700_000_000], 'a changed result is stamped now');
});
