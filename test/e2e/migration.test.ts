// The migration guide (docs/migration.md) on a real kube-apiserver, etcd and
// kube-controller-manager: the other webhook is played by a second instance of
// our server, configured the way upstream's chart configures upstream's
// webhook from the same values file, behind a MutatingWebhookConfiguration
// shaped like upstream's. A third webhook injects a sidecar after both, so
// the API server reinvokes them (reinvocationPolicy IfNeeded). Pods are
// admitted with dryRun (the whole admission chain, nothing stored) and compared
// with the same pods through the other webhook alone:
//   1. ours installed beside it with the same values file, failurePolicy
//      Ignore until ready (pods created meanwhile are mutated by the other),
//      then Fail; pods come out the same with the other webhook first and with
//      ours first (the API server orders configurations by name);
//   2. both counted in the API server's webhook metrics;
//   3. the other uninstalled (its configuration first): pods still mutated;
//   4. validation enabled with a policy in warn, then deny;
//   and the rollback: the other reinstalled, ours uninstalled, pods still mutated.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, type V1MutatingWebhookConfiguration, type V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { parse } from 'yaml';
import { writeDevCertificates } from '../../src/certs/issue.js';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { CHART, containerEnv, findObject, parseManifests, serverArguments, webhookContainer, type K8sObject } from '../helpers/chart.js';
import { controlPlaneBinaries, freePorts, startControlPlane, type ControlPlane } from '../helpers/control-plane.js';
import { helmBinary } from '../helpers/helm.js';
import { eventually, GENEROUS_WAIT_MS, getText } from '../helpers/https-client.js';
import { createLogSink } from '../helpers/log-sink.js';
import { startLoopbackTlsServer } from '../helpers/loopback-tls.js';

const root = new URL('../..', import.meta.url).pathname;
const VALUES = join(root, 'test', 'fixtures', 'chart', 'upstream-typical.yaml');
const NAMESPACE = 'checkout-prod';
const CHECKOUT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
const BILLING = '0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b';
/** Upstream's configuration and webhook names (its chart hard-codes them). */
const UPSTREAM_CONFIGURATION = 'azure-wi-webhook-mutating-webhook-configuration';
const UPSTREAM_WEBHOOK = 'mutation.azure-workload-identity.io';
const OURS_WEBHOOK = 'mutation.wi-admission.io';

const binaries = controlPlaneBinaries();
if (!binaries.ok && process.env.CI === 'true') throw new Error(`CI must run the end-to-end suite: ${binaries.reason}`);

type UpstreamValues = {
  azureTenantID: string;
  azureEnvironment?: string;
  logLevel?: string;
  metricsBackend?: string;
  customTokenEndpoint?: Record<string, string>;
  extraEnv?: { name: string; value: string }[];
};

/**
 * The other webhook's flags and env as upstream's chart derives them from a
 * values file (its Deployment args, its ConfigMap, its extraEnv), written
 * apart from our chart so the two mappings check each other.
 */
function upstreamSettings(values: UpstreamValues): { args: string[]; env: Record<string, string> } {
  const cte = values.customTokenEndpoint ?? {};
  const args = [`--log-level=${values.logLevel ?? 'info'}`, `--metrics-backend=${values.metricsBackend ?? 'prometheus'}`];
  if (cte.annotationSuffix) args.push(`--custom-token-endpoint-annotation-suffix=${cte.annotationSuffix}`);
  if (cte.audience) args.push(`--custom-token-endpoint-audience=${cte.audience}`);
  const env: Record<string, string> = { AZURE_ENVIRONMENT: values.azureEnvironment || 'AzurePublicCloud', AZURE_TENANT_ID: values.azureTenantID, POD_NAMESPACE: 'azure-workload-identity-system' };
  const configMapKeys: Record<string, string> = {
    azureKubernetesCaData: 'AZURE_KUBERNETES_CA_DATA',
    azureKubernetesSniName: 'AZURE_KUBERNETES_SNI_NAME',
    azureKubernetesTokenProxy: 'AZURE_KUBERNETES_TOKEN_PROXY',
    azureKubernetesCAConfigMapName: 'AZURE_KUBERNETES_CA_CONFIGMAP_NAME',
    azureKubernetesCACTBSignerName: 'AZURE_KUBERNETES_CA_CTB_SIGNER_NAME',
    azureKubernetesCACTBLabelSelector: 'AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR',
  };
  for (const [key, name] of Object.entries(configMapKeys)) if (cte[key]) env[name] = cte[key];
  for (const entry of values.extraEnv ?? []) env[entry.name] = entry.value;
  return { args, env };
}

