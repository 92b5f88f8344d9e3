// The Helm chart through a real helm: lint, schema, and the rendered objects
// checked against what the server and the API server need.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { parseIdentities } from '../../src/azure/file-source.js';
import { parsePolicy } from '../../src/policy/schema.js';
import { CHART as chart, containerEnv, findObject as find, loadContainerConfig, renderChart, renderChartError, SERVER_SCRIPT, webhookContainer, type K8sObject } from '../helpers/chart.js';
import { helmBinary } from '../helpers/helm.js';

const helm = helmBinary();
const render = (args: string[]): K8sObject[] => renderChart(['--set', 'azureTenantID=72f988bf-86f1-41af-91ab-2d7cd011db47', ...args]);
const renderError = renderChartError;
const POLICY = ['--set-json', 'policy={"exemptNamespaces":["kube-system"],"rules":[{"name":"team-must-own-identity","requireTags":{"owner":"{namespace.labels[\'team\']}"}}]}'];

// Each certificate mode with the values it needs; secret mode's CA bundle is any base64 PEM.
const CERTIFICATE_MODES: Record<string, string[]> = {
  'self (default)': [],
  'cert-manager': ['--set', 'certificates.mode=cert-manager'],
  secret: ['--set', 'certificates.mode=secret', '--set', `webhook.caBundle=${Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64')}`],
};

for (const [mode, args] of Object.entries(CERTIFICATE_MODES)) {
  void t.test(`helm lint --strict and helm template are clean in certificate mode ${mode}`, async (t) => {
    const lint = execFileSync(helm, ['lint', '--strict', chart, '--set', 'azureTenantID=t', ...POLICY, ...args], { encoding: 'utf8' });
    t.match(lint, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    t.notMatch(lint, /\[(INFO|WARNING|ERROR)\]/, 'not even an informational finding');
    const template = spawnSync(helm, ['template', 'wi', chart, '-n', 'wi-system', '--set', 'azureTenantID=t', ...POLICY, ...args], { encoding: 'utf8' });
    t.equal(template.status, 0, 'helm template succeeds');
    t.equal(template.stderr, '', 'and prints no warning');
    t.ok(parseAllDocuments(template.stdout).every((d) => d.errors.length === 0), 'into valid YAML');
  });
}

void t.test('the mutating webhook configuration is upstream\'s, with our values', async (t) => {
  const mwc = find(render(['--set', 'webhook.timeoutSeconds=7', '--set', 'certificates.mode=cert-manager']), 'MutatingWebhookConfiguration') as unknown as { webhooks: Record<string, unknown>[]; metadata: { annotations: Record<string, string> } };
  const hook = mwc.webhooks[0] ?? {};
  t.match(hook, {
    admissionReviewVersions: ['v1', 'v1beta1'],
    clientConfig: { service: { name: 'wi', namespace: 'wi-system', path: '/mutate-v1-pod', port: 443 } },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
    objectSelector: { matchLabels: { 'azure.workload.identity/use': 'true' } },
    namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['wi-system', 'kube-system'] }] },
    failurePolicy: 'Fail',
    sideEffects: 'None',
    matchPolicy: 'Equivalent',
    reinvocationPolicy: 'IfNeeded',
    timeoutSeconds: 7,
  });
  t.equal(mwc.metadata.annotations['cert-manager.io/inject-ca-from'], 'wi-system/wi', 'cert-manager injects the CA in that mode');
});

void t.test('the validating webhook exists with a policy and covers every kind', async (t) => {
  t.notOk(find(render([]), 'ValidatingWebhookConfiguration'), 'no policy, no validating webhook');
  const objects = render(POLICY);
  const vwc = find(objects, 'ValidatingWebhookConfiguration') as unknown as { webhooks: { rules: { resources: string[]; operations: string[] }[]; clientConfig: { service: { path: string } } }[] };
  const hook = vwc.webhooks[0];
  t.equal(hook?.clientConfig.service.path, '/validate');
  t.same(hook?.rules.flatMap((r) => r.resources).sort(), ['cronjobs', 'daemonsets', 'deployments', 'jobs', 'pods', 'replicasets', 'serviceaccounts', 'statefulsets']);
  const configMap = find(objects, 'ConfigMap') as unknown as { data: Record<string, string> };
  const policy = parsePolicy(configMap.data['policy.yaml'] ?? '', 'configmap');
  t.ok(policy.ok, `the rendered policy is valid for the server: ${policy.ok ? '' : policy.error}`);
});

