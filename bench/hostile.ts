/**
 * `npm run bench:hostile`: what each hostile request costs the real server.
 *
 * Anyone who may create a pod can send the mutating webhook any pod spec up
 * to the API server's 3 MiB limit, and any pod in the cluster can reach the
 * webhook's port. Each attack below runs against a fresh server from dist/
 * (so the peak RSS is that attack's), pinned to core 0, serving examples/
 * with `--tls-min-version 1.2` (the most permissive setting). Per attack:
 *
 * - the server's event-loop delay while it runs (perf_hooks
 *   monitorEventLoopDelay, loaded into the server by bench/event-loop-probe.mjs);
 * - how long an ordinary mutation and a /healthz sent meanwhile (one after
 *   the other, every 20 ms) waited at most;
 * - the server's peak RSS (its high-water mark since start);
 * - the HTTP status, the answer's size and decision, and the longest log
 *   line the server wrote.
 *
 * It prints a Markdown table; the whole result goes to bench/results/.
 *
 * BENCH_HOSTILE_ONLY=<regex> runs the matching attacks only;
 * BENCH_HOSTILE_RESULT=<file> names the result file in bench/results/
 * (default hostile.json); BENCH_HOSTILE_SERVER=<main.js> runs another
 * build (e.g. of an earlier commit, for a before/after table). Figures
 * only: nothing is asserted.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Agent, request } from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { writeDevCertificates } from '../src/certs/issue.js';
import { realisticPod, review } from './bodies.js';

const root = new URL('..', import.meta.url).pathname;
const ONLY = process.env.BENCH_HOSTILE_ONLY ? new RegExp(process.env.BENCH_HOSTILE_ONLY) : undefined;
const RESULT_FILE = process.env.BENCH_HOSTILE_RESULT ?? 'hostile.json';
const SERVER_MAIN = process.env.BENCH_HOSTILE_SERVER ?? join(root, 'dist/src/main.js');
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const MiB = 1024 * 1024;
/** Kubernetes' own request limit, and the server's body limit. */
const BODY_LIMIT = 3 * MiB;
const dir = mkdtempSync(join(tmpdir(), 'wi-hostile-'));
const certDir = join(dir, 'certs');
let ca = '';

// --- the server under attack -----------------------------------------------------

interface Server {
  readonly child: ChildProcess;
  readonly webhookPort: number;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly logFile: string;
  exited: string | undefined;
}

let serverCount = 0;

async function startServer(certs = certDir): Promise<Server> {
  const logFile = join(dir, `server-${++serverCount}.log`);
  const out = openSync(logFile, 'w');
  const child = spawn(
    'taskset',
    ['-c', '0', process.execPath, '--import', new URL('./event-loop-probe.mjs', import.meta.url).href, SERVER_MAIN, 'serve',
      '--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--webhook-cert-dir', certs,
      '--objects', join(root, 'examples/objects.yaml'), '--policy', join(root, 'examples/policy.yaml'), '--identities', `file:${join(root, 'examples/identities.json')}`,
      '--tls-min-version', '1.2', '--log-level', 'info', '--shutdown-delay', '0s'],
    { env: { ...process.env, AZURE_TENANT_ID: TENANT }, stdio: ['ignore', out, out, 'ipc'] },
  );
  closeSync(out);
  const server: Server = { child, webhookPort: 0, healthPort: 0, metricsPort: 0, logFile, exited: undefined };
  child.on('exit', (code, signal) => (server.exited = signal ?? `exit ${code}`));
  for (let i = 0; i < 600 && !server.exited; i++) {
    const line = readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line) {
      const { webhookPort, healthPort, metricsPort } = JSON.parse(line) as { webhookPort: number; healthPort: number; metricsPort: number };
      return Object.assign(server, { webhookPort, healthPort, metricsPort });
    }
    await sleep(50);
  }
  throw new Error(`server did not start: ${readFileSync(logFile, 'utf8')}`);
}

function stopServer(server: Server): void {
  if (!server.exited) server.child.kill('SIGKILL');
}

