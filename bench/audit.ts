/**
 * `npm run bench:audit`: the drift audit at the scale of the issue, 50,000
 * ServiceAccounts, 5,000 Namespaces and 10,000 identities.
 *
 * 1. Cost: full audit runs in this process over in-memory caches and the real
 *    identity inventory (file source), CPU time by process.cpuUsage().
 * 2. Admissions during audits: the built server in its own process (caches
 *    filled from a stand-in API server through the real informers), /validate
 *    at a fixed 1,000 requests/s over TLS keep-alive, first without audits,
 *    then with full audits back to back (each policy edit starts one); the
 *    latency percentiles of both windows side by side.
 *
 * Figures only; nothing here asserts a time. The population is bench/population.ts. Results go to bench/results/audit.json.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { DriftAudit } from '../src/audit/drift-audit.js';
import { FileIdentitySource } from '../src/azure/file-source.js';
import { IdentityInventory } from '../src/azure/inventory.js';
import { writeDevCertificates } from '../src/certs/issue.js';
import type { NamespaceRecord } from '../src/identity/managed-identity.js';
import { parsePolicy } from '../src/policy/schema.js';
import { FakeKubeApi } from '../test/helpers/fake-kube-api.js';
import { guid, IDENTITIES, NAMESPACES, percentile, populate, postValidate as post, SERVICE_ACCOUNTS, TENANT, waitForPorts, writeInputs } from './population.js';

const RATE = Number(process.env.BENCH_RATE ?? 1_000);
const WINDOW_S = Number(process.env.BENCH_WINDOW_S ?? 15);
const RUNS = Number(process.env.BENCH_AUDIT_RUNS ?? 5);

const root = new URL('..', import.meta.url).pathname;

const round = (n: number, digits = 3): number => +n.toFixed(digits);

/** Part 1: full runs in this process; CPU and wall time of each. */
async function measureCost(dir: string): Promise<{ cpuMs: number[]; wallMs: number[]; bindings: number; results: Record<string, number> }> {
  const log = pino({ level: 'warn' });
  const inventory = new IdentityInventory({ sources: [new FileIdentitySource(join(dir, 'identities.json'))], log });
  inventory.start();
  while (!inventory.hasLoaded()) await new Promise((r) => setTimeout(r, 20));
  const parsed = parsePolicy(readFileSync(join(dir, 'policy.yaml'), 'utf8'), 'policy.yaml');
  if (!parsed.ok) throw new Error(parsed.error);
  const namespaces = new Map<string, NamespaceRecord>();
  for (let n = 0; n < NAMESPACES; n++) namespaces.set(`ns-${n}`, { name: `ns-${n}`, labels: { owner: `team-${n % 100}` } });
  const serviceAccounts = new Map<string, Readonly<Record<string, string>>>();
  for (let k = 0; k < SERVICE_ACCOUNTS; k++) serviceAccounts.set(`ns-${k % NAMESPACES}/sa-${k}`, { 'azure.workload.identity/client-id': guid(1, k % IDENTITIES) });
  let bindings = 0;
  const audit = new DriftAudit({
    policy: () => parsed.policy.spec,
    serviceAccounts: {
      annotated: () => serviceAccounts.entries(),
      getCached: (namespace, name) => {
        const annotations = serviceAccounts.get(`${namespace}/${name}`);
        return annotations && { namespace, name, annotations };
      },
      hasSynced: () => true,
    },
    namespaces: { getCached: (name) => namespaces.get(name), hasSynced: () => true },
    binding: { identities: inventory, audience: 'api://AzureADTokenExchange', oidcIssuer: undefined },
    inventoryReady: () => true,
    log,
    hooks: { onTotals: (n) => (bindings = n) },
  });
  audit.start();
  await audit.idle();
  const cpuMs: number[] = [];
  const wallMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const cpu = process.cpuUsage();
    const wall = performance.now();
    audit.request('policy');
    await audit.idle();
    const used = process.cpuUsage(cpu);
    cpuMs.push(round((used.user + used.system) / 1000, 1));
    wallMs.push(round(performance.now() - wall, 1));
  }
  const results: Record<string, number> = {};
  for (const namespace of audit.namespaces()) for (const r of audit.verdictsOf(namespace)) results[r.result] = (results[r.result] ?? 0) + 1;
  await audit.stop();
  await inventory.stop();
  return { cpuMs, wallMs, bindings, results };
}

