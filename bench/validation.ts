/**
 * `npm run bench:validation`: the validating webhook at steady state with
 * 10,000 identities, 50,000 ServiceAccounts and 5,000 Namespaces cached.
 * Measures start-up to /readyz, RSS, and /validate latency and throughput
 * over TLS with keep-alive from this process while the server runs in its
 * own. Figures only; nothing here asserts a time. Results go to
 * bench/results/validation.node<major>.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDevCertificates } from '../src/certs/issue.js';
import { FakeKubeApi } from '../test/helpers/fake-kube-api.js';
import { machine, writeResult } from './results.js';

const IDENTITIES = Number(process.env.BENCH_IDENTITIES ?? 10_000);
const SERVICE_ACCOUNTS = Number(process.env.BENCH_SERVICE_ACCOUNTS ?? 50_000);
const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 5_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

const root = new URL('..', import.meta.url).pathname;
const guid = (kind: number, i: number): string => `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

function writeInputs(dir: string): void {
  const identities = Array.from({ length: IDENTITIES }, (_, i) => ({
    clientId: guid(1, i),
    principalId: guid(2, i),
    tenantId: TENANT,
    name: `id-${i}`,
    id: `/subscriptions/${guid(3, 0)}/resourceGroups/rg-${i % 50}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-${i}`,
    resourceGroup: `rg-${i % 50}`,
    tags: { owner: `team-${i % 100}`, 'kubernetes.namespaces': `ns-${i % NAMESPACES}` },
    federatedCredentials: [{ name: 'fc', issuer: 'https://oidc.example/', subject: `system:serviceaccount:ns-${i % NAMESPACES}:sa-${i}`, audiences: ['api://AzureADTokenExchange'] }],
  }));
  writeFileSync(join(dir, 'identities.json'), JSON.stringify(identities));
  writeFileSync(
    join(dir, 'policy.yaml'),
    [
      'apiVersion: wi-admission.io/v1',
      'kind: IdentityPolicy',
      'spec:',
      '  rules:',
      '    - name: team-must-own-identity',
      "      requireTags: { owner: \"{namespace.labels['owner']}\" }",
      '      action: deny',
    ].join('\n'),
  );
}

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

function post(port: number, body: string, ca: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/validate', method: 'POST', ca, agent, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wi-bench-'));
  writeInputs(dir);
  // ServiceAccounts and Namespaces come from a stand-in API server through the
  // real informers (paged lists), as in a cluster.
  const api = new FakeKubeApi();
  await api.start();
  for (let n = 0; n < NAMESPACES; n++) api.putNamespace(`ns-${n}`, { owner: `team-${n % 100}` });
  for (let k = 0; k < SERVICE_ACCOUNTS; k++) {
    api.putServiceAccount(`ns-${k % NAMESPACES}`, `sa-${k}`, { 'azure.workload.identity/client-id': guid(1, k % IDENTITIES) }, { silent: true });
  }
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

/** Reads the bound ports from the server's `listening` log line. */
async function waitForPorts(output: () => string): Promise<{ webhook: number; health: number; metrics: number }> {
  for (let i = 0; i < 1200; i++) {
    const line = output().split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line) {
      const parsed = JSON.parse(line) as { webhookPort: number; healthPort: number; metricsPort: number };
      return { webhook: parsed.webhookPort, health: parsed.healthPort, metrics: parsed.metricsPort };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server did not start:\n${output()}`);
}

await main();