function ask(server: Server, message: 'reset' | 'read'): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    if (server.exited || !server.child.connected) {
      resolve({});
      return;
    }
    server.child.once('message', (m) => resolve(m as Record<string, number>));
    server.child.send(message);
  });
}

function residentKiB(server: Server, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${server.child.pid}/status`, 'utf8');
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** The longest line the server logged from byte `from` on. */
function longestLogLine(server: Server, from: number): number {
  const text = readFileSync(server.logFile).subarray(from).toString('utf8');
  return Math.max(0, ...text.split('\n').map((l) => Buffer.byteLength(l)));
}

// --- clients ----------------------------------------------------------------------

interface Answer {
  readonly status: number | string;
  readonly bytes: number;
  readonly ms: number;
  /** The first and the last 64 KiB of the answer (a huge uid fills the first). */
  readonly head: string;
  readonly tail: string;
}

function post(port: number, path: string, body: string, agent?: Agent, timeoutMs = 300_000): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', ca, servername: 'localhost', agent: agent ?? false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let bytes = 0;
        let head = '';
        let tail = '';
        res.on('data', (d: Buffer) => {
          bytes += d.length;
          if (head.length < 65_536) head += d.toString('utf8');
          tail = (tail + d.toString('utf8')).slice(-65_536);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: performance.now() - started, head, tail }));
        res.on('error', (err) => resolve({ status: `error: ${err.message}`, bytes, ms: performance.now() - started, head, tail }));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ status: `error: ${err.message}`, bytes: 0, ms: performance.now() - started, head: '', tail: '' }));
    req.end(body);
  });
}

function getHealthz(port: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz' }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - started));
    });
    req.setTimeout(300_000, () => req.destroy());
    req.on('error', () => resolve(performance.now() - started));
    req.end();
  });
}

/** A counter from /metrics, or 'n/a' when the server has no such metric. */
function readMetric(port: number, name: string): Promise<string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 'n/a'));
    });
    req.on('error', () => resolve('n/a'));
    req.end();
  });
}

/** What the answer says, in a few words: `patched`, `denied 400 [Reason]`, `HTTP 400 WIA_ERR_…`. */
function describe(answer: Answer): string {
  const text = answer.bytes <= 131_072 ? answer.head : `${answer.head}…${answer.tail}`;
  if (answer.status !== 200) {
    const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? '';
    return `HTTP ${answer.status}${code ? ` ${code}` : ''}`;
  }
  // The uid comes first and may fill the head: the rest of the response is in the tail.
  const allowed = /"allowed":(true|false)/.exec(text)?.[1];
  if (allowed === 'true') return /"patch":"/.test(text) ? 'patched' : 'allowed';
  const code = /"code":(\d+)/.exec(text)?.[1] ?? '?';
  // The reason ends the message: `… [Reason]"`.
  const reason = /\[([A-Za-z]+)\]"/.exec(text)?.[1];
  return `denied ${code}${reason ? ` [${reason}]` : ''}`;
}

// --- request bodies ---------------------------------------------------------------

const ordinaryBody = review('0d6f2c1e-0000-4000-8000-0000000000aa', 'Pod', realisticPod());

/** An AdmissionReview around a raw JSON pod text (built as text: the big ones would be slow as objects). */
function podReview(podJson: string, options: { uid?: string; namespace?: string; kind?: string } = {}): string {
  const uid = JSON.stringify(options.uid ?? '0d6f2c1e-0000-4000-8000-000000000001');
  const namespace = JSON.stringify(options.namespace ?? 'checkout-prod');
  const kind = JSON.stringify(options.kind ?? 'Pod');
  return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":${uid},"kind":{"group":"","version":"v1","kind":${kind}},` +
    `"resource":{"group":"","version":"v1","resource":"pods"},"namespace":${namespace},"operation":"CREATE","object":${podJson}}}`;
}

