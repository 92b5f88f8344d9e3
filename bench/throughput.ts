/**
 * `npm run bench:throughput`: wi-admission against the floor, in one run.
 *
 * - Our server (from dist/, log level info as in production) and each floor
 *   run pinned to core 0; the load generator (bench/load-worker.mjs, its own
 *   process) is pinned to core 1.
 * - The floor is a bare node:https server on the same TLS settings that reads
 *   the body, JSON.parses it and returns a canned answer of the same size as
 *   ours (bench/floor-server.mjs); a second floor skips the parse, for scale.
 * - Saturation (autocannon, closed loop) gives throughput; fixed rates of
 *   1,000 and 5,000 requests/s (open loop, timed from when each request was
 *   due) give latency.
 * - Each server first takes BENCH_WARMUP_SECONDS (3) of saturating load on
 *   each path, unmeasured: a webhook runs for days, so the figures are those
 *   of optimised code, not of the JIT's first seconds.
 * - Every run also records the server's own CPU time per request (user +
 *   system, all its threads, from /proc): unlike requests per second it
 *   hardly moves when other work shares the machine.
 * - BENCH_QUICK=1 runs only the mutation and the two floors at saturation;
 *   BENCH_SERVER_NODE_ARGS adds node flags to our server only (e.g.
 *   `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 * Figures only: nothing is asserted. Results:
 * bench/results/throughput.node<major>.json.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDevCertificates } from '../src/certs/issue.js';
import { realisticPod, review } from './bodies.js';
import { machine, writeResult } from './results.js';

const root = new URL('..', import.meta.url).pathname;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const QUICK = process.env.BENCH_QUICK === '1';
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const dir = mkdtempSync(join(tmpdir(), 'wi-throughput-'));
const certDir = join(dir, 'certs');

function writeBodies(): Record<string, string> {
  const pod = realisticPod();
  const bodies = {
    pod: review('0d6f2c1e-0000-4000-8000-000000000001', 'Pod', pod),
    deployment: review('0d6f2c1e-0000-4000-8000-000000000002', 'Deployment', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'checkout-api', namespace: 'checkout-prod', labels: { app: 'checkout-api' } },
      spec: { replicas: 3, selector: { matchLabels: { app: 'checkout-api' } }, template: { metadata: { labels: (pod.metadata as { labels: unknown }).labels }, spec: pod.spec } },
    }),
    serviceAccount: review('0d6f2c1e-0000-4000-8000-000000000003', 'ServiceAccount', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'checkout-api', namespace: 'checkout-prod', annotations: { 'azure.workload.identity/client-id': '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2' } },
    }),
  };
  const files: Record<string, string> = {};
  for (const [name, body] of Object.entries(bodies)) {
    files[name] = join(dir, `${name}.json`);
    writeFileSync(files[name], body);
  }
  return files;
}

function pinned(core: number, args: string[], env: NodeJS.ProcessEnv, stdout: 'pipe' | number = 'pipe'): ChildProcess {
  return spawn('taskset', ['-c', String(core), process.execPath, ...args], { env, stdio: ['ignore', stdout, 'inherit'] });
}

async function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (d: Buffer) => {
      text += d.toString();
      const line = text.split('\n').find((l) => l.trim() !== '');
      if (text.includes('\n') && line) resolve(line);
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code}`)));
  });
}

interface Server {
  readonly port: number;
  /** The server's process (taskset execs node, so it is the server itself). */
  readonly pid: number;
  readonly stop: () => void;
}

