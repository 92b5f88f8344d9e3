// SIGTERM under load, on the real executable: readiness goes false first, the
// listener keeps accepting and answering through --shutdown-delay, and only
// then are new connections refused. Every request whose connection the server
// accepted gets a 200 with a well-formed AdmissionReview. An admission held
// in flight at the stand-in API server keeps the drain open while the test
// looks, so the order of events is observed, not raced.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import t from 'tap';
import { writeDevCertificates } from '../../src/certs/issue.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { eventually, GENEROUS_WAIT_MS, getText } from '../helpers/https-client.js';
import { labelledPod, podReview } from '../helpers/reviews.js';
import { assertNoSecrets, clientIdAnnotation, isWellFormedAnswer, KUBE_TOKEN, TENANT_ID } from './support.js';

const main = new URL('../../src/main.ts', import.meta.url).pathname;
const CLIENT_ID = '5b1e6f0a-3c2d-4e5f-8a9b-0c1d2e3f4a5b';

interface Attempt {
  uid: string;
  /** performance.now() when the request was started and when it ended (answer or error). */
  started: number;
  ended: number;
  /** The server accepted the connection: the TLS handshake completed (or a kept-alive connection was reused). */
  accepted: boolean;
  status?: number;
  connectionHeader?: string;
  json?: unknown;
  error?: string;
}

/** One admission request that records whether the server ever accepted its connection. */
function attempt(port: number, ca: string, agent: Agent, uid: string, serviceAccount = 'workload'): Promise<Attempt> {
  const body = JSON.stringify(podReview(labelledPod(`pod-${uid}`, serviceAccount), { uid }));
  const started = performance.now();
  return new Promise((resolve) => {
    let accepted = false;
    const req = request(
      { host: '127.0.0.1', port, servername: 'localhost', path: '/mutate-v1-pod', method: 'POST', ca, agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ uid, started, ended: performance.now(), accepted: true, status: res.statusCode ?? 0, connectionHeader: String(res.headers.connection ?? ''), json });
        });
        res.on('error', (err) => resolve({ uid, started, ended: performance.now(), accepted: true, error: err.message }));
      },
    );
    req.on('socket', (socket) => {
      if (req.reusedSocket) accepted = true;
      else socket.once('secureConnect', () => (accepted = true));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ uid, started, ended: performance.now(), accepted, error: err.code ?? err.message }));
    req.end(body);
  });
}

