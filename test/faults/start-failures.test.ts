// A start that fails at each step, on the real executable: a bad policy, an
// unusable certificate directory, a port in use, an API server that does not
// answer, a kubeconfig that asks for impersonation, and an API server
// version that turns out not to be semver after the start. Each exits 1,
// prints one human line on stderr beside the structured log, and ends by
// itself: everything it had started (informers, watchers, listeners, timers)
// was stopped, so nothing keeps the process alive and its ports are free.
// The five-second budget is held by the test's own timeout, not asserted.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { writeDevCertificates } from '../../src/certs/issue.js';
import { freePorts } from '../helpers/control-plane.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { eventually } from '../helpers/https-client.js';
import { parseLogLines, TENANT_ID } from './support.js';

const main = new URL('../../src/main.ts', import.meta.url).pathname;
/** Node with tsx on a busy machine takes a few seconds to load; the server's own budget is 5 s after that. */
const TEST_TIMEOUT_MS = 30_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ports: number[];
}

/** A directory with a dev certificate, a stand-in API server, and free ports for the three listeners. */
async function setup(t: Test): Promise<{ dir: string; api: FakeKubeApi; kubeconfig: string; ports: number[]; args: (extra?: string[]) => string[] }> {
  const dir = t.testdir({});
  await writeDevCertificates(join(dir, 'certs'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.stop());
  api.putServiceAccount('default', 'workload');
  const ports = await freePorts(3);
  const [webhook, health, metrics] = ports as [number, number, number];
  const kubeconfig = api.writeKubeconfig(dir);
  const args = (extra: string[] = []): string[] => [
    '--webhook-addr', `127.0.0.1:${webhook}`, '--health-addr', `127.0.0.1:${health}`, '--metrics-addr', `127.0.0.1:${metrics}`,
    '--webhook-cert-dir', join(dir, 'certs'), '--kubeconfig', kubeconfig, '--shutdown-delay', '0ms', ...extra,
  ];
  return { dir, api, kubeconfig, ports, args };
}

function serve(t: Test, args: string[], ports: number[], onOutput?: (stdout: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', ...args], { env: { ...process.env, AZURE_TENANT_ID: TENANT_ID }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    onOutput?.(stdout, child);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr, ports })));
}

/** Every listener the process had opened is closed: each port can be bound again. */
async function portsFree(ports: readonly number[]): Promise<boolean> {
  const results = await Promise.all(
    ports.map((port) => new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    })),
  );
  return results.every(Boolean);
}

/** The checks every failed start shares. */
async function assertFailedCleanly(t: Test, run: Run, message: RegExp, code: string): Promise<void> {
  t.equal(run.code, 1, 'exit code 1');
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  const human = lines.filter((l) => l.startsWith('wi-admission: '));
  t.equal(human.length, 1, 'one human line on stderr');
  t.match(human[0], message, 'it says what failed and where');
  t.notMatch(run.stderr, /still running .* after stopping/, 'the process ended by itself: nothing it started was left running');
  t.match(parseLogLines(run.stdout).find((l) => l.msg === 'cannot start'), { level: 60, err: { code } }, `and the structured log line, with ${code}`);
  t.ok(await portsFree(run.ports), 'no listener left');
}

void t.test('a policy that does not validate: nothing else starts', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { dir, ports, args } = await setup(t);
  writeFileSync(join(dir, 'policy.yaml'), 'apiVersion: wi-admission.io/v1\nkind: IdentityPolicy\nspec:\n  rules:\n    - name: r\n      action: maybe\n');
  const run = await serve(t, args(['--policy', join(dir, 'policy.yaml')]), ports);
  await assertFailedCleanly(t, run, /^wi-admission: --policy .*policy\.yaml: .*action.*$/, 'WIA_ERR_POLICY_INVALID');
  t.notMatch(run.stdout, /cache synced|listening/, 'no informer and no listener was started after it');
});

