// The real executable as a newcomer meets it in a terminal or a CI log: exit
// codes, and errors that are one line saying what to do (no JSON log, no
// stack, no help text dumped after a typo).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';

const root = new URL('../..', import.meta.url).pathname;
const main = join(root, 'src/main.ts');
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const EXAMPLES = { policy: join(root, 'examples/policy.yaml'), identities: join(root, 'examples/identities.json'), objects: join(root, 'examples/objects.yaml') };

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function wiAdmission(args: string[], options: { cwd: string; stdin?: string; env?: Record<string, string | undefined> }): Promise<Run> {
  const env = { ...process.env, AZURE_TENANT_ID: undefined, ...options.env };
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', main, ...args], { cwd: options.cwd, env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
    child.stdin?.end(options.stdin ?? '');
  });
}

/** Exactly one line on stderr, returned without the trailing newline. */
function oneLine(t: Test, run: Run): string {
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 1, `one line on stderr, got: ${run.stderr}`);
  t.notMatch(run.stderr, /"level":|\n\s+at /, 'no JSON log line, no stack');
  return lines[0] ?? '';
}

const SERVICE_ACCOUNT = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: checkout-api
  namespace: checkout-prod
  annotations:
    azure.workload.identity/client-id: 6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2
`;
const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout-api
  namespace: checkout-prod
spec:
  template:
    metadata:
      labels: { azure.workload.identity/use: "true" }
    spec:
      serviceAccountName: checkout-api
      containers: [{ name: api, image: api:1 }]
`;

/** What `az identity list -o json` gives: the example identities without their federated credentials. */
function azIdentityList(): string {
  const identities = JSON.parse(readFileSync(EXAMPLES.identities, 'utf8')) as Record<string, unknown>[];
  return JSON.stringify(identities.map(({ federatedCredentials: _omitted, ...identity }) => identity));
}

function workspace(t: Test): string {
  return t.testdir({
    'az-identity-list.json': azIdentityList(),
    deploy: { 'app.yaml': `${SERVICE_ACCOUNT}---\n${DEPLOYMENT}` },
    empty: {},
    'not-json.json': 'this is { not json\n',
    'bad-json.json': '[\n  {"name": "a",\n   "clientId": }\n]\n',
    'bad-item.json': JSON.stringify([{ name: 'id-x', clientId: 'nope' }]),
    'bad-policy.yaml': 'apiVersion: wi-admission.io/v1\nkind: IdentityPolicy\nspec:\n  onUnknownIdentity: maybe\n',
  });
}

void t.test('check --policy without --identities is a usage error, not a finding per object', async (t) => {
  const cwd = workspace(t);
  const run = await wiAdmission(['check', '-f', 'deploy/', '--policy', EXAMPLES.policy], { cwd });
  t.equal(run.code, 2);
  t.equal(oneLine(t, run), 'wi-admission check: --policy needs --identities: file:PATH (az identity list -o json > identities.json) or arm:/subscriptions/<id>; see "wi-admission check --help"');
  t.equal(run.stdout, '', 'no findings');
});

void t.test('a bad identities file: one line naming the file and what is wrong, exit 2, in check and in inventory', async (t) => {
  const cwd = workspace(t);
  const cases: [string, string][] = [
    ['missing.json', 'missing.json: cannot read: no such file or directory'],
    ['not-json.json', 'not-json.json:1:1: not JSON: unexpected text'],
    ['bad-json.json', 'bad-json.json:3:16: not JSON: a value expected'],
    ['bad-item.json', 'bad-item.json: item 0 ("id-x"): field id: required, field clientId: not a GUID: "nope", field principalId: required, field tenantId: required'],
  ];
  for (const [file, message] of cases) {
    const check = await wiAdmission(['check', '-f', 'deploy/', '--policy', EXAMPLES.policy, '--identities', `file:${file}`], { cwd });
    t.equal(check.code, 2, `check with ${file} exits 2`);
    t.equal(oneLine(t, check), `wi-admission check: ${message}`);
    const inventory = await wiAdmission(['inventory', '-f', 'deploy/', '--identities', `file:${file}`], { cwd });
    t.equal(inventory.code, 2, `inventory with ${file} exits 2`);
    t.equal(oneLine(t, inventory), `wi-admission inventory: ${message}`);
  }
});