function optedInPod(spec: string, annotations = '{}'): string {
  return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"attack","namespace":"checkout-prod","labels":{"azure.workload.identity/use":"true"},"annotations":${annotations}},` +
    `"spec":{"serviceAccountName":"checkout-api",${spec}}}`;
}

function emptyNamedContainers(count: number): string {
  return optedInPod(`"containers":[${Array.from({ length: count }, () => '{"name":""}').join(',')}]`);
}

/** Containers s0…, and a skip-containers annotation naming all of them plus three times as many unknown names. */
function skipContainersPod(containers: number): string {
  const names = Array.from({ length: containers }, (_, i) => `s${i}`);
  const unknown = Array.from({ length: containers * 3 }, (_, i) => `u${i}`);
  const annotations = JSON.stringify({ 'azure.workload.identity/skip-containers': [...names, ...unknown].join(';') });
  return optedInPod(`"containers":[${names.map((n) => `{"name":"${n}"}`).join(',')}]`, annotations);
}

/** The largest `make(n)` under the body limit. */
function largest(make: (n: number) => string, limit = BODY_LIMIT - 1024): string {
  let low = 1;
  let high = 1;
  while (make(high).length < limit) high *= 2;
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (make(mid).length < limit) low = mid;
    else high = mid;
  }
  return make(low);
}

/** The largest pod within every limit: 250 containers with as many env entries as fit in 3 MiB. */
function largestMutablePod(envPerContainer: number): string {
  const env = Array.from({ length: envPerContainer }, (_, i) => `{"name":"SETTING_${i}","value":"v"}`).join(',');
  return optedInPod(`"containers":[${Array.from({ length: 250 }, (_, i) => `{"name":"c${i}","image":"app:1","env":[${env}]}`).join(',')}]`);
}

/** An opted-in pod carrying 3 MiB of empty objects in a field the webhook never reads: the most objects JSON.parse makes. */
function parseHeavyPod(count: number): string {
  return optedInPod(`"containers":[{"name":"app"}],"futureField":[${Array.from({ length: count }, () => '{}').join(',')}]`);
}

function four(body: string): string[] {
  return [body, body, body, body];
}

function validateReview(kind: string, object: string): string {
  return podReview(object, { kind });
}

// --- attacks ----------------------------------------------------------------------

interface Result {
  readonly attack: string;
  readonly [key: string]: unknown;
}

/** Sends `bodies` at once to a fresh server while ordinary requests probe it. */
async function requestAttack(attack: string, path: string, bodies: readonly string[]): Promise<Result> {
  const server = await startServer();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  await post(server.webhookPort, '/mutate-v1-pod', ordinaryBody, agent);
  const baselineRssMiB = residentKiB(server, 'VmRSS') / 1024;
  const logFrom = statSync(server.logFile).size;
  await ask(server, 'reset');
  let running = true;
  const probe = async (send: () => Promise<number>): Promise<number> => {
    let max = 0;
    while (running) {
      max = Math.max(max, await send());
      await sleep(20);
    }
    return max;
  };
  const probes = Promise.all([
    probe(async () => (await post(server.webhookPort, '/mutate-v1-pod', ordinaryBody, agent)).ms),
    probe(() => getHealthz(server.healthPort)),
  ]);
  const answers = await Promise.all(bodies.map((body) => post(server.webhookPort, path, body)));
  running = false;
  const [ordinaryMaxMs, healthzMaxMs] = await probes;
  const delay = await ask(server, 'read');
  const peakKiB = delay.maxRssKiB ?? residentKiB(server, 'VmHWM');
  agent.destroy();
  const result: Result = {
    attack,
    path,
    concurrent: bodies.length,
    bodyMiB: round(Buffer.byteLength(bodies[0] ?? '') / MiB, 2),
    status: [...new Set(answers.map((a) => a.status))].join(', '),
    answer: [...new Set(answers.map(describe))].join(', '),
    answerBytes: Math.max(...answers.map((a) => a.bytes)),
    attackMs: Math.round(Math.max(...answers.map((a) => a.ms))),
    eventLoopDelayMaxMs: delay.maxMs,
    ordinaryRequestMaxMs: Math.round(ordinaryMaxMs),
    healthzMaxMs: Math.round(healthzMaxMs),
    baselineRssMiB: Math.round(baselineRssMiB),
    peakRssMiB: Math.round(peakKiB / 1024),
    longestLogLineBytes: longestLogLine(server, logFrom),
    ...(server.exited ? { serverExited: server.exited } : {}),
  };
  stopServer(server);
  return result;
}

/** A raw TLS connection that sends `text` and waits for the server to answer or close. */
function stall(port: number, text: string): Promise<{ seconds: number; answer: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    let received = '';
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => socket.write(text));
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    const done = (): void => resolve({ seconds: round((performance.now() - started) / 1000, 1), answer: received.split('\r\n')[0] || 'closed without an answer' });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.setTimeout(200_000, () => socket.destroy());
  });
}

async function stalledTransport(): Promise<Result[]> {
  const server = await startServer();
  const head = 'POST /mutate-v1-pod HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n';
  const [body, headers] = await Promise.all([
    stall(server.webhookPort, `${head}Content-Length: 1000\r\n\r\n{"apiVersi`),
    stall(server.webhookPort, head),
  ]);
  const ordinary = await post(server.webhookPort, '/mutate-v1-pod', ordinaryBody);
  stopServer(server);
  return [
    { attack: 'stalled body (Content-Length 1000, 10 bytes sent)', closedAfterSeconds: body.seconds, answer: body.answer, ordinaryRequestStatus: ordinary.status },
    { attack: 'stalled headers (request line and 2 headers, never finished)', closedAfterSeconds: headers.seconds, answer: headers.answer },
  ];
}