void t.test('every rendered server argument is a flag the server accepts', async (t) => {
  const objects = render([...POLICY, '--set-json', 'identities.file=[{"clientId":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2","principalId":"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d","tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47","id":"/subscriptions/3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id","name":"id"}]', '--set', 'identities.armScopes[0]=/subscriptions/3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9', '--set', 'identities.workloadIdentity.clientId=0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b', '--set', 'server.oidcIssuer=https://oidc.example/']);
  const container = webhookContainer(objects);
  const args = container.args;
  t.same(args.slice(0, 2), [SERVER_SCRIPT, 'serve'], 'the script first: args replace the image\'s CMD, and its entrypoint is node');
  const env = containerEnv(container, 'wi-system');
  const loaded = loadContainerConfig(container);
  t.ok(loaded.ok, `loadConfig accepts the chart's arguments: ${loaded.ok ? '' : loaded.error}`);
  t.ok(args.includes('--identities=arm:/subscriptions/3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9'));
  t.match(env, { AZURE_CLIENT_ID: '0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b', AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/self/azure-identity-token', AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/' }, 'the webhook\'s own identity comes from the chart, never from itself');
  const configMap = find(objects, 'ConfigMap') as unknown as { data: Record<string, string> };
  t.equal(parseIdentities(configMap.data['identities.json'] ?? '', 'configmap').length, 1, 'the identities file is what the file source reads');
});

