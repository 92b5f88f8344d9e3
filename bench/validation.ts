/**
 * `npm run bench:validation`: the validating webhook at steady state with
 * 10,000 identities, 50,000 ServiceAccounts and 5,000 Namespaces cached.
 * Measures start-up to /readyz, RSS, and /validate latency and throughput
 * over TLS with keep-alive from this process while the server runs in its
 * own. Figures only; nothing here asserts a time. Results go to
 * bench/results/validation.node<major>.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDevCertificates } from '../src/certs/issue.js';
import { FakeKubeApi } from '../test/helpers/fake-kube-api.js';
import { machine, writeResult } from './results.js';
import { guid, IDENTITIES, NAMESPACES, percentile, populate, postValidate as post, SERVICE_ACCOUNTS, TENANT, waitForPorts, writeInputs } from './population.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

const root = new URL('..', import.meta.url).pathname;

/** Three request shapes: an approved ServiceAccount, a denied one, a Deployment template. */
function bodies(): string[] {
  const review = (uid: string, kind: string, namespace: string, object: unknown): string =>
    JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid, kind: { group: '', version: 'v1', kind }, namespace, operation: 'CREATE', object } });
  const sa = (i: number, ns: number) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: `sa-${i}`, namespace: `ns-${ns}`, annotations: { 'azure.workload.identity/client-id': guid(1, i) } } });
  return [
    review('a', 'ServiceAccount', `ns-${7 % NAMESPACES}`, sa(7, 7 % NAMESPACES)),
    review('b', 'ServiceAccount', `ns-${8 % NAMESPACES}`, sa(9, 8 % NAMESPACES)),
    review('c', 'Deployment', `ns-${11 % NAMESPACES}`, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: `ns-${11 % NAMESPACES}` },
      spec: { template: { metadata: { labels: { 'azure.workload.identity/use': 'true' } }, spec: { serviceAccountName: 'sa-11', containers: [{ name: 'web', image: 'web:1' }] } } },
    }),
  ];
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wi-bench-'));
  writeInputs(dir);
  // ServiceAccounts and Namespaces come from a stand-in API server through the
  // real informers (paged lists), as in a cluster.
  const api = new FakeKubeApi();
  await api.start();
  populate(api);
  await writeDevCertificates(join(dir, 'certs'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const ca = readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8');
  const started = performance.now();
  const child = spawn(
    process.execPath,
    // The built server, as the container runs it (`npm run build` first; no TypeScript loader in the way).
    [join(root, 'dist/src/main.js'), 'serve', '--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0',
      '--webhook-cert-dir', join(dir, 'certs'), '--kubeconfig', api.writeKubeconfig(dir), '--policy', join(dir, 'policy.yaml'),
      '--identities', `file:${join(dir, 'identities.json')}`, '--log-level', 'info', '--shutdown-delay', '0s'],
    { env: { ...process.env, AZURE_TENANT_ID: TENANT }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Production log level (info: one line per admission); only the start-up lines are kept here.
  let output = '';
  const collect = (d: Buffer): void => {
    if (output.length < 1_000_000) output += d.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const ports = await waitForPorts(() => output);
  while ((await fetch(`http://127.0.0.1:${ports.health}/readyz`).then((r) => r.status, () => 0)) !== 200) await new Promise((r) => setTimeout(r, 50));
  const readyMs = performance.now() - started;
  const rssReady = await metric(ports.metrics, 'wi_admission_process_resident_memory_bytes');
  const heapReady = await metric(ports.metrics, 'wi_admission_nodejs_heap_size_used_bytes');

  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const shapes = bodies();
  for (let i = 0; i < 2000; i++) await post(ports.webhook, shapes[i % shapes.length] ?? '', ca, agent); // warm-up
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const loadStart = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const body = shapes[next++ % shapes.length] ?? '';
        const t0 = performance.now();
        const status = await post(ports.webhook, body, ca, agent);
        latencies.push(performance.now() - t0);
        if (status !== 200) errors++;
      }
    }),
  );
  const loadMs = performance.now() - loadStart;
  const rssLoaded = await metric(ports.metrics, 'wi_admission_process_resident_memory_bytes');
  agent.destroy();
  child.kill('SIGTERM');
  await api.stop();
  latencies.sort((a, b) => a - b);

  const result = {
    date: new Date().toISOString(),
    machine: machine(),
    cached: { identities: IDENTITIES, serviceAccounts: SERVICE_ACCOUNTS, namespaces: NAMESPACES },
    startupToReadyMs: Math.round(readyMs),
    rssMiB: { ready: Math.round(rssReady / 2 ** 20), afterLoad: Math.round(rssLoaded / 2 ** 20) },
    heapUsedMiB: { ready: Math.round(heapReady / 2 ** 20) },
    load: {
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      errors,
      throughputPerSecond: Math.round(REQUESTS / (loadMs / 1000)),
      latencyMs: { p50: +percentile(latencies, 50).toFixed(3), p99: +percentile(latencies, 99).toFixed(3), p999: +percentile(latencies, 99.9).toFixed(3) },
      note: 'closed loop from one client process over TLS keep-alive; server and client share the machine',
    },
  };
  writeResult('validation', result);
}

await main();