async function metrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

/** Cumulative counts of the server's /validate latency histogram, by upper bound in seconds. */
function histogram(text: string): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    const match = /^wi_admission_request_duration_seconds_bucket\{(.*)\} (\S+)$/.exec(line);
    if (!match || !match[1]?.includes('webhook="validate"')) continue;
    const le = /le="([^"]+)"/.exec(match[1])?.[1] ?? '';
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(match[2]));
  }
  return buckets;
}

/** The p-th percentile of the requests between two histogram samples, as the bucket's upper bound in ms. */
function histogramPercentile(before: Map<number, number>, after: Map<number, number>, p: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const bound of bounds) if ((after.get(bound) ?? 0) - (before.get(bound) ?? 0) >= (p / 100) * total) return bound * 1000;
  return Infinity;
}

/** Requests at a fixed rate (open loop: a slow answer does not slow the sending), for `seconds`; latencies in ms. */
async function fixedRate(port: number, ca: string, agent: Agent, body: string, seconds: number): Promise<{ latencies: number[]; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  const total = RATE * seconds;
  for (let sent = 0; sent < total; ) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE));
    for (; sent < due; sent++) {
      const t0 = performance.now();
      pending.push(post(port, body, ca, agent).then((status) => {
        latencies.push(performance.now() - t0);
        if (status !== 200) errors++;
      }, () => void errors++));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  return { latencies: latencies.sort((a, b) => a - b), errors };
}

