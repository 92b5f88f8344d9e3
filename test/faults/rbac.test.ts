// The chart's RBAC grants nothing beyond what the server calls, in each
// certificate mode. The server runs with the arguments and environment of the
// rendered Deployment (addresses, paths and the kubeconfig replaced) against
// the stand-in API server, which records every request as RBAC sees it
// (verb, API group, resource, namespace, name). Both ways: every call is
// allowed by a rule bound to the server's ServiceAccount, and every rule
// (verb × resource, by name where the rule names one) is used by some call.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { writeDevCertificates } from '../../src/certs/issue.js';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server/serve.js';
import { FakeKubeApi, type KubeCall } from '../helpers/fake-kube-api.js';
import { serverArguments } from '../helpers/chart.js';
import { helmBinary } from '../helpers/helm.js';
import { eventually, GENEROUS_WAIT_MS, getText, post } from '../helpers/https-client.js';
import { createLogSink } from '../helpers/log-sink.js';
import { labelledPod, podReview } from '../helpers/reviews.js';
import { assertNoSecrets, clientIdAnnotation, KUBE_TOKEN, TENANT_ID } from './support.js';

const root = new URL('../..', import.meta.url).pathname;
const RELEASE = 'wi';
const NAMESPACE = 'wi-system';
const CHECKOUT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
const BILLING = '0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b';

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  data?: Record<string, string>;
  spec?: { template: { spec: { serviceAccountName: string; containers: { args: string[]; env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] }[] } } };
}
/** A rule as granted: from a ClusterRole (cluster-wide) or a Role (its namespace only). */
interface Grant {
  readonly from: string;
  readonly namespace: string | undefined;
  readonly rule: Rule;
}

/**
 * Requests no chart rule needs to grant, and why. Every other call must be
 * allowed by the chart's own rules.
 */
const GRANTED_BY_KUBERNETES: { nonResourceURL: string; verb: string; why: string }[] = [
  { nonResourceURL: '/version', verb: 'get', why: 'the bootstrap ClusterRole system:public-info-viewer grants get on /version to every user (system:authenticated and system:unauthenticated)' },
  { nonResourceURL: '/apis/wgpolicyk8s.io/v1alpha2', verb: 'get', why: 'discovery of the PolicyReport API: the bootstrap ClusterRole system:discovery grants get on /apis/* to system:authenticated' },
];

function render(mode: string, withPolicy: boolean, extra: string[]): K8sObject[] {
  const policy = (parse(readFileSync(join(root, 'examples', 'policy.yaml'), 'utf8')) as { spec: unknown }).spec;
  const identities = readFileSync(join(root, 'examples', 'identities.json'), 'utf8');
  const out = execFileSync(helmBinary(), ['template', RELEASE, join(root, 'charts', 'wi-admission'), '-n', NAMESPACE, '--set', `azureTenantID=${TENANT_ID}`,
    '--set', `certificates.mode=${mode}`, ...(withPolicy ? ['--set-json', `policy=${JSON.stringify(policy)}`] : []), '--set-json', `identities.file=${identities.replace(/\s+/g, ' ')}`, ...extra], { encoding: 'utf8' });
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
}

