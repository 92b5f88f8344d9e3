// `wi-admission check` end to end in-process: manifests on disk or stdin,
// the example policy and identities, exact output and exit codes.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CHECK_RULE_IDS, DEFAULT_ERRORS_DOC_URL } from '../../src/check/rules.js';
import { runCheckCommand } from '../../src/commands/check.js';
import { VALIDATION_REASONS } from '../../src/policy/evaluate.js';
import type { CommandIo } from '../../src/commands/inputs.js';
import { createLogSink } from '../helpers/log-sink.js';
import { sarifValidator } from '../helpers/sarif.js';

const root = new URL('../..', import.meta.url).pathname;
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const POLICY = ['--policy', 'examples/policy.yaml', '--identities', 'file:examples/identities.json'];

async function check(argv: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = {
    cwd: root,
    env: { AZURE_TENANT_ID: TENANT },
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    readStdin: () => stdin,
    log: createLogSink().log,
  };
  const previous = process.cwd();
  process.chdir(root);
  try {
    return { code: await runCheckCommand(argv, io), stdout, stderr };
  } finally {
    process.chdir(previous);
  }
}

const BILLING_ERROR =
  'test/fixtures/check/deploy/billing.yaml:8: error: ServiceAccount checkout-prod/batch is not allowed to use client ID 0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b ' +
  '(managed identity id-billing-worker-prod, resource group rg-billing-prod): rule "team-must-own-identity" requires tag owner=checkout-team, the identity has owner=billing-team. ' +
  'Use an identity tagged owner=checkout-team, or ask the platform team to approve this one. [IdentityNotApproved]';
const CRONJOB_WARNING =
  'test/fixtures/check/deploy/billing.yaml:16: warning: CronJob checkout-prod/nightly uses ServiceAccount batch, which has a client ID, but its pods lack the label ' +
  'azure.workload.identity/use: "true", so no token is injected. Add the label to the pod template\'s metadata.labels. [MissingUseLabel]';

const DEPLOYMENT_ERROR =
  'test/fixtures/check/deploy/billing.yaml:35: error: Deployment checkout-prod/invoices (ServiceAccount batch) is not allowed to use client ID 0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b ' +
  '(managed identity id-billing-worker-prod, resource group rg-billing-prod): rule "team-must-own-identity" requires tag owner=checkout-team, the identity has owner=billing-team. ' +
  'Use an identity tagged owner=checkout-team, or ask the platform team to approve this one. [IdentityNotApproved]';

void t.test('a directory of Helm-rendered manifests: denials with file and line (a ServiceAccount, a Deployment), a warning, exit 1', async (t) => {
  const result = await check(['-f', 'test/fixtures/check/deploy', ...POLICY]);
  t.equal(result.code, 1);
  t.equal(result.stdout, `${BILLING_ERROR}\n${CRONJOB_WARNING}\n${DEPLOYMENT_ERROR}\n\n5 objects checked: 2 errors, 1 warning\n`);
  t.equal(result.stderr, '');
});

void t.test('approved manifests exit 0', async (t) => {
  const result = await check(['-f', 'test/fixtures/check/deploy/checkout.yaml', '--objects', 'examples/objects.yaml', ...POLICY]);
  t.equal(result.code, 0);
  t.equal(result.stdout, '2 objects checked: 0 errors, 0 warnings\n');
});

void t.test('stdin, a List, and objects without a namespace take -n', async (t) => {
  const list = JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', annotations: { 'azure.workload.identity/client-id': 'not-a-guid' } } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ignored' } },
    ],
  });
  const result = await check(['-f', '-', '-n', 'checkout-prod', ...POLICY], list);
  t.equal(result.code, 1);
  t.match(result.stdout, /^<stdin>:1: error: ServiceAccount checkout-prod\/api has azure\.workload\.identity\/client-id="not-a-guid", which is not a client ID .*\[InvalidClientId\]\n/);
  t.match(result.stdout, /1 object checked: 1 error, 0 warnings\n$/);
});

void t.test('--output json carries every finding with its location', async (t) => {
  const result = await check(['-f', 'test/fixtures/check/deploy', ...POLICY, '-o', 'json']);
  t.equal(result.code, 1);
  const parsed = JSON.parse(result.stdout) as { findings: Record<string, unknown>[]; summary: unknown };
  t.same(parsed.summary, { checked: 5, errors: 2, warnings: 1 });
  t.match(parsed.findings[0], { file: 'test/fixtures/check/deploy/billing.yaml', line: 8, kind: 'ServiceAccount', namespace: 'checkout-prod', name: 'batch', severity: 'error', reason: 'IdentityNotApproved' });
  t.match(parsed.findings[1], { line: 16, kind: 'CronJob', severity: 'warning', reason: 'MissingUseLabel' });
});

