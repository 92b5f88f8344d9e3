// The drift audit in the real server, two replicas against one stand-in API
// server: both keep the metrics, only the Lease holder writes PolicyReports
// and Events; a tag edit in the identities file turns a binding to fail
// within the refresh; the holder's shutdown hands the writing over at once.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { writeDevCertificates } from '../../src/certs/issue.js';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { metricValue } from '../faults/support.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { eventually, getText } from '../helpers/https-client.js';
import { createLogSink } from '../helpers/log-sink.js';

const examples = new URL('../../examples/', import.meta.url).pathname;
const CHECKOUT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

interface Replica {
  server: RunningServer;
  sink: ReturnType<typeof createLogSink>;
  stopped: boolean;
}

async function cluster(t: Test, options: { policyReports: boolean }) {
  const dir = t.testdir({});
  await writeDevCertificates(join(dir, 'certs'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  copyFileSync(join(examples, 'policy.yaml'), join(dir, 'policy.yaml'));
  copyFileSync(join(examples, 'identities.json'), join(dir, 'identities.json'));
  const api = new FakeKubeApi();
  api.policyReportsInstalled = options.policyReports;
  api.putNamespace('checkout-prod', { 'platform.example.com/owner': 'checkout-team' });
  api.putServiceAccount('checkout-prod', 'checkout-api', { 'azure.workload.identity/client-id': CHECKOUT });
  await api.start();
  const kubeconfig = api.writeKubeconfig(dir);
  const replicas: Replica[] = [];
  const start = async (): Promise<Replica> => {
    const loaded = loadConfig(
      ['--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--webhook-cert-dir', join(dir, 'certs'), '--kubeconfig', kubeconfig,
        '--shutdown-delay', '0ms', '--policy', join(dir, 'policy.yaml'), '--identities', `file:${join(dir, 'identities.json')}`, '--audit-lease', 'wi'],
      { AZURE_TENANT_ID: TENANT, POD_NAMESPACE: 'wi-system' },
    );
    if (!loaded.ok) throw new Error(loaded.error);
    const sink = createLogSink('debug');
    const replica = { server: await startServer(loaded.config, sink.log), sink, stopped: false };
    replicas.push(replica);
    return replica;
  };
  t.teardown(async () => {
    for (const r of replicas) if (!r.stopped) await r.server.shutdown();
    await api.stop();
  });
  const setTags = (tags: Record<string, string>): void => {
    const path = join(dir, 'identities.json');
    const identities = (JSON.parse(readFileSync(path, 'utf8')) as { clientId: string; tags: Record<string, string> }[]).map((i) => (i.clientId === CHECKOUT ? { ...i, tags } : i));
    writeFileSync(path, JSON.stringify(identities));
  };
  const report = () => api.object('wgpolicyk8s.io', 'policyreports', 'checkout-prod', 'wi-admission') as { results?: { result: string; rule: string; message: string }[]; summary?: Record<string, number> } | undefined;
  const metrics = async (r: Replica) => (await getText(r.server.metricsPort, '/metrics')).body;
  return { api, start, setTags, report, metrics };
}

const leaderOf = async (replicas: Replica[], metrics: (r: Replica) => Promise<string>): Promise<Replica | undefined> => {
  for (const r of replicas) if (!r.stopped && metricValue(await metrics(r), 'wi_admission_audit_leader') === 1) return r;
  return undefined;
};

void t.test('two replicas: one writes, both count; drift from a tag edit; the writing handed over on shutdown', async (t) => {
  const { api, start, setTags, report, metrics } = await cluster(t, { policyReports: true });
  const a = await start();
  const b = await start();
  await eventually(() => report()?.results?.[0]?.result === 'pass', 20_000, 'the report with checkout-api passing');
  await eventually(async () => (await leaderOf([a, b], metrics)) !== undefined, 20_000, 'a leader');
  const leader = (await leaderOf([a, b], metrics)) as Replica;
  const follower = leader === a ? b : a;
  t.equal(metricValue(await metrics(follower), 'wi_admission_audit_leader'), 0, 'exactly one leader');
  t.match(api.object('coordination.k8s.io', 'leases', 'wi-system', 'wi'), { spec: { holderIdentity: /_[0-9a-f-]{36}$/, leaseDurationSeconds: 15, acquireTime: /\.\d{6}Z$/, renewTime: /\.\d{6}Z$/, leaseTransitions: 0 } }, 'the Lease in POD_NAMESPACE, named by --audit-lease');
  const creates = api.calls.filter((c) => c.resource === 'policyreports' && c.verb === 'create');
  t.equal(creates.length, 1, 'the report written once, by one replica');

  // Someone edits the identity's tags in Azure: it is no longer owned by the checkout team.
  setTags({ owner: 'billing-team', environment: 'prod', 'kubernetes.clusters': 'aks-prod-*' });
  await eventually(() => report()?.results?.[0]?.result === 'fail', 20_000, 'the report showing fail');
  t.match(report(), { summary: { pass: 0, fail: 1 }, results: [{ rule: 'team-must-own-identity', message: /requires tag owner=checkout-team, the identity has owner=billing-team/ }] });
  await eventually(() => api.storedObjects('events.k8s.io', 'events', 'checkout-prod').length === 1, 20_000, 'an Event on the ServiceAccount');
  t.match(api.storedObjects('events.k8s.io', 'events', 'checkout-prod')[0], { reason: 'IdentityNotApproved', regarding: { kind: 'ServiceAccount', name: 'checkout-api' } });
  for (const r of [a, b]) {
    await eventually(async () => metricValue(await metrics(r), 'wi_admission_audit_violations', { reason: 'IdentityNotApproved' }) === 1, 20_000, 'violations counted by every replica');
    const text = await metrics(r);
    t.equal(metricValue(text, 'wi_admission_audit_bindings'), 1);
    t.ok((metricValue(text, 'wi_admission_audit_runs_total', { trigger: 'inventory' }) ?? 0) >= 1, 'a run after the inventory listed again');
    t.ok((metricValue(text, 'wi_admission_audit_runs_total', { trigger: 'sync' }) ?? 0) === 1, 'one run after the first sync');
  }

  // The holder shuts down: it releases the Lease and the other replica writes from then on.
  await leader.server.shutdown();
  leader.stopped = true;
  await eventually(async () => metricValue(await metrics(follower), 'wi_admission_audit_leader') === 1, 10_000, 'the other replica leading');
  setTags({ owner: 'checkout-team', environment: 'prod', 'kubernetes.clusters': 'aks-prod-*' });
  await eventually(() => report()?.results?.[0]?.result === 'pass', 20_000, 'the report back to pass, written by the new leader');
  t.match(api.object('coordination.k8s.io', 'leases', 'wi-system', 'wi'), { spec: { leaseTransitions: 1 } });
  t.ok(leader.sink.lines.some((l) => l.msg === 'leader: lease released'), 'the old leader released the Lease');
});

void t.test('without the PolicyReport CRD: said once, metrics only', async (t) => {
  const { api, start, setTags, metrics } = await cluster(t, { policyReports: false });
  const replica = await start();
  await eventually(async () => metricValue(await metrics(replica), 'wi_admission_audit_bindings') === 1, 20_000, 'the binding audited');
  setTags({ owner: 'billing-team' });
  await eventually(async () => (metricValue(await metrics(replica), 'wi_admission_audit_violations', { reason: 'IdentityNotApproved' }) ?? 0) > 0, 20_000, 'the violation counted');
  t.equal(replica.sink.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('PolicyReport API not installed')).length, 1, 'logged once');
  t.notOk(api.calls.some((c) => c.resource === 'policyreports'), 'no report request');
});