/** Part 2: the built server under 1,000 requests/s, without and with audits running. */
async function measureAdmissions(dir: string) {
  const api = new FakeKubeApi();
  await api.start();
  populate(api);
  await writeDevCertificates(join(dir, 'certs'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const ca = readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8');
  const child = spawn(
    process.execPath,
    [join(root, 'dist/src/main.js'), 'serve', '--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0',
      '--webhook-cert-dir', join(dir, 'certs'), '--kubeconfig', api.writeKubeconfig(dir), '--policy', join(dir, 'policy.yaml'),
      '--identities', `file:${join(dir, 'identities.json')}`, '--log-level', 'info', '--shutdown-delay', '0s'],
    { env: { ...process.env, AZURE_TENANT_ID: TENANT, POD_NAMESPACE: 'wi-system' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (d: Buffer): void => {
    if (output.length < 1_000_000) output += d.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  try {
    const ports = await waitForPorts(() => output);
    while ((await fetch(`http://127.0.0.1:${ports.health}/readyz`).then((r) => r.status, () => 0)) !== 200) await new Promise((r) => setTimeout(r, 50));
    while (!(sample(await metrics(ports.metrics), 'wi_admission_audit_runs_total', '{trigger="sync"}') >= 1)) await new Promise((r) => setTimeout(r, 100));
    const rss = async (): Promise<number> => Math.round(sample(await metrics(ports.metrics), 'wi_admission_process_resident_memory_bytes') / 2 ** 20);
    const rssAfterFirstAudit = await rss();
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'a', kind: { group: '', version: 'v1', kind: 'ServiceAccount' }, namespace: 'ns-7', operation: 'CREATE', object: { metadata: { name: 'sa-7', namespace: 'ns-7', annotations: { 'azure.workload.identity/client-id': guid(1, 7) } } } },
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });
    await fixedRate(ports.webhook, ca, agent, body, 3); // warm-up
    // A scrape resets prom-client's event loop delay histogram: each window's lag is its own.
    const quietBefore = histogram(await metrics(ports.metrics));
    const quiet = await fixedRate(ports.webhook, ca, agent, body, WINDOW_S);
    const quietText = await metrics(ports.metrics);
    const quietAfter = histogram(quietText);
    const rssAfterQuietLoad = await rss();

    // Audits back to back: each policy edit (a comment) is a reload, and a full run.
    const before = await metrics(ports.metrics);
    let edits = 0;
    let auditing = true;
    const keepAuditing = (async () => {
      while (auditing) {
        const runs = sample(await metrics(ports.metrics), 'wi_admission_audit_runs_total', '{trigger="policy"}') || 0;
        appendFileSync(join(dir, 'policy.yaml'), `# edit ${++edits}\n`);
        while (auditing && (sample(await metrics(ports.metrics), 'wi_admission_audit_runs_total', '{trigger="policy"}') || 0) <= runs) await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const busy = await fixedRate(ports.webhook, ca, agent, body, WINDOW_S);
    auditing = false;
    await keepAuditing;
    const after = await metrics(ports.metrics);
    agent.destroy();
    const runs = sample(after, 'wi_admission_audit_runs_total', '{trigger="policy"}') - (sample(before, 'wi_admission_audit_runs_total', '{trigger="policy"}') || 0);
    const auditSeconds = sample(after, 'wi_admission_audit_duration_seconds_sum') - sample(before, 'wi_admission_audit_duration_seconds_sum');
    const window = (w: { latencies: number[]; errors: number }, from: Map<number, number>, to: Map<number, number>) => ({
      requests: w.latencies.length,
      errors: w.errors,
      latencyMs: { p50: round(percentile(w.latencies, 50)), p99: round(percentile(w.latencies, 99)), p999: round(percentile(w.latencies, 99.9)), max: round(w.latencies.at(-1) ?? NaN) },
      serverP99Ms: histogramPercentile(from, to, 99),
    });
    return {
      ratePerSecond: RATE,
      windowSeconds: WINDOW_S,
      withoutAudit: { ...window(quiet, quietBefore, quietAfter), eventLoopDelayP99Ms: round(sample(quietText, 'wi_admission_nodejs_eventloop_lag_p99_seconds') * 1000, 1) },
      duringAudits: { ...window(busy, histogram(before), histogram(after)), eventLoopDelayP99Ms: round(sample(after, 'wi_admission_nodejs_eventloop_lag_p99_seconds') * 1000, 1), fullAuditRuns: runs, auditWallSecondsEach: round(auditSeconds / runs, 2), shareOfWindowAuditing: round(auditSeconds / WINDOW_S, 2) },
      rssMiB: { afterFirstAudit: rssAfterFirstAudit, afterLoadWithoutAudits: rssAfterQuietLoad, afterLoadWithAudits: Math.round(sample(after, 'wi_admission_process_resident_memory_bytes') / 2 ** 20) },
    };
  } finally {
    child.kill('SIGTERM');
    await api.stop();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wi-bench-audit-'));
  writeInputs(dir);
  const cost = await measureCost(dir);
  const admissions = await measureAdmissions(dir);
  const sorted = [...cost.cpuMs].sort((a, b) => a - b);
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    cached: { identities: IDENTITIES, serviceAccounts: SERVICE_ACCOUNTS, namespaces: NAMESPACES },
    fullAudit: { bindings: cost.bindings, results: cost.results, cpuMs: cost.cpuMs, wallMs: cost.wallMs, medianCpuMs: sorted[Math.floor(sorted.length / 2)] },
    admissions,
    note: 'the server and this client share the machine; full audits yield to the event loop every millisecond',
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', 'audit.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  console.log(`\nfull audit of ${cost.bindings} bindings: ${result.fullAudit.medianCpuMs} ms CPU (median of ${RUNS})`);
  console.log(`admission p99 at ${RATE}/s, as the client saw it: ${admissions.withoutAudit.latencyMs.p99} ms without audits, ${admissions.duringAudits.latencyMs.p99} ms during audits (${admissions.duringAudits.fullAuditRuns} full runs in ${WINDOW_S} s)`);
  console.log(`admission p99 at ${RATE}/s, in the server (histogram bucket): ≤ ${admissions.withoutAudit.serverP99Ms} ms without audits, ≤ ${admissions.duringAudits.serverP99Ms} ms during audits`);
  console.log(`event loop delay p99: ${admissions.withoutAudit.eventLoopDelayP99Ms} ms without audits, ${admissions.duringAudits.eventLoopDelayP99Ms} ms during audits`);
}

await main();
