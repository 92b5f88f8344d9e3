/**
 * `npm run bench:rss`: resident memory of `wi-admission serve` (from dist/)
 * at ready, against the loopback stand-in API server, for three kubeconfig
 * users:
 * - `token`: a bearer token;
 * - `exec`: an exec credential plugin (a node script that prints an
 *   ExecCredential), run by client-node's exec-auth module alone;
 * - `token + whole client-node`: the token user with the whole
 *   @kubernetes/client-node package preloaded (`--import`), what loading it
 *   for a plugin user cost before: the figure the exec-auth module avoids.
 * Each is started BENCH_RUNS (3) times; RSS is read from /proc once /readyz
 * answers 200 and the process has idled a second. The median is reported.
 * Figures only: nothing is asserted. Results: bench/results/ready-rss.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeDevCertificates } from '../src/certs/issue.js';
import { FakeKubeApi } from '../test/helpers/fake-kube-api.js';

const root = new URL('..', import.meta.url).pathname;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const dir = mkdtempSync(join(tmpdir(), 'wi-rss-'));

await writeDevCertificates(join(dir, 'certs'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
const api = new FakeKubeApi();
await api.start();
for (let i = 0; i < 200; i++) api.putServiceAccount(`ns-${i % 20}`, `sa-${i}`);
writeFileSync(join(dir, 'plugin.mjs'), "process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'from-plugin' } }));\n");
const users = {
  token: { kubeconfig: api.writeKubeconfig(dir, { token: 'bench-token' }, 'kubeconfig-token'), nodeArgs: [] as string[] },
  exec: {
    kubeconfig: api.writeKubeconfig(dir, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [join(dir, 'plugin.mjs')], interactiveMode: 'Never' } }, 'kubeconfig-exec'),
    nodeArgs: [] as string[],
  },
  'token + whole client-node': { kubeconfig: join(dir, 'kubeconfig-token'), nodeArgs: ['--import', '@kubernetes/client-node'] },
};

async function rssAtReady(kubeconfig: string, nodeArgs: string[]): Promise<{ rssMiB: number; readyMs: number }> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [...nodeArgs, join(root, 'dist', 'src', 'main.js'), 'serve', '--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0',
      '--webhook-cert-dir', join(dir, 'certs'), '--kubeconfig', kubeconfig, '--shutdown-delay', '0ms'],
    { cwd: root, env: { ...process.env, AZURE_TENANT_ID: TENANT }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  try {
    let healthPort = 0;
    for (;;) {
      const line = output.split('\n').find((l) => l.includes('"msg":"listening"'));
      if (line) {
        healthPort = (JSON.parse(line) as { healthPort: number }).healthPort;
        const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then((r) => r.status === 200, () => false);
        if (ready) break;
      }
      if (child.exitCode !== null) throw new Error(`the server exited: ${output}`);
      await sleep(50);
    }
    const readyMs = performance.now() - started;
    await sleep(1000);
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
    return { rssMiB: Math.round((kib / 1024) * 10) / 10, readyMs: Math.round(readyMs) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const results: Record<string, { rssMiB: number; readyMs: number; runs: number[] }> = {};
for (const [name, user] of Object.entries(users)) {
  const runs: { rssMiB: number; readyMs: number }[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await rssAtReady(user.kubeconfig, user.nodeArgs));
  results[name] = { rssMiB: median(runs.map((r) => r.rssMiB)), readyMs: median(runs.map((r) => r.readyMs)), runs: runs.map((r) => r.rssMiB) };
  console.log(`${name.padEnd(28)} RSS at ready ${String(results[name]?.rssMiB).padStart(6)} MiB (runs: ${runs.map((r) => r.rssMiB).join(', ')}), ready after ${results[name]?.readyMs} ms`);
}
await api.stop();
const execUsed = api.calls.some((c) => c.bearer === 'from-plugin');
if (!execUsed) throw new Error('the exec plugin\'s token never reached the API server: the exec figure would not mean anything');
writeFileSync(
  join(root, 'bench', 'results', 'ready-rss.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, serviceAccounts: 200, results }, null, 2)}\n`,
);