async function idleConnectionFlood(count: number): Promise<Result> {
  const server = await startServer();
  // Like the API server's: a keep-alive connection opened before the flood.
  const kept = new Agent({ keepAlive: true, maxSockets: 1 });
  await post(server.webhookPort, '/mutate-v1-pod', ordinaryBody, kept);
  const rssBefore = residentKiB(server, 'VmRSS');
  const sockets: TLSSocket[] = [];
  let refused = 0;
  const open = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: server.webhookPort, ca, servername: 'localhost' }, () => {
        sockets.push(socket);
        resolve();
      });
      // Read whatever the server sends, or its close would go unnoticed.
      socket.resume();
      socket.on('error', () => {
        refused++;
        resolve();
      });
      socket.on('close', () => resolve());
    });
  for (let i = 0; i < count; i += 50) await Promise.all(Array.from({ length: Math.min(50, count - i) }, open));
  await sleep(500);
  const openNow = (): number => sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
  const held = openNow();
  const rssAfter = residentKiB(server, 'VmRSS');
  const onKept = await post(server.webhookPort, '/mutate-v1-pod', ordinaryBody, kept, 10_000);
  const onNew = await post(server.webhookPort, '/mutate-v1-pod', ordinaryBody, undefined, 10_000);
  await sleep(15_000);
  const heldAfter15s = openNow();
  const onNewAfter15s = await post(server.webhookPort, '/mutate-v1-pod', ordinaryBody, undefined, 10_000);
  const refusedMetric = await readMetric(server.metricsPort, 'wi_admission_connections_refused_total');
  for (const s of sockets) s.destroy();
  kept.destroy();
  stopServer(server);
  return {
    attack: `idle TLS connection flood (${count} connections, nothing sent)`,
    opened: sockets.length,
    refusedOrReset: refused,
    stillOpenAfterHalfSecond: held,
    stillOpenAfter15s: heldAfter15s,
    rssGrowthMiB: Math.round((rssAfter - rssBefore) / 1024),
    ordinaryOnKeptConnection: `${describe(onKept)} in ${Math.round(onKept.ms)} ms`,
    ordinaryOnNewConnection: `${describe(onNew)} in ${Math.round(onNew.ms)} ms`,
    ordinaryOnNewConnectionAfter15s: `${describe(onNewAfter15s)} in ${Math.round(onNewAfter15s.ms)} ms`,
    refusedMetric,
  };
}