void t.test('restricted pod security, least-privilege RBAC, service and disruption budget', async (t) => {
  const objects = render(['--set', 'certificates.mode=cert-manager']);
  const pod = (find(objects, 'Deployment') as unknown as { spec: { replicas: number; template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } } } }).spec;
  t.equal(pod.replicas, 2);
  t.match(pod.template.spec.securityContext, { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
  t.match(pod.template.spec.containers[0], {
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    livenessProbe: { httpGet: { path: '/healthz' } },
    readinessProbe: { httpGet: { path: '/readyz' } },
    resources: { requests: { cpu: '100m' }, limits: { memory: '384Mi' } },
  });
  t.ok(pod.template.spec.topologySpreadConstraints, 'replicas spread across nodes');
  const role = find(objects, 'ClusterRole') as unknown as { rules: unknown[] };
  t.same(role.rules, [{ apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get', 'list', 'watch'] }], 'exactly what the server calls without a policy');
  const withPolicy = find(render(['--set', 'certificates.mode=cert-manager', ...POLICY]), 'ClusterRole') as unknown as { rules: unknown[] };
  t.same(withPolicy.rules, [
    { apiGroups: [''], resources: ['serviceaccounts', 'namespaces'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
    { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
  ], 'and with one: Namespaces (policy selectors), and the drift audit\'s PolicyReports and Events');
  t.notOk(objects.some((o) => o.kind === 'Role' || o.kind === 'RoleBinding'), 'no namespaced permissions without a policy (no secret writes in these modes, no audit Lease)');
  const policyRole = find(render(['--set', 'certificates.mode=cert-manager', ...POLICY]), 'Role') as unknown as { metadata: { namespace: string }; rules: unknown[] };
  t.equal(policyRole.metadata.namespace, 'wi-system', 'the audit Lease in the release namespace');
  t.same(policyRole.rules, [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['wi'], verbs: ['get', 'update'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  ], 'one Lease, by name (create cannot be limited by name)');
  t.match(find(objects, 'Service'), { spec: { ports: [{ port: 443, targetPort: 'webhook' }] } });
  t.match(find(objects, 'PodDisruptionBudget'), { spec: { minAvailable: 1 } });
  t.ok(find(objects, 'Certificate'), 'cert-manager Certificate in that mode');
});

void t.test('self-managed certificates (the default): writable cert dir, and RBAC for its own Secret and configurations only', async (t) => {
  const objects = render([]);
  const deployment = find(objects, 'Deployment') as unknown as { spec: { template: { spec: { containers: { args: string[] }[]; volumes: { name: string; emptyDir?: unknown }[] } } } };
  const args = deployment.spec.template.spec.containers[0]?.args ?? [];
  t.ok(args.includes('--cert-mode=self'));
  t.ok(args.includes('--cert-hosts=wi.wi-system.svc,wi.wi-system.svc.cluster.local'));
  t.ok(args.includes('--webhook-configuration=wi'));
  t.ok(deployment.spec.template.spec.volumes.find((v) => v.name === 'certs')?.emptyDir, 'certs on an emptyDir the server writes');
  t.same((find(objects, 'ClusterRole') as unknown as { rules: unknown[] }).rules, [
    { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: ['wi'], verbs: ['get', 'update'] },
    // No policy, no validating configuration: the server reads it only to find it absent.
    { apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingwebhookconfigurations'], resourceNames: ['wi'], verbs: ['get'] },
  ]);
  t.same((find(render(POLICY), 'ClusterRole') as unknown as { rules: unknown[] }).rules, [
    { apiGroups: [''], resources: ['serviceaccounts', 'namespaces'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
    { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
    { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], resourceNames: ['wi'], verbs: ['get', 'update'] },
  ], 'with a policy: Namespaces, the audit\'s reports and Events, and the CA bundle into both configurations');
  t.same((find(render(POLICY), 'Role') as unknown as { rules: unknown[] }).rules, [
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['wi-tls'], verbs: ['get', 'update'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['wi'], verbs: ['get', 'update'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  ], 'with a policy: its Secret and the audit Lease');
  t.same((find(objects, 'Role') as unknown as { rules: unknown[] }).rules, [
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['wi-tls'], verbs: ['get', 'update'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
  ]);
  const mwc = find(objects, 'MutatingWebhookConfiguration') as unknown as { metadata: { annotations?: unknown }; webhooks: { clientConfig: { caBundle?: string } }[] };
  t.notOk(mwc.metadata.annotations, 'no cainjector');
  t.notOk(mwc.webhooks[0]?.clientConfig.caBundle, 'the server writes the bundle');
});

void t.test('webhook.url points both configurations outside the cluster', async (t) => {
  const objects = render([...POLICY, '--set', 'webhook.url=https://10.1.2.3:9443', '--set', 'webhook.caBundle=Q0E=', '--set', 'certificates.mode=secret']);
  const mwc = find(objects, 'MutatingWebhookConfiguration') as unknown as { webhooks: { clientConfig: Record<string, unknown> }[]; metadata: { annotations?: unknown } };
  t.same(mwc.webhooks[0]?.clientConfig, { url: 'https://10.1.2.3:9443/mutate-v1-pod', caBundle: 'Q0E=' });
  t.notOk(mwc.metadata.annotations, 'no cainjector annotation in secret mode');
  t.notOk(find(objects, 'Certificate'));
});

void t.test('bad values fail at install time with a clear message', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /azureTenantID/],
    [['--set', 'azureTenantID=t', '--set', 'webhook.failurePolicy=Maybe'], /failurePolicy/],
    [['--set', 'azureTenantID=t', '--set', 'webhook.timeoutSeconds=60'], /timeoutSeconds/],
    [['--set', 'azureTenantID=t', '--set', 'certificates.mode=vault'], /mode/],
    [['--set', 'azureTenantID=t', '--set', 'certificates.mode=secret'], /caBundle/],
    [['--set', 'azureTenantID=t', '--set', 'identities.armScopes[0]=/subs/x'], /armScopes/],
    [['--set', 'azureTenantID=t', '--set', 'identities.armScopes[0]=/subscriptions/3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9'], /clientId/],
    [['--set', 'azureTenantID=t', '--set', 'server.tlsMinVersion=1.1'], /tlsMinVersion/],
  ];
  for (const [args, pattern] of cases) t.match(renderError(args), pattern, args.join(' '));
});

void t.test('the drift audit: its Lease named by the release, and the PolicyReport CRD only on request', async (t) => {
  const objects = render(POLICY);
  const args = (find(objects, 'Deployment') as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } }).spec.template.spec.containers[0]?.args ?? [];
  t.ok(args.includes('--audit-lease=wi'), 'the Lease the Role names');
  t.notOk(find(objects, 'CustomResourceDefinition'), 'no CRD by default (Kyverno or Policy Reporter may own it)');
  const crd = find(render([...POLICY, '--set', 'audit.policyReports.installCRD=true']), 'CustomResourceDefinition') as unknown as {
    metadata: { name: string; annotations: Record<string, string> };
    spec: { group: string; scope: string; names: { kind: string; plural: string }; versions: { name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: { properties: Record<string, { properties?: Record<string, unknown>; items?: { required?: string[]; properties: Record<string, { enum?: string[] }> } }> } } }[] };
  };
  t.equal(crd.metadata.name, 'policyreports.wgpolicyk8s.io');
  t.equal(crd.metadata.annotations['helm.sh/resource-policy'], 'keep', 'kept on uninstall: other tools write reports too');
  t.match(crd.spec, { group: 'wgpolicyk8s.io', scope: 'Namespaced', names: { kind: 'PolicyReport', plural: 'policyreports' } });
  const version = crd.spec.versions[0];
  t.match(version, { name: 'v1alpha2', served: true, storage: true });
  const schema = version?.schema.openAPIV3Schema.properties ?? {};
  t.same(Object.keys(schema.summary?.properties ?? {}).sort(), ['error', 'fail', 'pass', 'skip', 'warn']);
  t.same(schema.results?.items?.properties.result?.enum, ['pass', 'fail', 'warn', 'error', 'skip']);
  t.same(schema.results?.items?.required, ['policy']);
});

void t.test('the container runs what the image runs: the Dockerfile\'s final WORKDIR and CMD name the script the chart\'s args start with', async (t) => {
  const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  t.match(finalStage, /^\nFROM gcr\.io\/distroless\/nodejs\d+-/, 'a distroless nodejs image, whose entrypoint is node');
  const workdir = /^WORKDIR (\S+)$/m.exec(finalStage)?.[1];
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(finalStage)?.[1] ?? '[]') as string[];
  t.equal(`${workdir}/${cmd[0]}`, SERVER_SCRIPT, 'the CMD\'s script, absolute');
  t.equal(cmd[1], 'serve');
  const args = webhookContainer(render([])).args;
  t.same(args.slice(0, 2), [SERVER_SCRIPT, 'serve'], 'the chart starts the same script and command');
});
