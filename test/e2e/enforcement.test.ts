// Safe enforcement on the real control plane: kube-apiserver, etcd and
// kube-controller-manager with each controller as its own kube-system
// ServiceAccount (as kubeadm and AKS run it). Two replicas of the real
// executable, with the chart's RBAC and the PolicyReport CRD the chart
// installs, share the audit Lease; a TCP forwarder in front of them stands in
// for the Service the API server calls. A Deployment with an approved identity
// runs; then the identity's tags change in the identities file (as someone
// edits them in Azure): the report fails, an Event says why, the metric
// counts it, a rollout restart is admitted with a warning and its pods are
// created and mutated, while new uses of the binding are denied. Restoring
// the tags passes again; killing the Lease holder hands the writing to the
// other replica.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { controlPlaneBinaries, freePorts, startControlPlane } from '../helpers/control-plane.js';
import { helmBinary } from '../helpers/helm.js';
import { eventually, getText } from '../helpers/https-client.js';
import { metricValue } from '../faults/support.js';

const root = new URL('../..', import.meta.url).pathname;
const main = join(root, 'src', 'main.ts');
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CHECKOUT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
const LEASE_DURATION_S = 15;

const binaries = controlPlaneBinaries();
if (!binaries.ok && process.env.CI === 'true') throw new Error(`CI must run the end-to-end suite: ${binaries.reason}`);

interface Replica {
  readonly name: string;
  readonly child: ChildProcess;
  readonly webhookPort: number;
  readonly healthPort: number;
  readonly metricsPort: number;
  output: string;
}

/** Forwards each TLS connection, as bytes, to the first replica that accepts it (a Service with two endpoints). */
function startForwarder(port: number, backends: () => number[]): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const server: Server = createServer((client: Socket) => {
    track(client);
    const tryNext = (ports: number[]): void => {
      const [next, ...rest] = ports;
      if (next === undefined) return void client.destroy();
      const upstream = connect(next, '127.0.0.1');
      track(upstream);
      upstream.once('connect', () => {
        client.pipe(upstream).pipe(client);
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      });
      upstream.once('error', () => tryNext(rest));
    };
    tryNext(backends());
  });
  // The API server keeps its connections to webhooks open: closing ends them too.
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ close })));
}

