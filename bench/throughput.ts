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
 * Figures only: nothing is asserted. Results: bench/results/throughput.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDevCertificates } from '../src/certs/issue.js';

const root = new URL('..', import.meta.url).pathname;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const dir = mkdtempSync(join(tmpdir(), 'wi-throughput-'));
const certDir = join(dir, 'certs');

/** A realistic opted-in pod: 2 init containers, 3 containers, probes, resources, env (~8 KB). */
function realisticPod(): Record<string, unknown> {
  const container = (name: string, i: number) => ({
    name,
    image: `contoso.azurecr.io/shop/${name}:1.${i}.0`,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/app'],
    args: ['--port=8080', '--log-format=json', `--component=${name}`],
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }],
    env: [
      ...Array.from({ length: 12 }, (_, k) => ({ name: `SHOP_SETTING_${k}`, value: `value-${name}-${k}-${'x'.repeat(12)}` })),
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    ],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    livenessProbe: { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' }, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1 },
    readinessProbe: { httpGet: { path: '/readyz', port: 8080, scheme: 'HTTP' }, periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1 },
    volumeMounts: [{ name: 'config', mountPath: '/etc/shop', readOnly: true }, { name: 'kube-api-access-abcde', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'checkout-api-7c9d8f5b4-',
      namespace: 'checkout-prod',
      labels: { app: 'checkout-api', 'pod-template-hash': '7c9d8f5b4', 'azure.workload.identity/use': 'true', 'app.kubernetes.io/part-of': 'shop' },
      annotations: { 'prometheus.io/scrape': 'true', 'kubectl.kubernetes.io/restartedAt': '2026-11-01T10:00:00Z' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'checkout-api-7c9d8f5b4', uid: '5a1b2c3d-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      serviceAccountName: 'checkout-api',
      initContainers: [container('migrate', 1), container('warmup', 2)],
      containers: [container('api', 3), container('worker', 4), container('proxy', 5)],
      volumes: [{ name: 'config', configMap: { name: 'shop-config', defaultMode: 420 } }, { name: 'kube-api-access-abcde', projected: { defaultMode: 420, sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] } }],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    },
  };
}

function review(uid: string, kind: string, object: unknown): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: kind === 'Deployment' ? 'apps' : '', version: 'v1', kind }, resource: { group: '', version: 'v1', resource: `${kind.toLowerCase()}s` }, namespace: 'checkout-prod', operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' }, object, oldObject: null, dryRun: false },
  });
}

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

async function startOurs(): Promise<{ port: number; stop: () => void }> {
  const logFile = join(dir, 'server.log');
  const child = pinned(
    0,
    [join(root, 'dist/src/main.js'), 'serve', '--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--webhook-cert-dir', certDir,
      '--objects', join(root, 'examples/objects.yaml'), '--policy', join(root, 'examples/policy.yaml'), '--identities', `file:${join(root, 'examples/identities.json')}`,
      '--log-level', 'info', '--shutdown-delay', '0s'],
    { ...process.env, AZURE_TENANT_ID: TENANT },
    openSync(logFile, 'w'),
  );
  for (let i = 0; i < 400; i++) {
    const line = readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line) return { port: (JSON.parse(line) as { webhookPort: number }).webhookPort, stop: () => child.kill('SIGTERM') };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server did not start: ${readFileSync(logFile, 'utf8')}`);
}

async function startFloor(responseFile: string, parse: boolean): Promise<{ port: number; stop: () => void }> {
  const child = pinned(0, [join(root, 'bench/floor-server.mjs'), certDir, responseFile, parse ? 'yes' : 'no'], process.env);
  const line = await firstLine(child);
  return { port: (JSON.parse(line) as { port: number }).port, stop: () => child.kill('SIGTERM') };
}

async function load(mode: 'open' | 'saturate', port: number, path: string, bodyFile: string, amount: number): Promise<Record<string, unknown>> {
  const child = pinned(1, [join(root, 'bench/load-worker.mjs'), mode, String(port), path, bodyFile, String(amount), String(SECONDS)], { ...process.env, NODE_EXTRA_CA_CERTS: join(certDir, 'ca.crt') });
  return JSON.parse(await firstLine(child)) as Record<string, unknown>;
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
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, pinning: 'server and floors on core 0, load generator on core 1' },
    bodyBytes: Object.fromEntries(Object.entries(bodies).map(([k, f]) => [k, readFileSync(f).length])),
    responseBytes: Object.fromEntries(Object.entries(responses).map(([k, f]) => [k, readFileSync(f).length])),
    secondsPerRun: SECONDS,
  };
  const mutate = {
    saturation: await load('saturate', ours.port, '/mutate-v1-pod', bodies.pod ?? '', CONNECTIONS),
    open1000: await load('open', ours.port, '/mutate-v1-pod', bodies.pod ?? '', 1000),
    open5000: await load('open', ours.port, '/mutate-v1-pod', bodies.pod ?? '', 5000),
  };
  const validate = {
    deploymentSaturation: await load('saturate', ours.port, '/validate', bodies.deployment ?? '', CONNECTIONS),
    serviceAccountSaturation: await load('saturate', ours.port, '/validate', bodies.serviceAccount ?? '', CONNECTIONS),
    deploymentOpen1000: await load('open', ours.port, '/validate', bodies.deployment ?? '', 1000),
  };
  ours.stop();
  const floor = await startFloor(responses.pod ?? '', true);
  const floorParse = {
    saturation: await load('saturate', floor.port, '/', bodies.pod ?? '', CONNECTIONS),
    open1000: await load('open', floor.port, '/', bodies.pod ?? '', 1000),
    open5000: await load('open', floor.port, '/', bodies.pod ?? '', 5000),
  };
  floor.stop();
  const bare = await startFloor(responses.pod ?? '', false);
  const floorNoParse = { saturation: await load('saturate', bare.port, '/', bodies.pod ?? '', CONNECTIONS) };
  bare.stop();
  const rps = (r: Record<string, unknown>): number => Number(r.throughputPerSecond);
  Object.assign(result, {
    mutate,
    validate,
    floorParse,
    floorNoParse,
    ratios: {
      mutateVsParsingFloor: +(rps(mutate.saturation) / rps(floorParse.saturation)).toFixed(3),
      mutateVsBareFloor: +(rps(mutate.saturation) / rps(floorNoParse.saturation)).toFixed(3),
    },
  });
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', 'throughput.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
}

await main();
