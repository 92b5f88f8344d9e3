// The real executable: `wi-admission serve` as a child process, stopped with
// SIGTERM while requests are in flight.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import t from 'tap';
import { writeDevCertificates } from '../../src/certs/issue.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { eventually, GENEROUS_WAIT_MS, getText, post } from '../helpers/https-client.js';
import { labelledPod, podReview } from '../helpers/reviews.js';

const main = new URL('../../src/main.ts', import.meta.url).pathname;

void t.test('SIGTERM: not ready first, every in-flight request answered, then exit 0', async (t) => {
  const dir = t.testdir({});
  await writeDevCertificates(join(dir, 'certs'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const ca = readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8');
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.stop());
  // Cache misses wait on live GETs the API server holds until the test releases them, so the
  // requests are in flight at SIGTERM and stay in flight for as long as the test looks.
  const release = api.holdServiceAccountGets(...Array.from({ length: 8 }, (_, i) => `sa-${i}`));
  t.teardown(release);

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', main, 'serve', '--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0',
      '--webhook-cert-dir', join(dir, 'certs'), '--kubeconfig', api.writeKubeconfig(dir), '--shutdown-delay', '300ms', '--sa-lookup-timeout', '60s', '--log-level', 'info'],
    { env: { ...process.env, AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  // 'close', not 'exit': only then has everything the process wrote been read.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  t.teardown(() => void child.kill('SIGKILL'));

  await eventually(() => /"msg":"listening"/.test(output), GENEROUS_WAIT_MS, 'server listening');
  const ports = JSON.parse(output.split('\n').find((l) => l.includes('"msg":"listening"')) ?? '{}') as { webhookPort: number; healthPort: number };
  await eventually(async () => (await getText(ports.healthPort, '/readyz')).status === 200, GENEROUS_WAIT_MS, 'ready');

  const agent = new Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const inFlight = Array.from({ length: 8 }, (_, i) =>
    post(ports.webhookPort, '/mutate-v1-pod', JSON.stringify(podReview(labelledPod(`p${i}`, `sa-${i}`), { uid: `u${i}` })), { ca, agent }),
  );
  await eventually(() => api.requests.filter((r) => r.includes('/serviceaccounts/sa-')).length === 8, GENEROUS_WAIT_MS, 'requests in flight');
  child.kill('SIGTERM');
  // The probe listener closes only after the admission listener, which waits for the held
  // requests: /readyz keeps answering until they are released, and must turn to 503.
  let readyz = { status: 0, body: '' };
  await eventually(async () => (readyz = await getText(ports.healthPort, '/readyz')).status === 503, GENEROUS_WAIT_MS, () => `readiness false during the drain (last: ${readyz.status} ${readyz.body})`);
  t.match(JSON.parse(readyz.body), { ready: false, checks: { notShuttingDown: false } }, 'readiness false during the drain, because of the shutdown');
  release();
  const results = await Promise.all(inFlight);
  t.same(results.map((r) => r.status), Array(8).fill(200), 'no in-flight request failed');
  t.same(results.map((r) => (r.json as { response: { uid: string } }).response.uid), Array.from({ length: 8 }, (_, i) => `u${i}`));
  t.equal(await exited, 0, 'exit code 0');
  t.match(output, /"signal":"SIGTERM"/);
  t.match(output, /"msg":"shut down"/);
});

void t.test('a bad configuration exits 1 naming the setting', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', '--tls-min-version', '1.0'], { env: { ...process.env, AZURE_TENANT_ID: 'x' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(code, 1);
  t.match(stderr, /--tls-min-version \(WI_ADMISSION_TLS_MIN_VERSION\): must be 1\.2 or 1\.3/);
});

void t.test('version prints one JSON line', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  t.equal(await new Promise((resolve) => child.on('close', resolve)), 0);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  t.match(JSON.parse(stdout), { buildVersion: pkg.version, platform: `${process.platform}/${process.arch}` });
});