/** The rules bound to the Deployment's ServiceAccount, from ClusterRoleBindings and RoleBindings. */
function grantsOf(objects: K8sObject[]): { grants: Grant[]; serviceAccount: string } {
  const deployment = objects.find((o) => o.kind === 'Deployment');
  const serviceAccount = deployment?.spec?.template.spec.serviceAccountName ?? '';
  const boundTo = (b: K8sObject): boolean => (b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === serviceAccount && s.namespace === NAMESPACE);
  const grants: Grant[] = [];
  for (const binding of objects.filter((o) => (o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') && boundTo(o))) {
    const namespace = binding.kind === 'RoleBinding' ? binding.metadata.namespace : undefined;
    const role = objects.find((o) => o.kind === binding.roleRef?.kind && o.metadata.name === binding.roleRef.name && (o.kind === 'ClusterRole' || o.metadata.namespace === namespace));
    if (!role) throw new Error(`${binding.kind} ${binding.metadata.name} refers to a missing ${binding.roleRef?.kind} ${binding.roleRef?.name}`);
    for (const rule of role.rules ?? []) grants.push({ from: `${role.kind} ${role.metadata.name}`, namespace, rule });
  }
  return { grants, serviceAccount };
}

/** RBAC's match of one request against one rule (Kubernetes' RuleAllows, for the request shapes seen here). */
function allows(grant: Grant, call: KubeCall): boolean {
  const { rule } = grant;
  const has = (list: string[] | undefined, value: string): boolean => (list ?? []).includes(value) || (list ?? []).includes('*');
  if (call.nonResourceURL !== undefined) return grant.namespace === undefined && has(rule.nonResourceURLs, call.nonResourceURL) && has(rule.verbs, call.verb);
  if (grant.namespace !== undefined && call.namespace !== grant.namespace) return false;
  if (!has(rule.apiGroups, call.apiGroup) || !has(rule.resources, call.resource) || !has(rule.verbs, call.verb)) return false;
  return !rule.resourceNames?.length || (call.name !== undefined && rule.resourceNames.includes(call.name));
}

function describe(call: KubeCall): string {
  if (call.nonResourceURL !== undefined) return `${call.verb} ${call.nonResourceURL}`;
  return `${call.verb} ${call.apiGroup || 'core'}/${call.resource}${call.namespace ? ` in ${call.namespace}` : ''}${call.name ? ` name=${call.name}` : ''}`;
}

/**
 * Starts the server as the rendered Deployment would run it and makes it use
 * everything it can: both informers, a live ServiceAccount GET and a live
 * Namespace GET (cache misses), and the certificate work of its mode.
 */
async function runAsDeployed(t: Test, objects: K8sObject[], api: FakeKubeApi, dir: string, certDir: string, ca: () => string): Promise<string> {
  // With a policy it also runs the drift audit through all its calls (exerciseAudit).
  const container = objects.find((o) => o.kind === 'Deployment')?.spec?.template.spec.containers[0];
  const configMap = objects.find((o) => o.kind === 'ConfigMap');
  if (!container || !configMap?.data) throw new Error('the chart rendered no Deployment or ConfigMap');
  const configDir = join(dir, 'config');
  mkdirSync(configDir, { recursive: true });
  for (const [name, text] of Object.entries(configMap.data)) writeFileSync(join(configDir, name), text);
  const replace: Record<string, string> = {
    '--webhook-addr': '127.0.0.1:0',
    '--health-addr': '127.0.0.1:0',
    '--metrics-addr': '127.0.0.1:0',
    '--webhook-cert-dir': certDir,
    '--shutdown-delay': '0ms',
  };
  const flags = serverArguments(container);
  if (!flags) throw new Error(`the chart's container runs "${container.args.slice(0, 2).join(' ')}", not the server`);
  const args = flags.map((arg) => {
    const [flag = '', value = ''] = arg.split(/=(.*)/s);
    if (flag in replace) return `${flag}=${replace[flag]}`;
    // Mounted files live in the test directory instead of /etc/wi-admission.
    if (value.includes('/etc/wi-admission/')) return `${flag}=${value.replace('/etc/wi-admission/', `${configDir}/`)}`;
    return arg;
  });
  const env: Record<string, string> = {};
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = NAMESPACE;
  }
  const withPolicy = args.some((arg) => arg.startsWith('--policy='));
  if (withPolicy) prepareAudit(api);
  const loaded = loadConfig([...args, `--kubeconfig=${api.writeKubeconfig(dir)}`], env);
  if (!loaded.ok) throw new Error(loaded.error);
  const sink = createLogSink('debug');
  const server = await startServer(loaded.config, sink.log);
  t.teardown(() => server.shutdown());
  await eventually(async () => (await getText(server.healthPort, '/readyz')).status === 200, GENEROUS_WAIT_MS, 'the server ready');

  // Cache misses: a ServiceAccount and a Namespace the informers have not delivered (the fake's Namespace watch stays idle).
  api.putServiceAccount('default', 'not-cached', clientIdAnnotation(CHECKOUT), { silent: true });
  api.putNamespace('not-cached-ns', {});
  const mutated = await post(server.webhookPort, '/mutate-v1-pod', JSON.stringify(podReview(labelledPod('web', 'not-cached'), { uid: 'u-miss' })), { ca: ca() });
  t.match(mutated.json, { response: { uid: 'u-miss', allowed: true, patchType: 'JSONPatch' } }, 'mutated after a live ServiceAccount GET');
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u-ns', kind: { group: '', version: 'v1', kind: 'ServiceAccount' }, namespace: 'not-cached-ns', operation: 'CREATE', object: { metadata: { name: 'api', annotations: clientIdAnnotation(CHECKOUT) } } },
  };
  const validated = await post(server.webhookPort, '/validate', JSON.stringify(review), { ca: ca() });
  t.match(validated.json, { response: { uid: 'u-ns' } }, 'validated after a live Namespace GET');
  if (withPolicy) await exerciseAudit(t, api);
  return sink.text();
}