void t.test('deny new bindings at the door, report drift inside', { skip: binaries.ok ? false : `no control plane: ${binaries.reason}` }, async (t) => {
  if (!binaries.ok) return;
  const testStarted = Date.now();
  const dir = t.testdir({});
  const plane = await startControlPlane(dir, binaries.bin, { controllers: true, serviceAccountCredentials: true });
  t.teardown(() => plane.stop());
  const admin = new KubeConfig();
  admin.loadFromFile(plane.kubeconfig(dir, 'admin'));
  const core = admin.makeApiClient(CoreV1Api);
  const custom = admin.makeApiClient(CustomObjectsApi);
  const kubectl = (args: string[], input = ''): Promise<{ code: number; out: string }> =>
    new Promise((resolve) => {
      const child = execFile(plane.kubectl, ['--kubeconfig', plane.kubeconfig(dir, 'admin'), ...args], (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
      });
      child.stdin?.end(input);
    });

  // The chart, with the PolicyReport CRD, pointed at the forwarder.
  const [forwarderPort] = await freePorts(1);
  const policySpec = (parse(readFileSync(join(root, 'examples', 'policy.yaml'), 'utf8')) as { spec: unknown }).spec;
  const rendered = execFileSync(helmBinary(), ['template', 'wi', join(root, 'charts', 'wi-admission'), '-n', 'wi-system', '--set', `azureTenantID=${TENANT}`,
    '--set', 'certificates.extraHosts[0]=127.0.0.1', '--set', `webhook.url=https://127.0.0.1:${forwarderPort}`, '--set', 'audit.policyReports.installCRD=true',
    '--set-json', `policy=${JSON.stringify(policySpec)}`], { encoding: 'utf8' });
  const objects = parseAllDocuments(rendered).map((d) => d.toJS() as { kind: string; spec?: { template?: { spec?: { containers?: { args?: string[] }[] } } } } | null).filter((o) => o !== null);
  const pick = (...kinds: string[]) => objects.filter((o) => kinds.includes(o.kind)).map((o) => stringify(o)).join('---\n');

  await core.createNamespace({ body: { metadata: { name: 'wi-system' } } });
  await core.createNamespace({ body: { metadata: { name: 'checkout-prod', labels: { 'platform.example.com/owner': 'checkout-team' } } } });
  await core.createNamespacedServiceAccount({ namespace: 'checkout-prod', body: { metadata: { name: 'checkout-api', annotations: { 'azure.workload.identity/client-id': CHECKOUT } } } });
  const installed = await kubectl(['apply', '-f', '-'], pick('CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'));
  t.equal(installed.code, 0, `the chart's CRD, RBAC and webhook configurations applied: ${installed.out}`);
  const established = await kubectl(['wait', '--for=condition=Established', 'crd/policyreports.wgpolicyk8s.io', '--timeout=60s']);
  t.equal(established.code, 0, 'the PolicyReport CRD is established');

  // Two replicas of the executable, as the chart's Deployment runs them (its flags, the webhook's own credentials).
  const identitiesPath = join(dir, 'identities.json');
  copyFileSync(join(root, 'examples', 'identities.json'), identitiesPath);
  writeFileSync(join(dir, 'policy.yaml'), readFileSync(join(root, 'examples', 'policy.yaml')));
  const chartArgs = objects.find((o) => o.kind === 'Deployment')?.spec?.template?.spec?.containers?.[0]?.args ?? [];
  t.ok(chartArgs.includes('--audit-lease=wi'), 'the chart names the Lease');
  const replicas: Replica[] = [];
  const startReplica = async (name: string): Promise<Replica> => {
    const [webhookPort = 0, healthPort = 0, metricsPort = 0] = await freePorts(3);
    const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve',
      `--webhook-addr=127.0.0.1:${webhookPort}`, `--health-addr=127.0.0.1:${healthPort}`, `--metrics-addr=127.0.0.1:${metricsPort}`,
      `--webhook-cert-dir=${join(dir, `certs-${name}`)}`, '--cert-mode=self', '--cert-secret=wi-tls', '--cert-hosts=127.0.0.1', '--webhook-configuration=wi',
      `--kubeconfig=${plane.kubeconfig(dir, 'webhook')}`, `--policy=${join(dir, 'policy.yaml')}`, `--identities=file:${identitiesPath}`, '--audit-lease=wi', '--shutdown-delay=0ms'],
    { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AZURE_TENANT_ID: TENANT, POD_NAMESPACE: 'wi-system' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const replica: Replica = { name, child, webhookPort, healthPort, metricsPort, output: '' };
    child.stdout?.on('data', (d: Buffer) => (replica.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (replica.output += d.toString()));
    replicas.push(replica);
    await eventually(async () => (await getText(healthPort, '/readyz').catch(() => ({ status: 0 }))).status === 200, 90_000, () => `replica ${name} ready\n${replica.output.slice(-3000)}`);
    return replica;
  };
  t.teardown(() => {
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  });
  const alive = () => replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
  const forwarder = await startForwarder(forwarderPort ?? 0, () => alive().map((r) => r.webhookPort));
  t.teardown(() => forwarder.close());
  await startReplica('a');
  await startReplica('b');
  const metrics = async (r: Replica) => (await getText(r.metricsPort, '/metrics')).body;
  const leaderOf = async (): Promise<Replica | undefined> => {
    for (const r of alive()) if (metricValue(await metrics(r), 'wi_admission_audit_leader') === 1) return r;
    return undefined;
  };
  await eventually(async () => (await leaderOf()) !== undefined, 60_000, 'one replica holding the Lease');

  const report = async (): Promise<{ results?: { result: string; rule: string; message: string; resources: { name: string }[] }[]; summary?: Record<string, number> } | undefined> =>
    (await custom.getNamespacedCustomObject({ group: 'wgpolicyk8s.io', version: 'v1alpha2', namespace: 'checkout-prod', plural: 'policyreports', name: 'wi-admission' }).catch(() => undefined)) as never;
  const resultOf = async (serviceAccount: string) => (await report())?.results?.find((r) => r.resources[0]?.name === serviceAccount)?.result;
  const setOwner = (owner: string): void => {
    const identities = (JSON.parse(readFileSync(identitiesPath, 'utf8')) as { clientId: string; tags: Record<string, string> }[]).map((i) => (i.clientId === CHECKOUT ? { ...i, tags: { ...i.tags, owner } } : i));
    writeFileSync(identitiesPath, JSON.stringify(identities, null, 2));
  };
  const podsOf = async (selector: string): Promise<V1Pod[]> => (await core.listNamespacedPod({ namespace: 'checkout-prod', labelSelector: selector })).items;
  const isMutated = (pod: V1Pod): boolean => (pod.spec?.containers?.[0]?.env ?? []).some((e) => e.name === 'AZURE_CLIENT_ID' && e.value === CHECKOUT);

  // 2. A Deployment using an approved identity runs (its ReplicaSet's pods created and mutated).
  await eventually(async () => {
    // No kubelet: pods never become ready, so a rollout may take every old pod down at once.
    const applied = await kubectl(['apply', '-f', '-'], 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: checkout-prod}\nspec:\n  replicas: 2\n  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 2}}\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api, azure.workload.identity/use: "true"}}\n    spec: {serviceAccountName: checkout-api, containers: [{name: api, image: api:1}]}\n');
    return applied.code === 0;
  }, 60_000, 'the Deployment admitted (webhook configurations picked up)');
  await eventually(async () => (await podsOf('app=api')).filter(isMutated).length === 2, 90_000, () => `two mutated pods\n${plane.logs()}`);
  await eventually(async () => (await resultOf('checkout-api')) === 'pass', 60_000, 'the PolicyReport showing pass');
  t.pass('step 2: the approved Deployment runs, and its report passes');

  // 3. The identity's tags change outside the cluster: owner is no longer the checkout team.
  t.comment(`steps 1 and 2 took ${((Date.now() - testStarted) / 1000).toFixed(0)} s`);
  const changedAt = Date.now();
  setOwner('billing-team');
  await eventually(async () => (await resultOf('checkout-api')) === 'fail', 60_000, 'the PolicyReport showing fail');
  const failSeconds = (Date.now() - changedAt) / 1000;
  t.ok(failSeconds <= 30, `the report shows fail within 30 s (${failSeconds.toFixed(1)} s)`);
  const yaml = await kubectl(['get', 'policyreport', 'wi-admission', '-n', 'checkout-prod', '-o', 'yaml']);
  t.match(yaml.out, /result: fail/);
  t.comment(`kubectl get policyreport wi-admission -n checkout-prod -o yaml (failing):\n${yaml.out}`);
  const table = await kubectl(['get', 'policyreport', '-n', 'checkout-prod']);
  t.match(table.out, /^NAME\s+PASS\s+FAIL\s+WARN\s+ERROR\s+SKIP\s+AGE\nwi-admission\s+0\s+1\s+0\s+0\s+0\s+/, 'kubectl get policyreport prints the summary columns');
  t.comment(`kubectl get policyreport -n checkout-prod:\n${table.out}`);

  await eventually(async () => (await core.listNamespacedEvent({ namespace: 'checkout-prod', fieldSelector: 'involvedObject.kind=ServiceAccount,involvedObject.name=checkout-api' })).items.some((e) => e.reason === 'IdentityNotApproved'), 60_000, 'an Event on the ServiceAccount');
  const described = await kubectl(['describe', 'serviceaccount', 'checkout-api', '-n', 'checkout-prod']);
  t.match(described.out, /Warning\s+IdentityNotApproved\s+.*wi-admission: ServiceAccount checkout-prod\/checkout-api is not allowed to use client ID/s, 'kubectl describe sa shows why');
  t.comment(`kubectl describe serviceaccount checkout-api -n checkout-prod:\n${described.out}`);

  for (const r of alive()) {
    await eventually(async () => (metricValue(await metrics(r), 'wi_admission_audit_violations', { reason: 'IdentityNotApproved' }) ?? 0) > 0, 60_000, `replica ${r.name} counting the violation`);
  }
  t.pass('wi_admission_audit_violations{reason="IdentityNotApproved"} is above 0 on both replicas');

  const oldReplicaSets = new Set((await podsOf('app=api')).map((p) => p.metadata?.labels?.['pod-template-hash']));
  const restart = await kubectl(['rollout', 'restart', 'deployment/api', '-n', 'checkout-prod']);
  t.equal(restart.code, 0, `kubectl rollout restart is admitted: ${restart.out}`);
  t.match(restart.out, /^Warning: wi-admission: Deployment checkout-prod\/api \(ServiceAccount checkout-api\) is not allowed to use client ID 6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2 .*existingBindings: warn.*\[IdentityNotApproved\]$/m, 'and kubectl prints the finding as a Warning');
  t.comment(`kubectl rollout restart deployment/api -n checkout-prod:\n${restart.out}`);
  await eventually(async () => {
    const fresh = (await podsOf('app=api')).filter((p) => !oldReplicaSets.has(p.metadata?.labels?.['pod-template-hash']));
    return fresh.length === 2 && fresh.every(isMutated);
  }, 120_000, () => `the new ReplicaSet's two pods created and mutated\n${plane.logs()}`);
  const admissions = replicas.flatMap((r) => r.output.split('\n')).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'admission' && l.webhook === 'validate');
  t.ok(admissions.some((l) => l.kind === 'ReplicaSet' && l.operation === 'CREATE' && l.treatment === 'controller' && l.decision === 'warned'), 'the new ReplicaSet came from a trusted controller (the deployment controller) and was warned, not denied');
  t.ok(admissions.some((l) => l.kind === 'Pod' && l.treatment === 'controller' && l.decision === 'warned'), 'its pods came from a trusted controller (the ReplicaSet controller) and were warned, not denied');
  t.pass('the new ReplicaSet and its pods are admitted and mutated');

  const newDeployment = await kubectl(['apply', '-f', '-'], 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reports, namespace: checkout-prod}\nspec:\n  selector: {matchLabels: {app: reports}}\n  template:\n    metadata: {labels: {app: reports, azure.workload.identity/use: "true"}}\n    spec: {serviceAccountName: checkout-api, containers: [{name: reports, image: reports:1}]}\n');
  t.not(newDeployment.code, 0, 'a new Deployment using the same ServiceAccount is denied');
  t.match(newDeployment.out, /admission webhook "validation\.wi-admission\.io" denied the request: wi-admission: Deployment checkout-prod\/reports \(ServiceAccount checkout-api\) is not allowed to use client ID .*\[IdentityNotApproved\]/);
  t.comment(`kubectl apply of a new Deployment:\n${newDeployment.out}`);

  const owner = (await core.listNamespacedPod({ namespace: 'checkout-prod', labelSelector: 'app=api' })).items[0]?.metadata?.ownerReferences?.[0];
  t.ok(owner?.controller, 'a real controller ownerReference to copy');
  const forged = await kubectl(['apply', '-f', '-'], stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'forged', namespace: 'checkout-prod', labels: { app: 'forged', 'azure.workload.identity/use': 'true' }, ownerReferences: [owner] },
    spec: { serviceAccountName: 'checkout-api', containers: [{ name: 'c', image: 'c:1' }] },
  }));
  t.not(forged.code, 0, 'a bare pod with a forged controller ownerReference is denied');
  t.match(forged.out, /denied the request: wi-admission: Pod checkout-prod\/forged \(ServiceAccount checkout-api\) is not allowed to use client ID .*\[IdentityNotApproved\]/);

  // 4. The tags restored: the report passes again.
  setOwner('checkout-team');
  await eventually(async () => (await resultOf('checkout-api')) === 'pass', 60_000, 'the PolicyReport back to pass');
  t.pass('step 4: the report returns to pass');

  // 5. The Lease holder is killed (no release): the other replica takes over the writing.
  const holder = (await leaderOf()) as Replica;
  const other = alive().find((r) => r !== holder) as Replica;
  const lease = async () => (await kubectl(['get', 'lease', 'wi', '-n', 'wi-system', '-o', 'jsonpath={.spec.holderIdentity}'])).out.trim();
  const heldBy = await lease();
  holder.child.kill('SIGKILL');
  const killedAt = Date.now();
  await eventually(async () => {
    const now = await lease();
    return now !== '' && now !== heldBy && metricValue(await metrics(other), 'wi_admission_audit_leader') === 1;
  }, 90_000, 'the other replica holding the Lease');
  const takeover = (Date.now() - killedAt) / 1000;
  // client-go's semantics: the Lease expires a lease duration after the last renewal the other replica saw, and it
  // retries every 2 s (jittered up to ×2.2): up to 15 + 4.4 s; 10 s more for a loaded machine.
  t.ok(takeover <= LEASE_DURATION_S + 4.4 + 10, `the other replica took the Lease ${takeover.toFixed(1)} s after the kill (lease duration ${LEASE_DURATION_S} s)`);
  setOwner('billing-team');
  await eventually(async () => (await resultOf('checkout-api')) === 'fail', 60_000, 'the new leader writing the report');
  t.pass(`step 5: replica ${other.name} writes the reports after replica ${holder.name} was killed`);
  setOwner('checkout-team');
  t.comment(`the whole scenario took ${((Date.now() - testStarted) / 1000).toFixed(0)} s`);
});
