// `wi-admission inventory` in-process: from files, and from a stand-in API
// server (ServiceAccounts, Namespaces and Pods listed by the real client).
import t from 'tap';
import { runInventoryCommand } from '../../src/commands/inventory.js';
import type { CommandIo } from '../../src/commands/inputs.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { createLogSink } from '../helpers/log-sink.js';

const root = new URL('../..', import.meta.url).pathname;
const EXAMPLES = ['--policy', 'examples/policy.yaml', '--identities', 'file:examples/identities.json'];

async function inventory(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = { cwd: root, env: {}, stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), readStdin: () => '', log: createLogSink().log };
  const previous = process.cwd();
  process.chdir(root);
  try {
    return { code: await runInventoryCommand(argv, io), stdout, stderr };
  } finally {
    process.chdir(previous);
  }
}

void t.test('from the example objects: one row per ServiceAccount with a client ID, approval or the reasons', async (t) => {
  const result = await inventory(['--objects', 'examples/objects.yaml', ...EXAMPLES]);
  t.equal(result.code, 0);
  t.equal(
    result.stdout,
    [
      'NAMESPACE       SERVICEACCOUNT   CLIENT ID                              IDENTITY                 RESOURCE GROUP     OWNER           ENVIRONMENT   STATUS',
      'checkout-prod   batch-runner     0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b   id-billing-worker-prod   rg-billing-prod    billing-team    prod          denied (IdentityNotApproved,TenantMismatch)',
      'checkout-prod   checkout-api     6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2   id-checkout-api-prod     rg-checkout-prod   checkout-team   prod          approved',
      '',
    ].join('\n'),
  );
  const csv = await inventory(['--objects', 'examples/objects.yaml', ...EXAMPLES, '--format', 'csv']);
  t.match(csv.stdout.split('\n')[1] ?? '', /^checkout-prod,batch-runner,0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b,id-billing-worker-prod,rg-billing-prod,billing-team,prod,denied,IdentityNotApproved;TenantMismatch,/);
  const json = JSON.parse((await inventory(['--objects', 'examples/objects.yaml', ...EXAMPLES, '--format', 'json'])).stdout) as { serviceAccount: string; status: string }[];
  t.same(json.map((r) => [r.serviceAccount, r.status]), [['batch-runner', 'denied'], ['checkout-api', 'approved']]);
});

void t.test('from a cluster: pods are counted per ServiceAccount', async (t) => {
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.stop());
  api.putNamespace('checkout-prod', { 'platform.example.com/owner': 'checkout-team' });
  api.putServiceAccount('checkout-prod', 'checkout-api', { 'azure.workload.identity/client-id': '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2' });
  api.putServiceAccount('checkout-prod', 'plain');
  api.putPod('checkout-prod', 'web-1', 'checkout-api');
  api.putPod('checkout-prod', 'web-2', 'checkout-api');
  api.putPod('checkout-prod', 'other', 'plain');
  const dir = t.testdir({});
  const result = await inventory(['--kubeconfig', api.writeKubeconfig(dir), ...EXAMPLES, '--format', 'json']);
  t.equal(result.code, 0, result.stderr);
  const rows = JSON.parse(result.stdout) as { serviceAccount: string; status: string; pods: number }[];
  t.same(rows.map((r) => [r.serviceAccount, r.status, r.pods]), [['checkout-api', 'approved', 2]], 'only the ServiceAccount with a client ID, with its 2 pods');
  const table = await inventory(['--kubeconfig', api.writeKubeconfig(dir), ...EXAMPLES]);
  t.match(table.stdout, /STATUS\s+PODS\n.*approved\s+2\n/);
});

void t.test('bad usage exits 2 with one line', async (t) => {
  for (const [argv, pattern] of [
    [[], /^no ServiceAccounts: give --kubeconfig, --objects or -f; see "wi-admission inventory --help"$/],
    [['--objects', 'examples/objects.yaml', '--format', 'xml'], /^output format "xml": use table, json, csv, markdown; see "wi-admission inventory --help"$/],
    [['--objects', 'examples/objects.yaml', '-o', 'json', '--format', 'csv'], /^--output json and --format csv disagree \(--format is another name for --output\): give one; see/],
    [['--objects', 'missing.yaml'], /^--objects missing\.yaml: cannot read: no such file or directory$/],
    [['--objects', 'examples/objects.yaml', '--identities', 'nope'], /expected file:PATH or arm:/],
    [['--objects', 'examples/objects.yaml', '--identities', 'file:missing.json'], /^missing\.json: cannot read: no such file or directory$/],
    [['--objects', 'examples/objects.yaml', '--policy', 'examples/policy.yaml'], /^--policy needs --identities: file:PATH \(az identity list -o json > identities\.json\) or arm:\/subscriptions\/<id>; see "wi-admission inventory --help"$/],
    [['--objects', 'examples/objects.yaml', '--frobnicate'], /^unknown flag --frobnicate; see "wi-admission inventory --help"$/],
  ] as [string[], RegExp][]) {
    const result = await inventory(argv);
    t.equal(result.code, 2, argv.join(' '));
    const lines = result.stderr.split('\n').filter((l) => l !== '');
    t.equal(lines.length, 1, `${argv.join(' ')}: one line`);
    t.match(lines[0]?.replace(/^wi-admission inventory: /, ''), pattern);
  }
});

void t.test('-o is the output flag, as for check; --format is another name for it', async (t) => {
  const byO = await inventory(['--objects', 'examples/objects.yaml', ...EXAMPLES, '-o', 'json']);
  const byFormat = await inventory(['--objects', 'examples/objects.yaml', ...EXAMPLES, '--format', 'json']);
  const byOutput = await inventory(['--objects', 'examples/objects.yaml', ...EXAMPLES, '--output=json']);
  t.equal(byO.code, 0, byO.stderr);
  t.same((JSON.parse(byO.stdout) as { serviceAccount: string }[]).map((r) => r.serviceAccount), ['batch-runner', 'checkout-api']);
  t.equal(byFormat.stdout, byO.stdout);
  t.equal(byOutput.stdout, byO.stdout);
});