/**
 * The drift audit's calls, each at least once: the Lease created and renewed,
 * PolicyReports listed, created, replaced after a conflict (read again) and
 * deleted, and an Event for a binding that turns to fail.
 */
async function exerciseAudit(t: Test, api: FakeKubeApi): Promise<void> {
  const reports = (namespace: string) => api.object('wgpolicyk8s.io', 'policyreports', namespace, 'wi-admission') as { results?: { result: string }[] } | undefined;
  await eventually(() => reports('checkout-prod')?.results?.[0]?.result === 'pass' && reports('gone') !== undefined, 20_000, 'reports for checkout-prod (pass) and gone');
  await eventually(() => (reports('default')?.results?.length ?? 0) > 0, 20_000, 'the report another writer left in default, replaced after a conflict');
  api.deleteServiceAccount('gone', 'old');
  await eventually(() => reports('gone') === undefined, 20_000, 'the report of a namespace left without bindings deleted');
  const events = api.storedObjects('events.k8s.io', 'events', 'checkout-prod').length;
  api.putServiceAccount('checkout-prod', 'checkout-api', clientIdAnnotation(BILLING));
  await eventually(() => api.storedObjects('events.k8s.io', 'events', 'checkout-prod').length > events, 20_000, 'an Event for the binding that turned to fail');
  await eventually(() => api.calls.some((c) => c.resource === 'leases' && c.verb === 'update'), GENEROUS_WAIT_MS, 'the Lease renewed');
  t.pass('every audit call made');
}

/**
 * Bindings the audit reports on, and a report another writer left, which the
 * server's first write conflicts with once. Run before each start (a second
 * start finds what the first left).
 */
function prepareAudit(api: FakeKubeApi): void {
  api.policyReportsInstalled = true;
  api.putNamespace('gone', {});
  api.putServiceAccount('checkout-prod', 'checkout-api', clientIdAnnotation(CHECKOUT));
  api.putServiceAccount('gone', 'old', clientIdAnnotation(CHECKOUT));
  api.putObject('wgpolicyk8s.io', 'policyreports', 'default', { apiVersion: 'wgpolicyk8s.io/v1alpha2', kind: 'PolicyReport', metadata: { name: 'wi-admission' }, results: [] });
  let conflicted = false;
  api.beforeWrite = (call) => {
    if (conflicted || call.resource !== 'policyreports' || call.verb !== 'update' || call.namespace !== 'default') return;
    conflicted = true;
    api.putObject('wgpolicyk8s.io', 'policyreports', 'default', { apiVersion: 'wgpolicyk8s.io/v1alpha2', kind: 'PolicyReport', metadata: { name: 'wi-admission' }, results: [] });
  };
}