interface SarifLog {
  runs: {
    tool: { driver: { informationUri: string; rules: { id: string; shortDescription: { text: string }; fullDescription?: { text: string }; helpUri?: string; help?: { text: string; markdown: string } }[] } };
    results: { ruleId: string; ruleIndex: number; level: string; locations: { physicalLocation: { region: { startLine: number } } }[] }[];
  }[];
}

void t.test('--output sarif is valid SARIF 2.1.0 with the full rule set, each linked to its section of docs/errors.md', async (t) => {
  const result = await check(['-f', 'test/fixtures/check/deploy', ...POLICY, '-o', 'sarif']);
  t.equal(result.code, 1);
  const log = JSON.parse(result.stdout) as SarifLog;
  const validate = sarifValidator();
  t.ok(validate(log), `valid SARIF: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
  const run = log.runs[0];
  const rules = run?.tool.driver.rules ?? [];
  t.same(rules.map((r) => r.id), [...CHECK_RULE_IDS], 'every reason is a rule, not only those that fired');
  t.ok(VALIDATION_REASONS.every((r) => rules.some((rule) => rule.id === r)), 'every validation reason among them');
  const errorsDoc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const anchors = new Set([...errorsDoc.matchAll(/^#{2,4} (.+)$/gm)].map((m) => (m[1] ?? '').trim().toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
  for (const rule of rules) {
    t.ok(rule.fullDescription?.text, `${rule.id} has a full description`);
    t.ok(rule.help?.markdown.includes('**Fix:**'), `${rule.id} has help markdown with the fix`);
    t.equal(rule.helpUri, `${DEFAULT_ERRORS_DOC_URL}#${rule.id.toLowerCase()}`);
    t.ok(anchors.has(rule.id.toLowerCase()), `docs/errors.md has a section for ${rule.id}`);
  }
  t.same(
    run?.results.map((r) => [r.ruleId, rules[r.ruleIndex]?.id, r.level, r.locations[0]?.physicalLocation.region.startLine]),
    [['IdentityNotApproved', 'IdentityNotApproved', 'error', 8], ['MissingUseLabel', 'MissingUseLabel', 'warning', 16], ['IdentityNotApproved', 'IdentityNotApproved', 'error', 35]],
  );
  const elsewhere = JSON.parse((await check(['-f', 'test/fixtures/check/deploy', ...POLICY, '-o', 'sarif', '--docs-url', 'https://docs.example.com/wi/errors.html'])).stdout) as SarifLog;
  t.equal(elsewhere.runs[0]?.tool.driver.rules.find((r) => r.id === 'MissingUseLabel')?.helpUri, 'https://docs.example.com/wi/errors.html#missinguselabel', '--docs-url moves the links');
});