void t.test('check --show-mutation injects the tenant from --tenant-id, else AZURE_TENANT_ID, else says it is left out', async (t) => {
  const cwd = workspace(t);
  const tenantEnv = (run: Run): string | undefined => /\{"name":"AZURE_TENANT_ID","value":"([^"]*)"\}/.exec(run.stdout)?.[1];
  const byFlag = await wiAdmission(['check', '-f', 'deploy/', '--show-mutation', '--tenant-id', TENANT], { cwd });
  t.equal(byFlag.code, 0, byFlag.stderr);
  t.equal(tenantEnv(byFlag), TENANT, 'from --tenant-id');
  t.equal(byFlag.stderr, '');
  const byEnv = await wiAdmission(['check', '-f', 'deploy/', '--show-mutation'], { cwd, env: { AZURE_TENANT_ID: TENANT } });
  t.equal(tenantEnv(byEnv), TENANT, 'from AZURE_TENANT_ID');
  const flagWins = await wiAdmission(['check', '-f', 'deploy/', '--show-mutation', '--tenant-id', '11111111-2222-3333-4444-555555555555'], { cwd, env: { AZURE_TENANT_ID: TENANT } });
  t.equal(tenantEnv(flagWins), '11111111-2222-3333-4444-555555555555', 'the flag beats the environment');
  const neither = await wiAdmission(['check', '-f', 'deploy/', '--show-mutation'], { cwd });
  t.equal(neither.code, 0);
  t.equal(tenantEnv(neither), undefined);
  t.match(neither.stdout, /AZURE_CLIENT_ID/, 'the rest of the preview is there');
  t.equal(oneLine(t, neither), 'wi-admission check: no --tenant-id or AZURE_TENANT_ID: the mutation preview leaves out AZURE_TENANT_ID, which the webhook always injects');
});

void t.test('serve with a bad policy: one human line on stderr (file, field, what to do) beside the fatal log', async (t) => {
  const cwd = workspace(t);
  const run = await wiAdmission(
    ['serve', '--policy', 'bad-policy.yaml', '--objects', EXAMPLES.objects, '--webhook-cert-dir', cwd, '--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0'],
    { cwd, env: { AZURE_TENANT_ID: TENANT } },
  );
  t.equal(run.code, 1);
  t.equal(oneLine(t, run), 'wi-admission: --policy bad-policy.yaml: spec.onUnknownIdentity: must be deny, warn or audit, not "maybe"; fix the file and start again');
  const fatal = run.stdout.split('\n').find((l) => l.includes('"level":60'));
  t.ok(fatal, 'the structured log has the fatal line');
  const err = (JSON.parse(fatal ?? '{}') as { err?: { message?: string; code?: string } }).err;
  t.equal(err?.code, 'WIA_ERR_POLICY_INVALID');
  t.equal(err?.message?.split('must be deny, warn or audit').length, 2, 'the message appears once in the log, not repeated by its cause');
});

void t.test('-o/--output everywhere; unknown flags and commands: one line, "see --help", exit 2', async (t) => {
  const cwd = workspace(t);
  const json = await wiAdmission(['inventory', '--objects', EXAMPLES.objects, '--identities', `file:${EXAMPLES.identities}`, '-o', 'json'], { cwd });
  t.equal(json.code, 0, json.stderr);
  t.same((JSON.parse(json.stdout) as { serviceAccount: string }[]).map((r) => r.serviceAccount), ['batch-runner', 'checkout-api']);
  const cases: [string[], number, string][] = [
    [['check', '-f', 'deploy/', '--frobnicate'], 2, 'wi-admission check: unknown flag --frobnicate; see "wi-admission check --help"'],
    [['inventory', '--frobnicate'], 2, 'wi-admission inventory: unknown flag --frobnicate; see "wi-admission inventory --help"'],
    [['serve', '--frobnicate'], 2, 'wi-admission serve: unknown flag --frobnicate; see "wi-admission serve --help"'],
    [['chekc', '-f', 'deploy/'], 2, 'wi-admission: unknown command "chekc"; see "wi-admission --help"'],
    [['check', 'deploy/'], 2, 'wi-admission check: unexpected argument "deploy/"; see "wi-admission check --help"'],
  ];
  for (const [args, code, line] of cases) {
    const run = await wiAdmission(args, { cwd, env: { AZURE_TENANT_ID: TENANT } });
    t.equal(run.code, code, `${args.join(' ')} exits ${code}`);
    t.equal(oneLine(t, run), line);
    t.equal(run.stdout, '', `${args.join(' ')}: no help text`);
  }
  const help = await wiAdmission(['help', 'check'], { cwd });
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: wi-admission check -f PATH/, 'help check is check --help');
});

void t.test('a path without Kubernetes objects fails the check (exit 2), unless --allow-empty', async (t) => {
  const cwd = workspace(t);
  const args = ['--policy', EXAMPLES.policy, '--identities', `file:${EXAMPLES.identities}`];
  const empty = await wiAdmission(['check', '-f', 'empty/', ...args], { cwd });
  t.equal(empty.code, 2);
  t.equal(oneLine(t, empty), 'wi-admission check: no Kubernetes objects found in empty/ (give --allow-empty if that is expected)');
  t.equal(empty.stdout, '');
  const oneOfTwo = await wiAdmission(['check', '-f', 'deploy/', '-f', 'empty/', ...args, '--objects', EXAMPLES.objects], { cwd });
  t.equal(oneOfTwo.code, 2, 'each -f path must hold objects');
  const emptyStdin = await wiAdmission(['check', '-f', '-', ...args], { cwd, stdin: '# helm template printed nothing\n' });
  t.equal(emptyStdin.code, 2);
  t.equal(oneLine(t, emptyStdin), 'wi-admission check: no Kubernetes objects found in stdin (give --allow-empty if that is expected)');
  const allowed = await wiAdmission(['check', '-f', 'empty/', '--allow-empty', ...args], { cwd });
  t.equal(allowed.code, 0);
  t.equal(allowed.stdout, '0 objects checked: 0 errors, 0 warnings\n');
});