async function checkMode(t: Test, mode: 'self' | 'cert-manager' | 'secret', withPolicy = true): Promise<void> {
  const dir = t.testdir({});
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.stop());
  api.putServiceAccount('default', 'workload', clientIdAnnotation(CHECKOUT));
  api.putNamespace('checkout-prod', { 'platform.example.com/owner': 'checkout-team' });

  const logs: string[] = [];
  const secrets: Record<string, string> = { 'the kubeconfig token': KUBE_TOKEN };
  let objects: K8sObject[];
  if (mode === 'self') {
    objects = render(mode, withPolicy, ['--set', 'certificates.extraHosts[0]=localhost']);
    // The chart creates both configurations (the validating one only with a
    // policy); the server fills in their CA bundle.
    const kinds = withPolicy ? (['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] as const) : (['MutatingWebhookConfiguration'] as const);
    for (const kind of kinds) {
      t.ok(objects.some((o) => o.kind === kind && o.metadata.name === RELEASE), `the chart renders the ${kind}`);
      api.putWebhookConfiguration(kind, RELEASE, ['hook.wi-admission.io']);
    }
    const secretName = `${RELEASE}-tls`;
    const fromSecret = (): string => api.secret(NAMESPACE, secretName)?.['ca.crt'] ?? '';
    // First replica: no Secret yet (create). Second: an unusable Secret (read, then replace).
    await t.test('first start: the Secret does not exist', async (t) => {
      logs.push(await runAsDeployed(t, objects, api, join(dir, 'a'), join(dir, 'a', 'certs'), fromSecret));
      secrets['the first private key'] = api.secret(NAMESPACE, secretName)?.['tls.key'] ?? '';
    });
    await t.test('second start: the Secret is unusable', async (t) => {
      api.putSecret(NAMESPACE, secretName, { 'ca.crt': 'garbage', 'tls.crt': 'garbage', 'tls.key': 'garbage' });
      logs.push(await runAsDeployed(t, objects, api, join(dir, 'b'), join(dir, 'b', 'certs'), fromSecret));
      secrets['the second private key'] = api.secret(NAMESPACE, secretName)?.['tls.key'] ?? '';
    });
    t.same(api.caBundles('MutatingWebhookConfiguration', RELEASE), [fromSecret()], 'the CA bundle written is the Secret\'s CA');
  } else {
    const certDir = join(dir, 'certs');
    const { ca } = await writeDevCertificates(certDir, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    objects = render(mode, withPolicy, mode === 'secret' ? ['--set', `webhook.caBundle=${Buffer.from(ca.cert).toString('base64')}`] : []);
    secrets['the serving private key'] = readFileSync(join(certDir, 'tls.key'), 'utf8');
    logs.push(await runAsDeployed(t, objects, api, dir, certDir, () => ca.cert));
  }

  const { grants, serviceAccount } = grantsOf(objects);
  t.equal(serviceAccount, RELEASE, 'the Deployment runs as the chart\'s ServiceAccount');
  t.ok(grants.length > 0, 'rules are bound to it');

  const calls = api.calls;
  const justified = (c: KubeCall): boolean => GRANTED_BY_KUBERNETES.some((g) => g.nonResourceURL === c.nonResourceURL && g.verb === c.verb);
  const denied = [...new Set(calls.filter((c) => !justified(c) && !grants.some((g) => allows(g, c))).map(describe))];
  t.same(denied, [], `every one of the ${calls.length} calls is allowed by the chart's rules (or by Kubernetes' defaults, with the reason in GRANTED_BY_KUBERNETES)`);

  // Each rule split into single grants: one verb on one resource of one group (and one name, where it names some).
  const singles = grants.flatMap((grant) =>
    (grant.rule.apiGroups ?? []).flatMap((apiGroup) =>
      (grant.rule.resources ?? []).flatMap((resource) =>
        grant.rule.verbs.flatMap((verb) =>
          (grant.rule.resourceNames?.length ? grant.rule.resourceNames : [undefined]).map((name): Grant => ({
            ...grant,
            rule: { apiGroups: [apiGroup], resources: [resource], verbs: [verb], ...(name ? { resourceNames: [name] } : {}) },
          })),
        ),
      ),
    ),
  );
  const unused = singles
    .filter((single) => !calls.some((c) => allows(single, c)))
    .map(({ from, namespace, rule }) => `${from}: ${rule.verbs[0]} ${rule.apiGroups?.[0] || 'core'}/${rule.resources?.[0]}${rule.resourceNames ? ` name=${rule.resourceNames[0]}` : ''}${namespace ? ` in ${namespace}` : ''}`);
  t.same(unused, [], 'every rule (verb × resource, by name where named) is used by some call');
  t.same(grants.flatMap((g) => g.rule.nonResourceURLs ?? []), [], 'no rule grants a non-resource URL');
  t.ok(calls.some((c) => c.verb === 'watch' && c.resource === 'serviceaccounts'), 'watch is observed as its own verb (GET ?watch=true)');
  assertNoSecrets(t, logs.join('\n'), secrets);
}

void t.test('certificates.mode=self: Secret and webhook configurations by name, create of the Secret', (t) => checkMode(t, 'self'));
void t.test('certificates.mode=cert-manager: ServiceAccounts and Namespaces only', (t) => checkMode(t, 'cert-manager'));
void t.test('certificates.mode=secret: ServiceAccounts and Namespaces only', (t) => checkMode(t, 'secret'));
void t.test('no policy, certificates.mode=self: no Namespaces, and only get on the validating configuration (read to find it absent)', (t) => checkMode(t, 'self', false));
void t.test('no policy, certificates.mode=secret: ServiceAccounts only', (t) => checkMode(t, 'secret', false));
