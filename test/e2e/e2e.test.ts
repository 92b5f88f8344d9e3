// End to end with the component that calls the webhook: a real kube-apiserver,
// etcd and kube-controller-manager (built by scripts/build-control-plane.sh;
// the suite is skipped, with the reason, only where Go is missing, and never
// under CI=true). The chart's webhook configurations and RBAC are applied with
// webhook.url pointing at the server started here, in the chart's default
// certificate mode (self): the server, with only the chart's RBAC, creates its
// CA and certificate in a Secret and writes the CA bundle into the webhook
// configurations itself. Pods are created through the API server and come
// back mutated, including the pods a Deployment's ReplicaSet creates; a
// ServiceAccount binding another team's identity, and a Deployment using a
// ServiceAccount that already binds one, are refused with our message.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server/serve.js';
import { controlPlaneBinaries, freePorts, startControlPlane } from '../helpers/control-plane.js';
import { helmBinary } from '../helpers/helm.js';
import { eventually, getText } from '../helpers/https-client.js';
import { createLogSink } from '../helpers/log-sink.js';

const root = new URL('../..', import.meta.url).pathname;
const CHECKOUT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
const BILLING = '0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b';

const binaries = controlPlaneBinaries();
if (!binaries.ok && process.env.CI === 'true') throw new Error(`CI must run the end-to-end suite: ${binaries.reason}`);

/** upstream's volume name for a pod created from generateName (UPSTREAM.md §4). */
const expectedVolumeName = (generateName: string): string =>
  `azure-workload-identity-reserved-${createHash('sha256').update(`${generateName} (prefix)`).digest('hex').slice(0, 30)}`;

