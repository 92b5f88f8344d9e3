/**
 * `npm run demo`: the whole product in a minute. Starts a real etcd,
 * kube-apiserver and kube-controller-manager on loopback (built once from Go
 * modules by scripts/build-control-plane.sh), runs wi-admission on the host
 * with the chart's RBAC and webhook configurations (webhook.url pointing at
 * it, self-managed certificate), applies examples/demo/, then prints the pod
 * as the API server stored it and the rejection kubectl prints for a
 * borrowed identity. `npm run demo -- --keep` leaves it all running.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { controlPlaneBinaries, freePorts, startControlPlane } from '../test/helpers/control-plane.js';
import { helmBinary } from '../test/helpers/helm.js';

const root = new URL('..', import.meta.url).pathname;
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const keep = process.argv.includes('--keep');
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const binaries = controlPlaneBinaries({ showProgress: true });
if (!binaries.ok) {
  process.stderr.write(`demo: ${binaries.reason}\n`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'wi-admission-demo-'));
say('== starting etcd, kube-apiserver and kube-controller-manager on loopback');
const plane = await startControlPlane(dir, binaries.bin, { controllers: true });
const adminConfig = plane.kubeconfig(dir, 'admin');

/** kubectl as a developer runs it; never throws, returns what it printed. */
const kubectl = (args: string[], input = ''): Promise<{ code: number; out: string }> =>
  new Promise((resolve) => {
    const child = execFile(plane.kubectl, ['--kubeconfig', adminConfig, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
    child.stdin?.end(input);
  });

let server: ReturnType<typeof spawn> | undefined;
const stopAll = async (): Promise<void> => {
  server?.kill('SIGTERM');
  await plane.stop();
};

try {
  const [webhookPort = 0, healthPort = 0] = await freePorts(2);
  say(`== rendering the chart with webhook.url=https://127.0.0.1:${webhookPort} and applying its RBAC and webhook configurations`);
  const policy = (parse(readFileSync(join(root, 'examples', 'policy.yaml'), 'utf8')) as { spec: unknown }).spec;
  const rendered = execFileSync(helmBinary(), ['template', 'wi', join(root, 'charts', 'wi-admission'), '-n', 'wi-system',
    '--set', `azureTenantID=${TENANT}`, '--set', 'certificates.extraHosts[0]=127.0.0.1',
    '--set', `webhook.url=https://127.0.0.1:${webhookPort}`, '--set-json', `policy=${JSON.stringify(policy)}`], { encoding: 'utf8' });
  // What a cluster admin installs, minus the in-cluster Deployment: the server runs on this host instead.
  const wanted = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
  const manifests = parseAllDocuments(rendered)
    .map((d) => d.toJS() as { kind?: string } | null)
    .filter((o): o is { kind: string } => o !== null && wanted.has(o.kind ?? ''));
  await must(kubectl(['create', 'namespace', 'wi-system']));
  await must(kubectl(['apply', '-f', '-'], manifests.map((m) => stringify(m)).join('---\n')));

  const serverLogPath = join(dir, 'wi-admission.log');
  const serverLog = openSync(serverLogPath, 'a');
  say(`== starting wi-admission (the chart's ServiceAccount, self-managed certificate); its log: ${serverLogPath}`);
  server = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'main.ts'),
    '--webhook-addr', `127.0.0.1:${webhookPort}`, '--health-addr', `127.0.0.1:${healthPort}`, '--metrics-addr', '127.0.0.1:0',
    '--webhook-cert-dir', join(dir, 'webhook-certs'), '--cert-mode', 'self', '--cert-secret', 'wi-tls', '--cert-hosts', '127.0.0.1',
    '--webhook-configuration', 'wi', '--kubeconfig', plane.kubeconfig(dir, 'webhook'),
    '--policy', join(root, 'examples', 'policy.yaml'), '--identities', `file:${join(root, 'examples', 'identities.json')}`],
  { env: { ...process.env, AZURE_TENANT_ID: TENANT, POD_NAMESPACE: 'wi-system' }, stdio: ['ignore', serverLog, serverLog] });
  await until(() => ready(healthPort), 60_000, 'wi-admission to become ready');

  say('\n$ kubectl apply -f examples/demo/team.yaml');
  say((await must(kubectl(['apply', '-f', join(root, 'examples', 'demo', 'team.yaml')]))).trimEnd());
  // The API server picks up new webhook configurations within a second or so.
  const pod = readFileSync(join(root, 'examples', 'demo', 'pod.yaml'), 'utf8');
  await until(async () => (await kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], pod)).out.includes('AZURE_CLIENT_ID'), 30_000, 'the webhook configuration to take effect');
  say('\n$ kubectl apply -f examples/demo/pod.yaml');
  say((await must(kubectl(['apply', '-f', join(root, 'examples', 'demo', 'pod.yaml')]))).trimEnd());
  const stored = JSON.parse(await must(kubectl(['get', 'pod', 'checkout-web', '-n', 'checkout-prod', '-o', 'json']))) as {
    spec: { containers: { name: string; env?: unknown; volumeMounts?: unknown }[]; volumes?: { name: string }[] };
  };
  say('\n$ kubectl get pod checkout-web -n checkout-prod -o yaml   # what wi-admission added');
  say(stringify({
    spec: {
      containers: stored.spec.containers.map((c) => ({ name: c.name, env: c.env, volumeMounts: c.volumeMounts })),
      volumes: stored.spec.volumes?.filter((v) => v.name.startsWith('azure-workload-identity-')),
    },
  }).trimEnd());

  say('\n$ kubectl apply -f examples/demo/borrowed-identity.yaml');
  const refused = await kubectl(['apply', '-f', join(root, 'examples', 'demo', 'borrowed-identity.yaml')]);
  say(refused.out.trimEnd());
  say(`(kubectl exited with ${refused.code})`);
  if (refused.code === 0) throw new Error('the borrowed identity was admitted');

  if (keep) {
    say(`\nStill running. Try it yourself:\n  export KUBECONFIG=${adminConfig}\n  ${plane.kubectl} get pods -A\nCtrl-C stops everything.`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
} catch (err) {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n${plane.logs()}\n`);
  process.exitCode = 1;
} finally {
  await stopAll();
}

async function must(result: Promise<{ code: number; out: string }>): Promise<string> {
  const { code, out } = await result;
  if (code !== 0) throw new Error(`kubectl failed (exit ${code}): ${out}`);
  return out;
}

function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on('error', () => resolve(false));
  });
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