void t.test('a certificate directory that cannot be read', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { dir, ports, args } = await setup(t);
  writeFileSync(join(dir, 'not-a-directory'), 'x');
  const run = await serve(t, [...args(), '--webhook-cert-dir', join(dir, 'not-a-directory')], ports);
  await assertFailedCleanly(t, run, /^wi-admission: --webhook-cert-dir .*not-a-directory cannot be used: it is not a directory$/, 'WIA_ERR_TLS_DIR_UNUSABLE');
  const missing = await serve(t, [...args(), '--webhook-cert-dir', join(dir, 'missing')], ports);
  await assertFailedCleanly(t, missing, /--webhook-cert-dir .*missing cannot be used: it does not exist$/, 'WIA_ERR_TLS_DIR_UNUSABLE');
});

void t.test('the webhook port in use: the probe listeners, informers and watchers opened before it are all closed', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { api, ports, args } = await setup(t);
  const [webhook] = ports as [number];
  // A list the API server never finishes: stopping the informer must abort it, or it would hold the process.
  api.interceptors.push((call) => call.verb === 'list' && call.resource === 'serviceaccounts');
  const occupier: Server = createServer();
  await new Promise<void>((resolve) => occupier.listen(webhook, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => occupier.close(() => resolve())));
  const run = await serve(t, args(), ports.slice(1));
  await assertFailedCleanly(t, run, new RegExp(`^wi-admission: --webhook-addr 127\\.0\\.0\\.1:${webhook}: cannot listen: the address is already in use$`), 'WIA_ERR_LISTEN_FAILED');
  await eventually(() => api.watcherCount() === 0, 5000, 'no watch left open at the API server');
});

void t.test('an API server that does not answer at all', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { api, kubeconfig, ports, args } = await setup(t);
  const [closedPort] = await freePorts(1);
  writeFileSync(kubeconfig, readFileSync(kubeconfig, 'utf8').replace(`127.0.0.1:${api.port()}`, `127.0.0.1:${closedPort}`));
  const run = await serve(t, args(), ports);
  await assertFailedCleanly(t, run, /^wi-admission: cannot reach the API server \(--kubeconfig .*\) within 3 s: .*ECONNREFUSED.*$/, 'WIA_ERR_KUBE_UNREACHABLE');
});

void t.test('a kubeconfig user that impersonates is refused in one line naming it', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { dir, api, ports, args } = await setup(t);
  const impersonating = api.writeKubeconfig(dir, { token: 'x', as: 'system:admin', 'as-groups': ['system:masters'] }, 'kubeconfig-as');
  const run = await serve(t, args(['--kubeconfig', impersonating]), ports);
  await assertFailedCleanly(t, run, /^wi-admission: --kubeconfig .*kubeconfig-as \(context fake\): user "fake" sets as, as-groups \(impersonation\), which is not supported; .*$/, 'WIA_ERR_KUBECONFIG_INVALID');
});

void t.test('an API server version that is not semver, learned after the start, stops everything and exits 1', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { api, ports, args } = await setup(t);
  api.down = true; // answers 503: reachable, so the start goes on and asks /version in the background
  const run = await serve(t, args(), ports, (stdout) => {
    if (api.down && stdout.includes('"msg":"listening"')) {
      api.gitVersion = 'v1.32-custom';
      api.down = false;
    }
  });
  await assertFailedCleanly(t, run, /^wi-admission: Kubernetes version "v1\.32-custom" is not a semantic version such as v1\.32\.0$/, 'WIA_ERR_KUBE_VERSION_INVALID');
  t.match(run.stdout, /"msg":"listening"/, 'it had been serving');
  t.match(run.stdout, /"msg":"shut down"/, 'and shut down in order');
});

void t.test('an exec credential plugin that fails: its own words, in one line', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { dir, api, ports, args } = await setup(t);
  writeFileSync(join(dir, 'plugin.mjs'), "process.stderr.write('error: AADSTS700016: Application with identifier 0000 was not found in the directory\\nTrace ID: 1\\n');\nprocess.exit(1);\n");
  const failing = api.writeKubeconfig(dir, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [join(dir, 'plugin.mjs')], interactiveMode: 'Never' } }, 'kubeconfig-exec');
  const run = await serve(t, args(['--kubeconfig', failing]), ports);
  await assertFailedCleanly(t, run, /^wi-admission: the exec credential plugin of user "fake" failed: error: AADSTS700016: Application with identifier 0000 was not found in the directory$/, 'WIA_ERR_KUBE_CREDENTIALS');
});