void t.test('SIGTERM under load: readiness false before any refusal, every accepted request answered well-formed, exit 0', async (t) => {
  const dir = t.testdir({});
  await writeDevCertificates(join(dir, 'certs'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const ca = readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8');
  const serverKey = readFileSync(join(dir, 'certs', 'tls.key'), 'utf8');
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.stop());
  api.putServiceAccount('default', 'workload', clientIdAnnotation(CLIENT_ID));
  // One admission whose live GET the API server holds (a ServiceAccount the cache has not seen):
  // it keeps the drain open (the admission listener waits for it, the probe listener waits for
  // that) until the test has seen every phase.
  const releaseHeld = api.holdServiceAccountGets('held');
  t.teardown(releaseHeld);

  // The shutdown delay is the window in which new connections are still accepted during the drain;
  // what must happen in it (a probe and a few requests) takes milliseconds, so 10 s is generous.
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', main, 'serve', '--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0',
      '--webhook-cert-dir', join(dir, 'certs'), '--kubeconfig', api.writeKubeconfig(dir), '--shutdown-delay', '10s', '--sa-lookup-timeout', '120s', '--log-level', 'info'],
    { env: { ...process.env, AZURE_TENANT_ID: TENANT_ID }, stdio: ['ignore', 'pipe', 'pipe'] },
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

  // Load: fresh connections (each a new TLS handshake) and kept-alive ones, from before SIGTERM
  // into the drain; it stops before the delay ends (a listener closing under a connection that
  // is accepted but idle resets it, which is how TCP servers close).
  const fresh = new Agent({ keepAlive: false, maxSockets: Infinity });
  const kept = new Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => {
    fresh.destroy();
    kept.destroy();
  });
  const attempts: Attempt[] = [];
  let n = 0;
  let loading = true;
  t.teardown(() => void (loading = false));
  const worker = async (agent: Agent, name: string): Promise<void> => {
    while (loading) {
      const a = await attempt(ports.webhookPort, ca, agent, `${name}-${n++}`);
      attempts.push(a);
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const load = Promise.all([worker(fresh, 'fresh-a'), worker(fresh, 'fresh-b'), worker(fresh, 'fresh-c'), worker(kept, 'kept-a'), worker(kept, 'kept-b')]);
  await eventually(() => attempts.filter((a) => a.status === 200).length >= 30, GENEROUS_WAIT_MS, 'load before SIGTERM');
  api.putServiceAccount('default', 'held', clientIdAnnotation(CLIENT_ID), { silent: true });
  const held = attempt(ports.webhookPort, ca, fresh, 'held', 'held');
  await eventually(() => api.calls.some((c) => c.verb === 'get' && c.name === 'held'), GENEROUS_WAIT_MS, 'the held admission in flight');

  const sigtermAt = performance.now();
  child.kill('SIGTERM');
  // Readiness as a kubelet sees it: the probes answer until the held admission is released.
  await eventually(async () => (await getText(ports.healthPort, '/readyz')).status === 503, GENEROUS_WAIT_MS, '/readyz 503 after SIGTERM');
  const notReadyAt = performance.now();
  // The drain: connections made from now on are still accepted and answered (within the delay).
  const drained = (prefix: string): boolean => attempts.some((a) => a.uid.startsWith(prefix) && a.started > notReadyAt && a.status === 200);
  await eventually(() => drained('fresh-') && drained('kept-'), GENEROUS_WAIT_MS, 'fresh and kept-alive requests answered during the drain');
  loading = false;
  await load;
  // Then the delay ends and the listener closes: new connections are refused, while readiness still says 503.
  let probe: Attempt | undefined;
  const prober = new Agent({ keepAlive: false });
  t.teardown(() => prober.destroy());
  await eventually(async () => {
    probe = await attempt(ports.webhookPort, ca, prober, `probe-${n++}`);
    return !probe.accepted;
  }, GENEROUS_WAIT_MS, 'the listener to close after the shutdown delay');
  const stillNotReady = await getText(ports.healthPort, '/readyz');
  releaseHeld();
  const heldAnswer = await held;
  const code = await exited;

  t.same(attempts.filter((a) => !a.accepted).map((a) => `${a.uid}: ${a.error}`), [], 'no connection was refused under load, before or during the drain');
  t.ok(probe && !probe.accepted, `a new connection was refused once the listener closed (${probe?.error})`);
  t.equal(stillNotReady.status, 503, '/readyz still answered 503 then (readiness went false before any refusal)');
  const accepted = [...attempts, heldAnswer];
  const acceptedFailures = accepted.filter((a) => a.status !== 200 || !isWellFormedAnswer(a.json, a.uid));
  t.same(acceptedFailures.map((a) => `${a.uid}: ${a.error ?? `HTTP ${a.status}`}`), [], `every one of the ${accepted.length} requests got a 200 with a well-formed AdmissionReview`);
  t.equal(heldAnswer.status, 200, 'the admission in flight from before SIGTERM to after the listener closed was answered');

  // After readiness went false the listener still took new connections and answered them, asking clients to go elsewhere.
  const duringDrain = attempts.filter((a) => a.started > notReadyAt && a.status === 200);
  t.ok(duringDrain.some((a) => a.uid.startsWith('fresh-')), `new connections made after readiness went false were answered (${duringDrain.length} requests)`);
  // Kept-alive clients (fresh ones ask for Connection: close themselves) are told to reconnect elsewhere.
  const keptDuringDrain = duringDrain.filter((a) => a.uid.startsWith('kept-'));
  t.ok(keptDuringDrain.length > 0 && keptDuringDrain.every((a) => a.connectionHeader === 'close'), `kept-alive answers during the drain carry Connection: close (${keptDuringDrain.length})`);
  const keptBefore = attempts.filter((a) => a.uid.startsWith('kept-') && a.ended < sigtermAt);
  t.ok(keptBefore.length > 0 && keptBefore.every((a) => a.connectionHeader === 'keep-alive'), 'kept-alive answers before SIGTERM keep the connection');

  t.equal(code, 0, 'exit code 0');
  t.match(output, /"signal":"SIGTERM"/);
  t.match(output, /"msg":"shut down"/);
  assertNoSecrets(t, output, { 'the kubeconfig token': KUBE_TOKEN, 'the serving private key': serverKey });
});