/** Upstream's MutatingWebhookConfiguration (UPSTREAM.md §8.1), pointed at a local server. */
function upstreamConfiguration(name: string, port: number, caBundle: string): V1MutatingWebhookConfiguration {
  return {
    metadata: { name },
    webhooks: [{
      name: UPSTREAM_WEBHOOK,
      admissionReviewVersions: ['v1', 'v1beta1'],
      clientConfig: { url: `https://127.0.0.1:${port}/mutate-v1-pod`, caBundle },
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
      objectSelector: { matchLabels: { 'azure.workload.identity/use': 'true' } },
      namespaceSelector: {},
      failurePolicy: 'Fail',
      sideEffects: 'None',
      matchPolicy: 'Equivalent',
      reinvocationPolicy: 'IfNeeded',
    }],
  };
}

/** A mesh-style injector: adds a sidecar once (so the API server reinvokes the webhooks before it). */
function injectSidecar(req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    const review = JSON.parse(body) as { apiVersion: string; kind: string; request: { uid: string; object: V1Pod } };
    const present = (review.request.object.spec?.containers ?? []).some((c) => c.name === 'mesh-proxy');
    const patch = present ? undefined : Buffer.from(JSON.stringify([{ op: 'add', path: '/spec/containers/-', value: { name: 'mesh-proxy', image: 'mesh/proxy:1' } }])).toString('base64');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ apiVersion: review.apiVersion, kind: review.kind, response: { uid: review.request.uid, allowed: true, ...(patch ? { patchType: 'JSONPatch', patch } : {}) } }));
  });
}

/** Opted-in pods for the sidecar injector too: plain, custom token endpoint, proxy sidecar (PROXY_IMAGE from extraEnv). */
const PODS: Record<string, V1Pod> = {
  plain: { metadata: { generateName: 'web-' }, spec: { serviceAccountName: 'checkout-api', containers: [{ name: 'web', image: 'web:1' }] } },
  'identity-binding': { metadata: { generateName: 'ib-', annotations: { 'azure.workload.identity/use-identity-binding': 'true' } }, spec: { serviceAccountName: 'checkout-api', containers: [{ name: 'api', image: 'api:1' }] } },
  proxied: { metadata: { generateName: 'legacy-', annotations: { 'azure.workload.identity/inject-proxy-sidecar': 'true' } }, spec: { serviceAccountName: 'checkout-api', containers: [{ name: 'legacy', image: 'legacy:1' }] } },
};

function podBody(kind: string): V1Pod {
  const pod = structuredClone(PODS[kind]) as V1Pod;
  pod.metadata = { ...pod.metadata, labels: { 'azure.workload.identity/use': 'true', mesh: 'enabled' } };
  return pod;
}

/** What the webhooks decide, without what differs per creation (names, uid, the random kube-api-access suffix). */
function mutationOf(pod: V1Pod): string {
  const { labels, annotations } = pod.metadata ?? {};
  return JSON.stringify({ labels, annotations, spec: pod.spec }).replace(/kube-api-access-[a-z0-9]+/g, 'kube-api-access-*');
}

type Sink = ReturnType<typeof createLogSink>;
/** The mutation outcomes a server logged since `from` (one line per admission, in order). */
const outcomesSince = (sink: Sink, from: number): unknown[] => sink.lines.slice(from).filter((l) => l.msg === 'admission' && l.webhook === 'mutate').map((l) => l.reason);