/**
 * With an RSA serving key, as cert-manager issues by default (the dev
 * certificates are ECDSA, which no non-forward-secret suite can use).
 */
async function weakCiphers(): Promise<Result> {
  const rsaDir = join(dir, 'rsa-certs');
  mkdirSync(rsaDir, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(rsaDir, 'tls.key'), '-out', join(rsaDir, 'tls.crt'), '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  const rsaCa = readFileSync(join(rsaDir, 'tls.crt'), 'utf8');
  const server = await startServer(rsaDir);
  // No forward secrecy (RSA key exchange), or no AEAD (CBC with SHA-1/SHA-2 MACs).
  const offered = ['AES128-SHA', 'AES256-SHA', 'AES128-SHA256', 'AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA', 'ECDHE-RSA-AES128-SHA256'];
  const accepted: string[] = [];
  for (const cipher of offered) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: server.webhookPort, ca: rsaCa, servername: 'localhost', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: cipher }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) accepted.push(cipher);
  }
  const modern = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: server.webhookPort, ca: rsaCa, servername: 'localhost', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }, () => {
      resolve(socket.getCipher().standardName);
      socket.destroy();
    });
    socket.on('error', (err) => resolve(`refused: ${err.message}`));
  });
  stopServer(server);
  return { attack: 'weak TLS 1.2 cipher offers (one suite per handshake)', offered: offered.join(' '), accepted: accepted.join(' ') || 'none', defaultClientGets: modern };
}

// --- run --------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function round(x: number, digits: number): number {
  return Math.round(x * 10 ** digits) / 10 ** digits;
}