void t.test('--output sarif: a pod the mutating webhook would refuse is a result too', async (t) => {
  const pod = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata: {name: web, namespace: checkout-prod, labels: {azure.workload.identity/use: "true"}, annotations: {azure.workload.identity/proxy-sidecar-port: "70000", azure.workload.identity/inject-proxy-sidecar: "true"}}',
    'spec: {serviceAccountName: checkout-api, containers: [{name: web, image: web:1}]}',
  ].join('\n');
  const result = await check(['-f', '-', '--objects', 'examples/objects.yaml', '--show-mutation', '-o', 'sarif'], pod);
  t.equal(result.code, 1);
  const log = JSON.parse(result.stdout) as SarifLog;
  const validate = sarifValidator();
  t.ok(validate(log), `valid SARIF: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
  t.same(log.runs[0]?.results.map((r) => [r.ruleId, r.level, r.locations[0]?.physicalLocation.region.startLine]), [['InvalidProxyPort', 'error', 1]]);
});

void t.test('--show-mutation prints what the mutating webhook would add', async (t) => {
  const result = await check(['-f', 'test/fixtures/check/deploy/checkout.yaml', '--show-mutation']);
  t.equal(result.code, 0);
  t.match(result.stdout, /checkout\.yaml:13: Deployment checkout-prod\/web: the mutating webhook would change the pod\n/);
  t.match(result.stdout, /\+ \/spec\/template\/spec\/containers\/0\/env \[\{"name":"AZURE_CLIENT_ID","value":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2"\},\{"name":"AZURE_TENANT_ID","value":"72f988bf-86f1-41af-91ab-2d7cd011db47"\}/);
  t.match(result.stdout, /\+ \/spec\/template\/spec\/containers\/0\/volumeMounts \[\{"name":"azure-workload-identity-reserved-[0-9a-f]{30}","readOnly":true,"mountPath":"\/var\/run\/secrets\/azure\/wi"\}\]/);
  t.equal(result.stderr, '', 'no warning: the mutation preview was asked for');
  const nothing = await check(['-f', 'test/fixtures/check/deploy/checkout.yaml']);
  t.match(nothing.stderr, /no --policy: nothing is validated/);
});

void t.test('--show-mutation applies the webhook\'s limits, and a kind named like a prototype member is no kind it checks', async (t) => {
  const containers = Array.from({ length: 300 }, (_, i) => ({ name: `c${i}`, image: 'app:1' }));
  const manifests = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'checkout-prod' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace: 'checkout-prod', annotations: { 'azure.workload.identity/client-id': '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2' } } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'big', namespace: 'checkout-prod', labels: { 'azure.workload.identity/use': 'true' } }, spec: { serviceAccountName: 'api', containers } },
    ...['constructor', '__proto__', 'toString'].map((kind) => ({ apiVersion: 'v1', kind, metadata: { name: 'odd', namespace: 'checkout-prod' }, spec: { template: {} } })),
  ];
  const result = await check(['-f', '-', '--show-mutation'], manifests.map((m) => JSON.stringify(m)).join('\n---\n'));
  t.equal(result.code, 1, 'a refused pod is an error');
  t.equal(
    result.stdout,
    '<stdin>:5: Pod checkout-prod/big: the mutating webhook would refuse the pod\n' +
      '  the pod has 300 containers, initContainers and ephemeralContainers together; the webhook accepts at most 250 per pod. Split the work over several pods. [LimitExceeded]\n' +
      '\n2 objects checked: 1 error, 0 warnings\n',
  );
});

void t.test('bad usage and unreadable input exit 2 with one line naming the file and line', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /^no input: give -f PATH \(a file, a directory, or - for stdin\); see "wi-admission check --help"$/],
    [['-f', 'test/fixtures/check/broken.yaml'], /^test\/fixtures\/check\/broken\.yaml:\d+: invalid YAML/],
    [['-f', 'test/fixtures/check/missing.yaml'], /^test\/fixtures\/check\/missing\.yaml: cannot read: no such file or directory$/],
    [['-f', 'test/fixtures/check/deploy', '-o', 'xml'], /^output format "xml": use text, json or sarif; see "wi-admission check --help"$/],
    [['-f', 'test/fixtures/check/deploy', '--identities', 'arm:/subscriptions/nope'], /arm:\/subscriptions/],
    [['-f', 'test/fixtures/check/deploy', '--policy', 'test/fixtures/check/broken.yaml', '--identities', 'file:examples/identities.json'], /^test\/fixtures\/check\/broken\.yaml:\d+:\d+: not YAML: /],
    [['-f', 'test/fixtures/check/deploy', '--policy', 'test/fixtures/check/missing.yaml', '--identities', 'file:examples/identities.json'], /^--policy test\/fixtures\/check\/missing\.yaml: cannot read: no such file or directory$/],
    [['-f', 'test/fixtures/check/deploy', '--identities', 'file:test/fixtures/check/missing.json'], /^test\/fixtures\/check\/missing\.json: cannot read: no such file or directory$/],
    [['--frobnicate'], /^unknown flag --frobnicate; see "wi-admission check --help"$/],
    [['test/fixtures/check/deploy'], /^unexpected argument "test\/fixtures\/check\/deploy"; see "wi-admission check --help"$/],
    [['-f'], /^--filename needs a value; see "wi-admission check --help"$/],
  ];
  for (const [argv, pattern] of cases) {
    const result = await check(argv);
    t.equal(result.code, 2, `${argv.join(' ')} exits 2`);
    const lines = result.stderr.split('\n').filter((l) => l !== '');
    t.equal(lines.length, 1, `${argv.join(' ')}: one line`);
    t.match(lines[0]?.replace(/^wi-admission check: /, ''), pattern);
    t.equal(result.stdout, '', 'nothing on stdout');
  }
  const help = await check(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: wi-admission check -f PATH/);
});

void t.test('--kubeconfig: a ServiceAccount and Namespace that only the cluster has', async (t) => {
  const { FakeKubeApi } = await import('../helpers/fake-kube-api.js');
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.stop());
  api.putNamespace('checkout-prod', { 'platform.example.com/owner': 'checkout-team' });
  api.putServiceAccount('checkout-prod', 'batch', { 'azure.workload.identity/client-id': '0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b' });
  const deployment = [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata: {name: nightly, namespace: checkout-prod}',
    'spec:',
    '  template:',
    '    metadata: {labels: {azure.workload.identity/use: "true"}}',
    '    spec: {serviceAccountName: batch, containers: [{name: job, image: job:1}]}',
  ].join('\n');
  const result = await check(['-f', '-', '--kubeconfig', api.writeKubeconfig(t.testdir({})), ...POLICY], deployment);
  t.equal(result.code, 1);
  t.match(result.stdout, /^<stdin>:1: error: Deployment checkout-prod\/nightly \(ServiceAccount batch\) is not allowed to use client ID 0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b .*requires tag owner=checkout-team, the identity has owner=billing-team/);
  t.ok(api.requests.some((r) => r === 'GET /api/v1/namespaces/checkout-prod/serviceaccounts/batch'), 'the ServiceAccount was read from the cluster');
});