void t.test('a real kube-apiserver calls the webhooks', { skip: binaries.ok ? false : `no control plane: ${binaries.reason}` }, async (t) => {
  if (!binaries.ok) return;
  const dir = t.testdir({});
  const plane = await startControlPlane(dir, binaries.bin, { controllers: true });
  t.teardown(() => plane.stop());
  t.comment(`control plane from ${binaries.bin}`);
  const admin = new KubeConfig();
  admin.loadFromFile(plane.kubeconfig(dir, 'admin'));
  const core = admin.makeApiClient(CoreV1Api);

  // The chart, pointed at this process (a port chosen up front), with the example policy.
  const [webhookPort] = await freePorts(1);
  const policySpec = (parse(readFileSync(join(root, 'examples', 'policy.yaml'), 'utf8')) as { spec: unknown }).spec;

  // Cluster state first: the namespace with its owner label and the ServiceAccount.
  await core.createNamespace({ body: { metadata: { name: 'checkout-prod', labels: { 'platform.example.com/owner': 'checkout-team' } } } });
  await core.createNamespacedServiceAccount({ namespace: 'checkout-prod', body: { metadata: { name: 'checkout-api', annotations: { 'azure.workload.identity/client-id': CHECKOUT } } } });
  await core.createNamespace({ body: { metadata: { name: 'wi-system' } } });
  // Bound before the policy existed: the validator refuses new workloads that use it.
  await core.createNamespacedServiceAccount({ namespace: 'checkout-prod', body: { metadata: { name: 'legacy-batch', annotations: { 'azure.workload.identity/client-id': BILLING } } } });

  const sink = createLogSink('info');
  const loaded = loadConfig(
    ['--webhook-addr', `127.0.0.1:${webhookPort}`, '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--webhook-cert-dir', join(dir, 'certs'),
      '--cert-mode', 'self', '--cert-secret', 'wi-tls', '--cert-hosts', '127.0.0.1', '--webhook-configuration', 'wi',
      '--kubeconfig', plane.kubeconfig(dir, 'webhook'), '--policy', join(root, 'examples', 'policy.yaml'),
      '--identities', `file:${join(root, 'examples', 'identities.json')}`, '--shutdown-delay', '0ms'],
    { AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47', POD_NAMESPACE: 'wi-system' },
  );
  if (!loaded.ok) throw new Error(loaded.error);
  // RBAC from the chart before the server starts: it runs with only that.
  const rendered = execFileSync(helmBinary(), ['template', 'wi', join(root, 'charts', 'wi-admission'), '-n', 'wi-system',
    '--set', 'azureTenantID=72f988bf-86f1-41af-91ab-2d7cd011db47', '--set', 'certificates.extraHosts[0]=127.0.0.1',
    '--set', `webhook.url=https://127.0.0.1:${webhookPort}`, '--set-json', `policy=${JSON.stringify(policySpec)}`], { encoding: 'utf8' });
  const objects = parseAllDocuments(rendered).map((d) => d.toJS() as { kind: string; metadata: { name: string } } | null).filter((o) => o !== null);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const admission = admin.makeApiClient(AdmissionregistrationV1Api);
  for (const o of objects) {
    if (o.kind === 'ClusterRole') await rbac.createClusterRole({ body: o as never });
    if (o.kind === 'ClusterRoleBinding') await rbac.createClusterRoleBinding({ body: o as never });
    if (o.kind === 'Role') await rbac.createNamespacedRole({ namespace: 'wi-system', body: o as never });
    if (o.kind === 'RoleBinding') await rbac.createNamespacedRoleBinding({ namespace: 'wi-system', body: o as never });
    if (o.kind === 'MutatingWebhookConfiguration') await admission.createMutatingWebhookConfiguration({ body: o as never });
    if (o.kind === 'ValidatingWebhookConfiguration') await admission.createValidatingWebhookConfiguration({ body: o as never });
  }
  t.notOk((await admission.readMutatingWebhookConfiguration({ name: 'wi' })).webhooks?.[0]?.clientConfig.caBundle, 'no CA bundle before the server starts');

  let server = await startServer(loaded.config, sink.log);
  t.teardown(() => server.shutdown());
  await eventually(async () => (await getText(server.healthPort, '/readyz')).status === 200, 30_000, 'webhook ready with the chart\'s RBAC only');
  const secret = await core.readNamespacedSecret({ name: 'wi-tls', namespace: 'wi-system' });
  t.same(Object.keys(secret.data ?? {}).sort(), ['ca.crt', 'signing-ca.crt', 'signing-ca.key', 'tls.crt', 'tls.key'], 'the server created its certificate Secret');
  const caBundle = Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString('base64');
  t.equal((await admission.readMutatingWebhookConfiguration({ name: 'wi' })).webhooks?.[0]?.clientConfig.caBundle, caBundle, 'and wrote its CA into the mutating configuration');
  t.equal((await admission.readValidatingWebhookConfiguration({ name: 'wi' })).webhooks?.[0]?.clientConfig.caBundle, caBundle, 'and into the validating one');

  // A pod created through the API server comes back mutated (the webhook
  // configurations take a moment to be picked up).
  let created: { spec?: { containers?: { env?: { name: string; value?: string }[] }[]; volumes?: { name: string }[] } } | undefined;
  await eventually(async () => {
    const pod = await core.createNamespacedPod({
      namespace: 'checkout-prod',
      body: { metadata: { generateName: 'web-', labels: { 'azure.workload.identity/use': 'true' } }, spec: { serviceAccountName: 'checkout-api', containers: [{ name: 'web', image: 'web:1' }] } },
    });
    created = pod;
    return (pod.spec?.containers?.[0]?.env ?? []).some((e) => e.name === 'AZURE_CLIENT_ID');
  }, 30_000, 'a mutated pod');
  const env = Object.fromEntries((created?.spec?.containers?.[0]?.env ?? []).map((e) => [e.name, e.value]));
  t.match(env, {
    AZURE_CLIENT_ID: CHECKOUT,
    AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/wi/token/azure-identity-token',
    AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/',
  }, 'the API server applied our patch');
  t.ok(created?.spec?.volumes?.some((v) => /^azure-workload-identity-reserved-[0-9a-f]{30}$/.test(v.name)), 'the projected token volume is there');
  t.ok(created?.spec?.volumes?.some((v) => v.name.startsWith('kube-api-access-')), 'fields of other admission plugins are kept');

  // A ServiceAccount binding the billing team's identity is refused with our message.
  const refusal = await core
    .createNamespacedServiceAccount({ namespace: 'checkout-prod', body: { metadata: { name: 'batch', annotations: { 'azure.workload.identity/client-id': BILLING } } } })
    .then(() => 'created', (err: { code?: number; body?: string }) => `${err.code}: ${err.body ?? ''}`);
  t.match(refusal, /^403: .*admission webhook \\?"validation\.wi-admission\.io\\?" denied the request: wi-admission: ServiceAccount checkout-prod\/batch is not allowed to use client ID 0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b .*\[IdentityNotApproved\]/);

  // A pod whose ServiceAccount does not exist is refused (the ServiceAccount admission plugin or our webhook).
  const missing = await core
    .createNamespacedPod({ namespace: 'checkout-prod', body: { metadata: { name: 'orphan', labels: { 'azure.workload.identity/use': 'true' } }, spec: { serviceAccountName: 'ghost', containers: [{ name: 'c', image: 'i' }] } } })
    .then(() => 'created', (err: { code?: number; body?: string }) => `${err.code}: ${err.body ?? ''}`);
  t.match(missing, /^(403|400): .*ghost/, 'a pod with a missing ServiceAccount is not admitted');

  // A pod without the label is untouched; skip-containers is honoured.
  const plain = await core.createNamespacedPod({ namespace: 'checkout-prod', body: { metadata: { name: 'plain' }, spec: { serviceAccountName: 'checkout-api', containers: [{ name: 'c', image: 'i' }] } } });
  t.notOk((plain.spec?.containers?.[0]?.env ?? []).some((e) => e.name.startsWith('AZURE_')), 'a pod without the label is untouched');
  const skipping = await core.createNamespacedPod({
    namespace: 'checkout-prod',
    body: {
      metadata: { name: 'skipping', labels: { 'azure.workload.identity/use': 'true' }, annotations: { 'azure.workload.identity/skip-containers': 'sidecar' } },
      spec: { serviceAccountName: 'checkout-api', containers: [{ name: 'app', image: 'i' }, { name: 'sidecar', image: 'i' }] },
    },
  });
  t.ok((skipping.spec?.containers?.[0]?.env ?? []).some((e) => e.name === 'AZURE_CLIENT_ID'), 'the app container got the identity');
  t.notOk((skipping.spec?.containers?.[1]?.env ?? []).some((e) => e.name.startsWith('AZURE_')), 'the skipped container did not');

  // kubectl, as a developer runs it: the rejection and the warnings it prints.
  const kubectl = plane.kubectl;
  // Asynchronous: the webhook under test answers from this same process.
  const kubectlRun = (args: string[], input: string): Promise<{ code: number; out: string }> =>
    new Promise((resolve) => {
      const child = execFile(kubectl, ['--kubeconfig', plane.kubeconfig(dir, 'admin'), ...args], (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
      });
      child.stdin?.end(input);
    });
  const apply = (manifest: string): Promise<{ code: number; out: string }> => kubectlRun(['apply', '-f', '-'], manifest);
  const rejected = await apply(`apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: batch\n  namespace: checkout-prod\n  annotations:\n    azure.workload.identity/client-id: ${BILLING}\n`);
  t.not(rejected.code, 0, 'kubectl apply fails');
  t.match(rejected.out, /admission webhook "validation\.wi-admission\.io" denied the request: wi-admission: ServiceAccount checkout-prod\/batch is not allowed to use client ID/);
  t.comment(`kubectl printed: ${rejected.out.trim()}`);
  const warned = await apply('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: checkout-prod}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {serviceAccountName: checkout-api, containers: [{name: web, image: web:1}]}\n');
  t.equal(warned.code, 0, 'a Deployment without the label is admitted');
  t.match(warned.out, /Warning: wi-admission: Deployment checkout-prod\/web uses ServiceAccount checkout-api, which has a client ID, but its pods lack the label/);

  // An opted-in Deployment: kube-controller-manager's ReplicaSet creates the
  // pods, so the webhook sees them with generateName only, as in a cluster.
  const deployed = await apply('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: checkout-prod}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api, azure.workload.identity/use: "true"}}\n    spec: {serviceAccountName: checkout-api, containers: [{name: api, image: api:1}]}\n');
  t.equal(deployed.code, 0, `the opted-in Deployment is admitted: ${deployed.out}`);
  let replicaPods: V1Pod[] = [];
  await eventually(async () => {
    replicaPods = (await core.listNamespacedPod({ namespace: 'checkout-prod', labelSelector: 'app=api' })).items;
    return replicaPods.length === 2;
  }, 60_000, () => `the ReplicaSet to create 2 pods\n${plane.logs()}`);
  for (const pod of replicaPods) {
    const generateName = pod.metadata?.generateName ?? '';
    t.match(generateName, /^api-[a-z0-9]+-$/, `${pod.metadata?.name} was created from generateName`);
    const volume = pod.spec?.volumes?.find((v) => v.name.startsWith('azure-workload-identity-reserved-'));
    t.equal(volume?.name, expectedVolumeName(generateName), `${pod.metadata?.name}: the volume name hashes "${generateName} (prefix)" as upstream does`);
    t.same(volume?.projected?.sources?.[0]?.serviceAccountToken, { audience: 'api://AzureADTokenExchange', expirationSeconds: 3600, path: 'token/azure-identity-token' }, 'the projected token source (UPSTREAM.md §4)');
    const container = pod.spec?.containers?.[0];
    t.equal(container?.env?.find((e) => e.name === 'AZURE_CLIENT_ID')?.value, CHECKOUT, 'the ReplicaSet\'s pod has the client ID');
    t.ok(container?.volumeMounts?.some((m) => m.name === volume?.name && m.mountPath === '/var/run/secrets/azure/wi' && m.readOnly === true), 'and the token mount');
  }

  // A Deployment whose pods would run as a ServiceAccount already bound to
  // another team's identity is refused at apply time, not at pod creation.
  const unapprovedDeployment = await apply('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nightly, namespace: checkout-prod}\nspec:\n  selector: {matchLabels: {app: nightly}}\n  template:\n    metadata: {labels: {app: nightly, azure.workload.identity/use: "true"}}\n    spec: {serviceAccountName: legacy-batch, containers: [{name: job, image: job:1}]}\n');
  t.not(unapprovedDeployment.code, 0, 'kubectl apply of the Deployment fails');
  t.match(unapprovedDeployment.out, /admission webhook "validation\.wi-admission\.io" denied the request: wi-admission: Deployment checkout-prod\/nightly \(ServiceAccount legacy-batch\) is not allowed to use client ID 0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b .*\[IdentityNotApproved\]/);
  t.comment(`kubectl printed: ${unapprovedDeployment.out.trim()}`);
  const nightly = await kubectlRun(['get', 'deployment', 'nightly', '-n', 'checkout-prod'], '');
  t.not(nightly.code, 0, 'and nothing was stored');

  // Every manifest the chart renders is accepted by this API server.
  const dryRunResult = await kubectlRun(['apply', '--dry-run=server', '-f', '-'], rendered);
  const dryRun = dryRunResult.code === 0 ? dryRunResult.out : `FAILED ${dryRunResult.out}`;
  t.notMatch(dryRun, /FAILED/, 'kubectl apply --dry-run=server of the rendered chart');

  // With the webhook down, failurePolicy Fail refuses opted-in pods with an API error.
  await server.shutdown();
  const refused = await core
    .createNamespacedPod({ namespace: 'checkout-prod', body: { metadata: { generateName: 'down-', labels: { 'azure.workload.identity/use': 'true' } }, spec: { serviceAccountName: 'checkout-api', containers: [{ name: 'c', image: 'i' }] } } })
    .then(() => 'created', (err: { code?: number; body?: string }) => `${err.code}: ${err.body ?? ''}`);
  t.match(refused, /^500: .*failed calling webhook \\?"mutation\.wi-admission\.io\\?".*connection refused/, 'fail closed while the webhook is down');
  const refusedByKubectl = await apply('apiVersion: v1\nkind: Pod\nmetadata: {name: while-down, namespace: checkout-prod, labels: {azure.workload.identity/use: "true"}}\nspec: {serviceAccountName: checkout-api, containers: [{name: c, image: i}]}\n');
  t.not(refusedByKubectl.code, 0, 'kubectl apply fails while the webhook is down');
  t.match(refusedByKubectl.out, /Internal error occurred: failed calling webhook "mutation\.wi-admission\.io"/, 'with the API server\'s explanation');

  // The webhook returns (same Secret, same configuration): opted-in pods are admitted and mutated again.
  server = await startServer(loaded.config, sink.log);
  await eventually(async () => (await getText(server.healthPort, '/readyz')).status === 200, 30_000, 'webhook ready again');
  const readmitted = await apply('apiVersion: v1\nkind: Pod\nmetadata: {name: while-down, namespace: checkout-prod, labels: {azure.workload.identity/use: "true"}}\nspec: {serviceAccountName: checkout-api, containers: [{name: c, image: i}]}\n');
  t.equal(readmitted.code, 0, `the same pod is admitted once the webhook is back: ${readmitted.out}`);
  const back = await core.readNamespacedPod({ name: 'while-down', namespace: 'checkout-prod' });
  t.equal(back.spec?.containers?.[0]?.env?.find((e) => e.name === 'AZURE_CLIENT_ID')?.value, CHECKOUT, 'and mutated');
  await server.shutdown();

  const lines = sink.lines.filter((l) => l.msg === 'admission');
  t.ok(lines.some((l) => l.webhook === 'mutate' && l.decision === 'patched'), 'the mutation was logged');
  t.ok(lines.some((l) => l.webhook === 'validate' && l.decision === 'denied' && l.reason === 'IdentityNotApproved'), 'the denial was logged');
});