async function startOurs(): Promise<Server> {
  const logFile = join(dir, 'server.log');
  const child = pinned(
    0,
    [...SERVER_NODE_ARGS, join(root, 'dist/src/main.js'), 'serve', '--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--webhook-cert-dir', certDir,
      '--objects', join(root, 'examples/objects.yaml'), '--policy', join(root, 'examples/policy.yaml'), '--identities', `file:${join(root, 'examples/identities.json')}`,
      '--log-level', 'info', '--shutdown-delay', '0s'],
    { ...process.env, AZURE_TENANT_ID: TENANT },
    openSync(logFile, 'w'),
  );
  for (let i = 0; i < 400; i++) {
    const line = readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line) return { port: (JSON.parse(line) as { webhookPort: number }).webhookPort, pid: child.pid ?? 0, stop: () => child.kill('SIGTERM') };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server did not start: ${readFileSync(logFile, 'utf8')}`);
}

async function startFloor(responseFile: string, parse: boolean): Promise<Server> {
  const child = pinned(0, [join(root, 'bench/floor-server.mjs'), certDir, responseFile, parse ? 'yes' : 'no'], process.env);
  const line = await firstLine(child);
  return { port: (JSON.parse(line) as { port: number }).port, pid: child.pid ?? 0, stop: () => child.kill('SIGTERM') };
}

/** User + system CPU time of a process and all its threads so far, in µs (fields 14 and 15 of /proc/<pid>/stat). */
function cpuMicroseconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND) * 1e6;
}

async function load(mode: 'open' | 'saturate', server: Server, path: string, bodyFile: string, amount: number, seconds = SECONDS): Promise<Record<string, unknown>> {
  const child = pinned(1, [join(root, 'bench/load-worker.mjs'), mode, String(server.port), path, bodyFile, String(amount), String(seconds)], { ...process.env, NODE_EXTRA_CA_CERTS: join(certDir, 'ca.crt') });
  const cpuBefore = cpuMicroseconds(server.pid);
  const result = JSON.parse(await firstLine(child)) as Record<string, unknown>;
  const cpu = cpuMicroseconds(server.pid) - cpuBefore;
  return { ...result, serverCpuMicrosecondsPerRequest: Math.round(cpu / Number(result.requests)) };
}

function post(port: number, path: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', ca: readFileSync(join(certDir, 'ca.crt')), servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  await writeDevCertificates(certDir, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  copyFileSync(join(certDir, 'ca.crt'), join(dir, 'ca.pem'));
  const bodies = writeBodies();
  const ours = await startOurs();
  const responses: Record<string, string> = {};
  for (const [name, path] of [['pod', '/mutate-v1-pod'], ['deployment', '/validate'], ['serviceAccount', '/validate']] as const) {
    responses[name] = join(dir, `${name}.response.json`);
    writeFileSync(responses[name], await post(ours.port, path, readFileSync(bodies[name] ?? '', 'utf8')));
  }
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { ...machine(), pinning: 'server and floors on core 0, load generator on core 1' },
    bodyBytes: Object.fromEntries(Object.entries(bodies).map(([k, f]) => [k, readFileSync(f).length])),
    responseBytes: Object.fromEntries(Object.entries(responses).map(([k, f]) => [k, readFileSync(f).length])),
    secondsPerRun: SECONDS,
    warmUpSeconds: WARMUP_SECONDS,
  };
  const warmUp = async (server: Server, path: string, body: string): Promise<void> => {
    if (WARMUP_SECONDS > 0) await load('saturate', server, path, body, CONNECTIONS, WARMUP_SECONDS);
  };
  const runs = async (server: Server, path: string, body: string): Promise<Record<string, Record<string, unknown>>> => {
    await warmUp(server, path, body);
    return {
      saturation: await load('saturate', server, path, body, CONNECTIONS),
      ...(QUICK ? {} : { open1000: await load('open', server, path, body, 1000), open5000: await load('open', server, path, body, 5000) }),
    };
  };
  const mutate = await runs(ours, '/mutate-v1-pod', bodies.pod ?? '');
  if (!QUICK) await warmUp(ours, '/validate', bodies.deployment ?? '');
  const validate = QUICK
    ? undefined
    : {
        deploymentSaturation: await load('saturate', ours, '/validate', bodies.deployment ?? '', CONNECTIONS),
        serviceAccountSaturation: await load('saturate', ours, '/validate', bodies.serviceAccount ?? '', CONNECTIONS),
        deploymentOpen1000: await load('open', ours, '/validate', bodies.deployment ?? '', 1000),
      };
  ours.stop();
  const floor = await startFloor(responses.pod ?? '', true);
  const floorParse = await runs(floor, '/', bodies.pod ?? '');
  floor.stop();
  const bare = await startFloor(responses.pod ?? '', false);
  await warmUp(bare, '/', bodies.pod ?? '');
  const floorNoParse = { saturation: await load('saturate', bare, '/', bodies.pod ?? '', CONNECTIONS) };
  bare.stop();
  const rps = (r: Record<string, unknown> | undefined): number => Number(r?.throughputPerSecond);
  const cpu = (r: Record<string, unknown> | undefined): number => Number(r?.serverCpuMicrosecondsPerRequest);
  Object.assign(result, {
    mutate,
    validate,
    floorParse,
    floorNoParse,
    ratios: {
      mutateVsParsingFloor: +(rps(mutate.saturation) / rps(floorParse.saturation)).toFixed(3),
      mutateVsBareFloor: +(rps(mutate.saturation) / rps(floorNoParse.saturation)).toFixed(3),
      // The same ratio from CPU time per request, steadier on a shared machine.
      mutateVsParsingFloorByCpu: +(cpu(floorParse.saturation) / cpu(mutate.saturation)).toFixed(3),
    },
  });
  if (QUICK) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  writeResult('throughput', result);
}

await main();