void t.test('identities without federatedCredentials (az identity list): unknown, not "trusts nothing": no finding, one stderr note saying how to give them', async (t) => {
  const cwd = workspace(t);
  const note =
    'file:az-identity-list.json gives no federatedCredentials for 2 identities (rg-checkout-prod/id-checkout-api-prod, rg-billing-prod/id-billing-worker-prod): ' +
    'their federated credentials are unknown, so the federated credential check is skipped for them; ' +
    'add to each item the output of az identity federated-credential list --identity-name <name> --resource-group <group> -o json as federatedCredentials, or use an arm: source';
  const check = await wiAdmission(['check', '-f', 'deploy/', '--objects', EXAMPLES.objects, '--policy', EXAMPLES.policy, '--identities', 'file:az-identity-list.json'], { cwd });
  t.equal(check.code, 0, check.stderr);
  t.equal(check.stdout, '2 objects checked: 0 errors, 0 warnings\n', 'an approved binding has no finding at all');
  t.equal(oneLine(t, check), `wi-admission check: ${note}`);
  const inventory = await wiAdmission(['inventory', '--objects', EXAMPLES.objects, '--policy', EXAMPLES.policy, '--identities', 'file:az-identity-list.json', '-o', 'json'], { cwd });
  t.equal(inventory.code, 0, inventory.stderr);
  const rows = JSON.parse(inventory.stdout) as { serviceAccount: string; reasons: string[] }[];
  t.notOk(rows.some((r) => r.reasons.includes('NoMatchingFederatedCredential')), 'inventory reports no missing credential either');
  t.equal(oneLine(t, inventory), `wi-admission inventory: ${note}`);
  // The same identities with their credentials: the check runs, and finds batch-runner's missing one.
  const withCredentials = await wiAdmission(['check', '-f', '-', '--objects', EXAMPLES.objects, '--policy', EXAMPLES.policy, '--identities', `file:${EXAMPLES.identities}`], {
    cwd,
    stdin: SERVICE_ACCOUNT.replace('name: checkout-api', 'name: batch-runner'),
  });
  t.match(withCredentials.stdout, /\[NoMatchingFederatedCredential\]/, 'given credentials are still checked');
  t.equal(withCredentials.stderr, '', 'and nothing is noted');
});

void t.test('a Namespace check was not given: the rule that needs its labels says so and how to give it, a warning (exit 0), never "the namespace has none"', async (t) => {
  const cwd = workspace(t);
  const args = ['--policy', EXAMPLES.policy, '--identities', `file:${EXAMPLES.identities}`];
  const alone = await wiAdmission(['check', '-f', '-', ...args], { cwd, stdin: SERVICE_ACCOUNT });
  t.equal(alone.code, 0, alone.stdout);
  t.equal(
    alone.stdout,
    '<stdin>:1: warning: ServiceAccount checkout-prod/checkout-api uses client ID 6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2 (managed identity id-checkout-api-prod, resource group rg-checkout-prod), ' +
      'and rule "team-must-own-identity" cannot be evaluated: it needs the labels of namespace checkout-prod, which are unknown: the Namespace was not given: ' +
      'include its manifest in the input, or give --objects FILE with it, or --kubeconfig to read it from the cluster. [NamespaceUnavailable]\n\n1 object checked: 0 errors, 1 warning\n',
  );
  t.notMatch(alone.stdout, /has none/);
  const namespace = (owner: string): string => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: checkout-prod\n  labels: { platform.example.com/owner: ${owner} }\n---\n`;
  const given = await wiAdmission(['check', '-f', '-', ...args], { cwd, stdin: namespace('checkout-team') + SERVICE_ACCOUNT });
  t.equal(given.code, 0);
  t.equal(given.stdout, '1 object checked: 0 errors, 0 warnings\n', 'with the manifest, the rule is evaluated and approves');
  const otherOwner = await wiAdmission(['check', '-f', '-', ...args], { cwd, stdin: namespace('billing-team') + SERVICE_ACCOUNT });
  t.equal(otherOwner.code, 1, 'and denies for a namespace of another team');
  t.match(otherOwner.stdout, /error: .*\[IdentityNotApproved\]/);
  const fromObjects = await wiAdmission(['check', '-f', '-', ...args, '--objects', EXAMPLES.objects], { cwd, stdin: SERVICE_ACCOUNT });
  t.equal(fromObjects.stdout, '1 object checked: 0 errors, 0 warnings\n', 'from --objects too');
  const sarif = await wiAdmission(['check', '-f', '-', ...args, '-o', 'sarif'], { cwd, stdin: SERVICE_ACCOUNT });
  const results = (JSON.parse(sarif.stdout) as { runs: { results: { ruleId: string; level: string }[] }[] }).runs[0]?.results;
  t.same(results?.map((r) => [r.ruleId, r.level]), [['NamespaceUnavailable', 'warning']], 'SARIF: a warning, not an error');
});
