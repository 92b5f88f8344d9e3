// SIGTERM under load, on the real executable: readiness goes false first, the
// listener keeps accepting and answering through --shutdown-delay, and only
// then are new connections refused. Every request whose connection the server
// accepted gets a 200 with a well-formed AdmissionReview.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import t from 'tap';
import { writeDevCertificates } from '../../src/certs/issue.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { eventually, getText } from '../helpers/https-client.js';
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
function attempt(port: number, ca: string, agent: Agent, uid: string): Promise<Attempt> {
  const body = JSON.stringify(podReview(labelledPod(`pod-${uid}`, 'workload'), { uid }));
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

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', main, 'serve', '--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0',
      '--webhook-cert-dir', join(dir, 'certs'), '--kubeconfig', api.writeKubeconfig(dir), '--shutdown-delay', '1500ms', '--log-level', 'info'],
    { env: { ...process.env, AZURE_TENANT_ID: TENANT_ID }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let exitedAt: number | undefined;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    exitedAt = performance.now();
    resolve(code);
  }));
  t.teardown(() => void child.kill('SIGKILL'));

  await eventually(() => /"msg":"listening"/.test(output), 30_000, 'server listening');
  const ports = JSON.parse(output.split('\n').find((l) => l.includes('"msg":"listening"')) ?? '{}') as { webhookPort: number; healthPort: number };
  await eventually(async () => (await getText(ports.healthPort, '/readyz')).status === 200, 15_000, 'ready');

  // Readiness as a kubelet would see it, polled until the process is gone.
  let notReadyAt: number | undefined;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const status = await getText(ports.healthPort, '/readyz').then((r) => r.status, () => 0);
      if (status === 503 && notReadyAt === undefined) notReadyAt = performance.now();
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  // Load: fresh connections (each a new TLS handshake) and kept-alive ones, until the process exits.
  const fresh = new Agent({ keepAlive: false, maxSockets: Infinity });
  const kept = new Agent({ keepAlive: true, maxSockets: 2 });
  t.teardown(() => {
    fresh.destroy();
    kept.destroy();
  });
  const attempts: Attempt[] = [];
  let n = 0;
  const worker = async (agent: Agent, name: string): Promise<void> => {
    while (exitedAt === undefined) {
      const a = await attempt(ports.webhookPort, ca, agent, `${name}-${n++}`);
      attempts.push(a);
      if (!a.accepted) await new Promise((r) => setTimeout(r, 5)); // refused: retry, as the API server would, without spinning
    }
  };
  const load = Promise.all([worker(fresh, 'fresh-a'), worker(fresh, 'fresh-b'), worker(fresh, 'fresh-c'), worker(kept, 'kept-a'), worker(kept, 'kept-b')]);
  await eventually(() => attempts.filter((a) => a.status === 200).length >= 30, 20_000, 'load before SIGTERM');

  const sigtermAt = performance.now();
  child.kill('SIGTERM');
  const code = await exited;
  await load;
  polling = false;
  await poller;

  const refused = attempts.filter((a) => !a.accepted);
  const acceptedFailures = attempts.filter((a) => a.accepted && (a.status !== 200 || !isWellFormedAnswer(a.json, a.uid)));
  const firstRefusedAt = Math.min(...refused.map((a) => a.ended));
  t.ok(notReadyAt !== undefined, '/readyz answered 503 during the drain');
  t.ok(refused.length > 0, `connections were refused once the listener closed (${refused.length}: ${[...new Set(refused.map((a) => a.error))].join(', ')})`);
  t.ok(notReadyAt !== undefined && notReadyAt < firstRefusedAt, 'readiness went false before the first refused connection');
  t.same(acceptedFailures.map((a) => `${a.uid}: ${a.error ?? `HTTP ${a.status}`}`), [], `every one of the ${attempts.length - refused.length} accepted requests got a 200 with a well-formed AdmissionReview`);

  // The drain: after readiness went false the listener still took new connections and answered them, asking clients to go elsewhere.
  const duringDrain = attempts.filter((a) => a.accepted && a.started > (notReadyAt ?? Infinity) && a.status === 200);
  t.ok(duringDrain.length > 0, `requests started after readiness went false were answered (${duringDrain.length})`);
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