async function main(): Promise<void> {
  // Other work on the machine inflates every delay: recorded with the figures.
  const loadAverage = loadavg().map((l) => +l.toFixed(1));
  await writeDevCertificates(certDir, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  ca = readFileSync(join(certDir, 'ca.crt'), 'utf8');
  const numericEnv = optedInPod(`"containers":[{"name":"app","env":[${Array.from({ length: 150_000 }, (_, i) => `{"name":${i}}`).join(',')}]}]`);
  const hostileName = '{"toString":1,"valueOf":1}';
  const clientSecretPod = optedInPod(`"containers":[{"name":${hostileName},"env":[{"name":"AZURE_CLIENT_SECRET","value":"s"}]}]`);
  const attacks: [string, () => Promise<Result | Result[]>][] = [
    ['ordinary pod (for reference)', () => requestAttack('ordinary pod (for reference)', '/mutate-v1-pod', [ordinaryBody])],
    ['skip-containers quadratic, 25,000 containers + 100,000 names', () => requestAttack('skip-containers quadratic, 25,000 containers + 100,000 names', '/mutate-v1-pod', [podReview(skipContainersPod(25_000))])],
    ['skip-containers quadratic, largest under 3 MiB', () => requestAttack('skip-containers quadratic, largest under 3 MiB', '/mutate-v1-pod', [podReview(largest((n) => skipContainersPod(n)))])],
    ['amplification, 40,000 containers {"name":""}', () => requestAttack('amplification, 40,000 containers {"name":""}', '/mutate-v1-pod', [podReview(emptyNamedContainers(40_000))])],
    ['amplification, 1 MiB of containers {"name":""}', () => requestAttack('amplification, 1 MiB of containers {"name":""}', '/mutate-v1-pod', [podReview(largest(emptyNamedContainers, MiB))])],
    ['amplification, 3 MiB of containers {"name":""}', () => requestAttack('amplification, 3 MiB of containers {"name":""}', '/mutate-v1-pod', [podReview(largest(emptyNamedContainers))])],
    ['amplification, 4 concurrent × 3 MiB', () => requestAttack('amplification, 4 concurrent × 3 MiB', '/mutate-v1-pod', four(podReview(largest(emptyNamedContainers))))],
    ['largest pod within the limits (250 containers, env filling 3 MiB)', () => requestAttack('largest pod within the limits (250 containers, env filling 3 MiB)', '/mutate-v1-pod', [podReview(largest(largestMutablePod))])],
    ['largest pod within the limits, 4 concurrent', () => requestAttack('largest pod within the limits, 4 concurrent', '/mutate-v1-pod', four(podReview(largest(largestMutablePod))))],
    ['3 MiB of empty objects in an unread field, 4 concurrent', () => requestAttack('3 MiB of empty objects in an unread field, 4 concurrent', '/mutate-v1-pod', four(podReview(largest(parseHeavyPod))))],
    ...['constructor', 'toString', '__proto__', 'hasOwnProperty'].map((kind): [string, () => Promise<Result>] => [
      `/validate request.kind.kind=${kind}`,
      () => requestAttack(`/validate request.kind.kind=${kind}`, '/validate', [validateReview(kind, '{"metadata":{"name":"x","namespace":"checkout-prod"},"spec":{}}')]),
    ]),
    ['/validate container name {toString:1,valueOf:1} with AZURE_CLIENT_SECRET', () => requestAttack('/validate container name {toString:1,valueOf:1} with AZURE_CLIENT_SECRET', '/validate', [validateReview('Pod', clientSecretPod)])],
    ['/mutate 150,000 env entries with numeric names', () => requestAttack('/mutate 150,000 env entries with numeric names', '/mutate-v1-pod', [podReview(numericEnv)])],
    ['/validate 150,000 env entries with numeric names', () => requestAttack('/validate 150,000 env entries with numeric names', '/validate', [validateReview('Pod', numericEnv)])],
    ['uid of 2.9 MiB', () => requestAttack('uid of 2.9 MiB', '/mutate-v1-pod', [podReview(optedInPod('"containers":[{"name":"app"}]'), { uid: 'u'.repeat(Math.round(2.9 * MiB)) })])],
    ['namespace of 2 MB', () => requestAttack('namespace of 2 MB', '/mutate-v1-pod', [podReview(optedInPod('"containers":[{"name":"app"}]'), { namespace: 'n'.repeat(2_000_000) })])],
    ['stalled body and headers', stalledTransport],
    ['idle connection flood', () => idleConnectionFlood(2000)],
    ['weak ciphers', weakCiphers],
  ];
  const results: Result[] = [];
  for (const [name, run] of attacks) {
    if (ONLY && !ONLY.test(name)) continue;
    process.stderr.write(`${name} …\n`);
    const outcome = await run();
    for (const r of Array.isArray(outcome) ? outcome : [outcome]) {
      results.push(r);
      process.stderr.write(`  ${JSON.stringify(r)}\n`);
    }
  }
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, pinning: 'server on core 0', loadAverageAtStart: loadAverage, loadAverageAtEnd: loadavg().map((l) => +l.toFixed(1)) },
    results,
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', RESULT_FILE), `${JSON.stringify(result, null, 2)}\n`);
  console.log(markdownTable(results));
}

/** The request attacks as a table; the transport ones as their own lines. */
function markdownTable(results: readonly Result[]): string {
  const lines = [
    '| attack | body | HTTP | answer | answer bytes | event-loop delay max | ordinary request waited | /healthz waited | peak RSS | longest log line |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    if (r.path === undefined) {
      const { attack, ...rest } = r;
      lines.push(`| ${attack} | ${Object.entries(rest).map(([k, v]) => `${k}: ${String(v)}`).join('; ')} |`);
      continue;
    }
    const times = r.concurrent === 1 ? '' : ` ×${String(r.concurrent)}`;
    lines.push(
      `| ${r.attack} | ${String(r.bodyMiB)} MiB${times} | ${String(r.status)} | ${String(r.answer)} | ${String(r.answerBytes)} | ${String(r.eventLoopDelayMaxMs)} ms | ` +
        `${String(r.ordinaryRequestMaxMs)} ms | ${String(r.healthzMaxMs)} ms | ${String(r.peakRssMiB)} MiB${r.serverExited ? ` (server ${String(r.serverExited)})` : ''} | ${String(r.longestLogLineBytes)} B |`,
    );
  }
  return lines.join('\n');
}

await main();