/** Sums a Prometheus counter's series whose labels include every given label. */
function counter(metricsText: string, metric: string, labels: Record<string, string>): number {
  return metricsText.split('\n').filter((line) => line.startsWith(`${metric}{`) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

void t.test('migrating from the other webhook, and back', { skip: binaries.ok ? false : `no control plane: ${binaries.reason}` }, async (t) => {
  if (!binaries.ok) return;
  const dir = t.testdir({});
  const plane: ControlPlane = await startControlPlane(dir, binaries.bin, { controllers: true, allowPrivileged: true });
  t.teardown(() => plane.stop());
  const admin = new KubeConfig();
  admin.loadFromFile(plane.kubeconfig(dir, 'admin'));
  const core = admin.makeApiClient(CoreV1Api);
  const admission = admin.makeApiClient(AdmissionregistrationV1Api);
  // Asynchronous: the webhooks under test answer from this same process.
  const run = (binary: string, args: string[], input = ''): Promise<{ code: number; out: string }> =>
    new Promise((resolve) => {
      const child = execFile(binary, ['--kubeconfig', plane.kubeconfig(dir, 'admin'), ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
      });
      child.stdin?.end(input);
    });
  const kubectl = (args: string[], input = ''): Promise<{ code: number; out: string }> => run(plane.kubectl, args, input);
  /** The guide's helm commands, against this API server; the release is `wi` in wi-system. */
  const helm = async (args: string[]): Promise<void> => {
    const result = await run(helmBinary(), args);
    if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed: ${result.out}`);
  };
  const installed = async (): Promise<K8sObject[]> => {
    const manifest = await run(helmBinary(), ['get', 'manifest', 'wi', '-n', 'wi-system']);
    return parseManifests(manifest.out);
  };
  const admitAll = async (): Promise<Record<string, string>> => {
    const admitted: Record<string, string> = {};
    for (const kind of Object.keys(PODS)) admitted[kind] = mutationOf(await core.createNamespacedPod({ namespace: NAMESPACE, body: podBody(kind), dryRun: 'All' }));
    return admitted;
  };

  for (const namespace of ['wi-system', 'azure-workload-identity-system']) await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespace({ body: { metadata: { name: NAMESPACE, labels: { 'platform.example.com/owner': 'checkout-team' } } } });
  await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'checkout-api', annotations: { 'azure.workload.identity/client-id': CHECKOUT } } } });

  const injector = await startLoopbackTlsServer('mesh-injector', injectSidecar);
  t.teardown(() => injector.close());
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: 'zzz-mesh-sidecar-injector' },
      webhooks: [{
        name: 'sidecar.mesh.example', admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', reinvocationPolicy: 'Never',
        clientConfig: { url: `https://127.0.0.1:${injector.port}/inject`, caBundle: Buffer.from(injector.caCert).toString('base64') },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
        objectSelector: { matchLabels: { mesh: 'enabled' } },
      }],
    },
  });

  // The other webhook, installed by its chart from the values file.
  const values = parse(readFileSync(VALUES, 'utf8')) as UpstreamValues;
  const [upstreamPort = 0, oursPort = 0] = await freePorts(2);
  const upstreamCerts = await writeDevCertificates(join(dir, 'upstream-certs'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const upstreamCaBundle = Buffer.from(upstreamCerts.ca.cert).toString('base64');
  const upstreamSink = createLogSink('info');
  const startUpstream = async (): Promise<RunningServer> => {
    const settings = upstreamSettings(values);
    const loaded = loadConfig([...settings.args, '--webhook-addr', `127.0.0.1:${upstreamPort}`, '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0',
      '--webhook-cert-dir', join(dir, 'upstream-certs'), '--kubeconfig', plane.kubeconfig(dir, 'admin'), '--shutdown-delay', '0ms'], settings.env);
    if (!loaded.ok) throw new Error(loaded.error);
    const server = await startServer(loaded.config, upstreamSink.log);
    await eventually(async () => (await getText(server.healthPort, '/readyz')).status === 200, GENEROUS_WAIT_MS, 'the other webhook ready');
    return server;
  };
  let upstream = await startUpstream();
  t.teardown(() => upstream.shutdown());
  await admission.createMutatingWebhookConfiguration({ body: upstreamConfiguration(UPSTREAM_CONFIGURATION, upstreamPort, upstreamCaBundle) });

  // Through the other webhook alone: what every later admission must equal.
  let baseline: Record<string, string> = {};
  await eventually(async () => {
    const mark = upstreamSink.lines.length;
    baseline = await admitAll();
    return outcomesSince(upstreamSink, mark).length === 3 * 2;
  }, GENEROUS_WAIT_MS, 'the API server to call the other webhook');
  t.comment(`baseline: ${Object.keys(baseline).join(', ')}`);
  t.match(baseline.plain, /"name":"AZURE_CLIENT_ID","value":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2"/, 'the other webhook mutates');
  t.match(baseline['identity-binding'], /"AZURE_KUBERNETES_TOKEN_PROXY","value":"https:\/\/ib\.example\.internal:443"/, 'the custom token endpoint from the values file');
  t.match(baseline.proxied, /"image":"registry\.example\/oss\/azure\/workload-identity\/proxy:v1\.6\.0"/, 'the proxy image from extraEnv');
  const containers = (JSON.parse(baseline.plain ?? '{}') as { spec: { containers: { name: string; env?: { name: string }[] }[] } }).spec.containers;
  t.same(containers.map((c) => c.name), ['web', 'mesh-proxy'], 'the injector added its sidecar after the webhooks');
  t.ok(containers[1]?.env?.some((e) => e.name === 'AZURE_CLIENT_ID'), 'and the sidecar got the identity: the webhooks were reinvoked');

  // The guide's ResourceQuota for clusters that limit critical priority classes: it must cover the chart's pods.
  const quota = /```yaml\n(apiVersion: v1\nkind: ResourceQuota\n[\s\S]*?)```/.exec(readFileSync(join(root, 'docs', 'migration.md'), 'utf8'))?.[1];
  if (!quota) throw new Error('docs/migration.md has no ResourceQuota block');
  const quotaApplied = await kubectl(['apply', '-f', '-'], quota);
  t.equal(quotaApplied.code, 0, `the guide's ResourceQuota applies: ${quotaApplied.out.trim()}`);

  // Step 1: ours beside it, same values file; failurePolicy Ignore until it is ready.
  // (webhook.url: the API server calls the server running in this process.)
  const ourCommon = [CHART, '-n', 'wi-system', '-f', VALUES, '--set', `webhook.url=https://127.0.0.1:${oursPort}`, '--set', 'certificates.extraHosts[0]=127.0.0.1'];
  await helm(['install', 'wi', ...ourCommon, '--set', 'webhook.failurePolicy=Ignore']);
  const admittedMeanwhile: Record<string, string>[] = [];
  await eventually(async () => {
    admittedMeanwhile.push(await admitAll());
    const metrics = await kubectl(['get', '--raw', '/metrics']);
    return counter(metrics.out, 'apiserver_admission_webhook_fail_open_count', { name: OURS_WEBHOOK }) > 0;
  }, GENEROUS_WAIT_MS, 'the API server to call ours and fail open');
  t.ok(admittedMeanwhile.every((admitted) => isDeepStrictEqual(admitted, baseline)), `pods created before ours is ready (${admittedMeanwhile.length} rounds) are admitted, mutated by the other webhook as before`);

  // The chart's Deployment: its pods get system-cluster-critical outside kube-system.
  await eventually(async () => {
    const pods = (await core.listNamespacedPod({ namespace: 'wi-system', labelSelector: 'app.kubernetes.io/instance=wi' })).items;
    return pods.length === 2 && pods.every((p) => p.spec?.priorityClassName === 'system-cluster-critical' && p.spec.priority === 2_000_000_000 && p.metadata?.labels?.team === 'platform');
  }, GENEROUS_WAIT_MS, () => `the ReplicaSet to create 2 pods with priority system-cluster-critical\n${plane.logs()}`);
  t.pass('the chart\'s pods are admitted in wi-system with system-cluster-critical priority (2000000000) and podLabels');
  await eventually(async () => (await core.readNamespacedResourceQuota({ name: 'wi-admission-critical-pods', namespace: 'wi-system' })).status?.used?.pods === '2', GENEROUS_WAIT_MS, 'the quota to count the chart\'s pods');
  t.pass('the guide\'s ResourceQuota covers them (2 pods used)');

  // Our server runs with exactly the installed container's arguments and env, on local addresses.
  const container = webhookContainer(await installed());
  const oursSink = createLogSink('info');
  const configDir = join(dir, 'wi-admission-config');
  mkdirSync(configDir, { recursive: true });
  const startOurs = async (): Promise<RunningServer> => {
    const objects = await installed();
    // The ConfigMap as the kubelet would mount it at /etc/wi-admission.
    const configMap = findObject(objects, 'ConfigMap') as unknown as { data: Record<string, string> } | undefined;
    for (const [file, text] of Object.entries(configMap?.data ?? {})) writeFileSync(join(configDir, file), text);
    const ownContainer = webhookContainer(objects);
    const loaded = loadConfig([...(serverArguments(ownContainer) ?? []).map((a) => a.replace('/etc/wi-admission/', `${configDir}/`)),
      '--webhook-addr', `127.0.0.1:${oursPort}`, '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--webhook-cert-dir', join(dir, 'certs'),
      '--kubeconfig', plane.kubeconfig(dir, 'webhook'), '--shutdown-delay', '0ms'], containerEnv(ownContainer, 'wi-system'));
    if (!loaded.ok) throw new Error(loaded.error);
    const server = await startServer(loaded.config, oursSink.log);
    await eventually(async () => (await getText(server.healthPort, '/readyz')).status === 200, GENEROUS_WAIT_MS, 'ours ready (CA bundle written)');
    return server;
  };
  t.ok(container.args.includes('--log-level=debug') && container.args.includes('--custom-token-endpoint-audience=api://AKSIdentityBinding'), 'the values file reached our arguments');
  let ours = await startOurs();
  t.teardown(() => ours.shutdown());

  // helm upgrade without the override: failurePolicy Fail; the CA bundle the server wrote stays.
  await helm(['upgrade', 'wi', ...ourCommon]);
  const ourConfiguration = await admission.readMutatingWebhookConfiguration({ name: 'wi' });
  t.equal(ourConfiguration.webhooks?.[0]?.failurePolicy, 'Fail', 'failurePolicy Fail once ready');
  t.ok(ourConfiguration.webhooks?.[0]?.clientConfig.caBundle, 'the upgrade kept the CA bundle');
  t.equal(ourConfiguration.metadata?.annotations?.['platform.example.com/owner'], 'platform-team', 'mutatingWebhookAnnotations from the values file');

  // Both installed, in both orders: the API server calls configurations in name order.
  const expectOrder = async (first: Sink, second: Sink, what: string): Promise<void> => {
    await eventually(async () => {
      const marks = [first.lines.length, second.lines.length] as const;
      await core.createNamespacedPod({ namespace: NAMESPACE, body: podBody('plain'), dryRun: 'All' });
      // Each is called, then reinvoked for the injected sidecar. The second finds every env var and the mount
      // in place; like upstream it still replaces the token volume whole (dropping the defaultMode the API
      // server added, which the API server adds straight back), so both answer with a patch.
      return JSON.stringify(outcomesSince(first, marks[0])) === '["Mutated","Mutated"]' && JSON.stringify(outcomesSince(second, marks[1])) === '["Mutated","Mutated"]';
    }, GENEROUS_WAIT_MS, () => `${what}: first ${JSON.stringify(outcomesSince(first, 0).slice(-4))}, second ${JSON.stringify(outcomesSince(second, 0).slice(-4))}`);
    t.pass(what);
    t.same(await admitAll(), baseline, `${what}: every pod comes out as through the other webhook alone`);
  };
  await expectOrder(upstreamSink, oursSink, `"${UPSTREAM_CONFIGURATION}" sorts before "wi": the other webhook first, then ours`);
  await admission.deleteMutatingWebhookConfiguration({ name: UPSTREAM_CONFIGURATION });
  await admission.createMutatingWebhookConfiguration({ body: upstreamConfiguration('x-upstream', upstreamPort, upstreamCaBundle) });
  await expectOrder(oursSink, upstreamSink, '"wi" sorts before "x-upstream": ours first, then the other');

  // Step 2: the API server counts both webhooks' calls and rejections.
  const apiMetrics = (await kubectl(['get', '--raw', '/metrics'])).out;
  for (const name of [UPSTREAM_WEBHOOK, OURS_WEBHOOK]) {
    t.ok(counter(apiMetrics, 'apiserver_admission_webhook_request_total', { name, code: '200', rejected: 'false' }) > 0, `apiserver_admission_webhook_request_total counts ${name}`);
    t.equal(counter(apiMetrics, 'apiserver_admission_webhook_rejection_count', { name, error_type: 'no_error' }), 0, `and no rejection by ${name}`);
  }
  const ourMetrics = (await getText(ours.metricsPort, '/metrics')).body;
  t.ok(counter(ourMetrics, 'wi_admission_requests_total', { webhook: 'mutate', decision: 'patched', reason: 'Mutated' }) > 0, 'ours counts the pods it mutated');
  t.equal(counter(ourMetrics, 'wi_admission_requests_total', { webhook: 'mutate', decision: 'denied' }), 0, 'and refused none');

  // Step 3: uninstall the other webhook, its configuration first.
  await admission.deleteMutatingWebhookConfiguration({ name: 'x-upstream' });
  await eventually(async () => {
    const mark = upstreamSink.lines.length;
    await core.createNamespacedPod({ namespace: NAMESPACE, body: podBody('plain'), dryRun: 'All' });
    return outcomesSince(upstreamSink, mark).length === 0;
  }, GENEROUS_WAIT_MS, 'the API server to stop calling the other webhook');
  await upstream.shutdown();
  const oursMark = oursSink.lines.length;
  t.same(await admitAll(), baseline, 'the other webhook gone: every pod comes out the same through ours');
  t.equal(outcomesSince(oursSink, oursMark).filter((r) => r === 'Mutated').length, 6, 'ours mutated each (and its sidecar, reinvoked)');
  const stored = await core.createNamespacedPod({ namespace: NAMESPACE, body: podBody('plain') });
  t.equal(mutationOf(stored), baseline.plain, 'a pod actually created is stored mutated');

  // Step 4: validation with a policy, warn first, then deny.
  const examplePolicy = (parse(readFileSync(join(root, 'examples', 'policy.yaml'), 'utf8')) as { spec: Record<string, unknown> & { rules: Record<string, unknown>[] } }).spec;
  const policyIn = (action: string): Record<string, unknown> => ({ ...examplePolicy, defaultAction: action, onUnknownIdentity: action, onInventoryUnavailable: action, rules: examplePolicy.rules.map((r) => ({ ...r, action })) });
  const withPolicy = (action: string): string[] => [...ourCommon, '--set-json', `policy=${JSON.stringify(policyIn(action))}`, '--set-json', `identities.file=${readFileSync(join(root, 'examples', 'identities.json'), 'utf8')}`];
  await helm(['upgrade', 'wi', ...withPolicy('warn')]);
  // The Deployment rolls out (new arguments, new ConfigMap checksum).
  await ours.shutdown();
  ours = await startOurs();
  const serviceAccount = (name: string): string => `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${name}\n  namespace: ${NAMESPACE}\n  annotations:\n    azure.workload.identity/client-id: ${BILLING}\n`;
  let warned = { code: 1, out: '' };
  await eventually(async () => {
    warned = await kubectl(['apply', '-f', '-'], serviceAccount('batch'));
    return /Warning: wi-admission: ServiceAccount checkout-prod\/batch is not allowed to use client ID/.test(warned.out);
  }, GENEROUS_WAIT_MS, () => `a warning from the validating webhook: ${warned.out}`);
  t.equal(warned.code, 0, 'in warn: the ServiceAccount is admitted, with the warning kubectl prints');
  t.comment(`kubectl printed: ${warned.out.trim()}`);

  await helm(['upgrade', 'wi', ...withPolicy('deny')]);
  // The kubelet updates the mounted ConfigMap; the running server reloads the policy.
  writeFileSync(join(configDir, 'policy.yaml'), (findObject(await installed(), 'ConfigMap') as unknown as { data: Record<string, string> }).data['policy.yaml'] ?? '');
  let denied = { code: 0, out: '' };
  await eventually(async () => {
    denied = await kubectl(['apply', '--dry-run=server', '-f', '-'], serviceAccount('batch-2'));
    return denied.code !== 0;
  }, GENEROUS_WAIT_MS, () => `the policy in deny: ${denied.out}`);
  t.match(denied.out, /admission webhook "validation\.wi-admission\.io" denied the request: wi-admission: ServiceAccount checkout-prod\/batch-2 is not allowed to use client ID 0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b .*\[IdentityNotApproved\]/, 'in deny: refused with our message');

  // Rollback: the other webhook reinstalled, ours uninstalled (helm removes webhook configurations first).
  upstream = await startUpstream();
  await admission.createMutatingWebhookConfiguration({ body: upstreamConfiguration(UPSTREAM_CONFIGURATION, upstreamPort, upstreamCaBundle) });
  await helm(['uninstall', 'wi', '-n', 'wi-system']);
  t.notOk((await admission.listMutatingWebhookConfiguration()).items.some((c) => c.metadata?.name === 'wi'), 'helm uninstall removed our mutating configuration');
  t.notOk((await admission.listValidatingWebhookConfiguration()).items.some((c) => c.metadata?.name === 'wi'), 'and the validating one');
  await eventually(async () => {
    const marks = [upstreamSink.lines.length, oursSink.lines.length] as const;
    await core.createNamespacedPod({ namespace: NAMESPACE, body: podBody('plain'), dryRun: 'All' });
    return outcomesSince(upstreamSink, marks[0]).length === 2 && outcomesSince(oursSink, marks[1]).length === 0;
  }, GENEROUS_WAIT_MS, 'the API server to call the other webhook only');
  await ours.shutdown();
  t.same(await admitAll(), baseline, 'rolled back: every pod comes out the same through the other webhook');
});
