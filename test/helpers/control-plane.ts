import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const BUILD_SCRIPT = join(root, 'scripts', 'build-control-plane.sh');
/** build-control-plane.sh's exit code when Go is missing and nothing is cached. */
const NO_GO = 3;

export interface ControlPlane {
  readonly url: string;
  /** The API server's self-signed serving certificate, trusted by clients. */
  readonly ca: string;
  /** kubectl built from the same Kubernetes release as the API server. */
  readonly kubectl: string;
  /** Writes a kubeconfig for one of the static tokens. */
  kubeconfig(dir: string, user: 'admin' | 'webhook'): string;
  /** The last lines each process wrote, to explain a failure. */
  logs(): string;
  stop(): Promise<void>;
}

/** The webhook's identity in the API server: the chart's ServiceAccount in wi-system. */
export const WEBHOOK_USER = 'system:serviceaccount:wi-system:wi';
const TOKENS = { admin: 'e2e-admin-token', webhook: 'e2e-webhook-token' } as const;

export type ControlPlaneBinaries = { ok: true; bin: string } | { ok: false; reason: string };

/**
 * The directory holding etcd, kube-apiserver, kube-controller-manager and
 * kubectl, built by scripts/build-control-plane.sh (cached per version; the
 * first build takes minutes, `npm test` and `.ci/run` do it up front). Not ok
 * only when Go is missing; any other build failure throws.
 */
export function controlPlaneBinaries(options: { showProgress?: boolean } = {}): ControlPlaneBinaries {
  try {
    const out = execFileSync('bash', [BUILD_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', options.showProgress ? 'inherit' : 'pipe'], maxBuffer: 64 * 1024 * 1024 });
    return { ok: true, bin: out.trim().split('\n').pop() ?? '' };
  } catch (err) {
    const failure = err as { status?: number; stderr?: string };
    if (failure.status === NO_GO) return { ok: false, reason: (failure.stderr ?? '').trim() || 'Go is not installed; it is needed to build kube-apiserver and etcd' };
    throw new Error(`scripts/build-control-plane.sh failed (exit ${failure.status}):\n${(failure.stderr ?? '').slice(-3000)}`, { cause: err });
  }
}

export interface ControlPlaneOptions {
  /** Also run kube-controller-manager (Deployments and ReplicaSets create pods; ResourceQuotas get their status). */
  controllers?: boolean;
  /**
   * Run each controller as its own kube-system ServiceAccount
   * (`--use-service-account-credentials`, as kubeadm and AKS do), so
   * ReplicaSets arrive from system:serviceaccount:kube-system:deployment-controller
   * and pods from …:replicaset-controller, instead of from the admin user.
   */
  serviceAccountCredentials?: boolean;
  /** Admit privileged containers (upstream's proxy-init), as AKS and kubeadm clusters do. */
  allowPrivileged?: boolean;
}

/**
 * A real etcd and kube-apiserver (and, on request, kube-controller-manager)
 * on loopback ports, as a cluster would run them, with static tokens: an
 * admin in system:masters, and the webhook's ServiceAccount user, which has
 * only what RBAC grants it. Service-account signing keys are set so the API
 * server can issue projected tokens; the admission webhook plugins are on by
 * default and named explicitly anyway. No kubelet: pods are read back as the
 * API server stored them.
 */
export async function startControlPlane(dir: string, bin: string, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const [etcdClient, etcdPeer, apiPort, controllerPort] = await freePorts(4);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'tokens.csv'), `${TOKENS.admin},admin,admin,"system:masters"\n${TOKENS.webhook},${WEBHOOK_USER},wi,"system:serviceaccounts,system:serviceaccounts:wi-system"\n`);
  const processes: ChildProcess[] = [];
  const logs = new Map<string, string>();
  const run = (name: string, args: string[]): void => {
    const child = spawn(join(bin, name), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const append = (text: string): void => {
      logs.set(name, `${logs.get(name) ?? ''}${text}`.slice(-4000));
    };
    child.stderr?.on('data', (d: Buffer) => append(d.toString()));
    child.on('exit', (code, signal) => append(`\n${name} exited (${code ?? signal})\n`));
    processes.push(child);
  };
  const allLogs = (): string => [...logs].map(([name, text]) => `--- ${name}\n${text.slice(-1500)}`).join('\n');
  const stop = async (): Promise<void> => {
    const exits = processes.reverse().map((p) => new Promise<void>((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
      setTimeout(() => p.kill('SIGKILL'), 5000).unref();
    }));
    await Promise.all(exits);
  };

  run('etcd', [
    '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdClient}`, '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster', `default=http://127.0.0.1:${etcdPeer}`,
    // A throwaway cluster: durability buys nothing and fsync costs seconds.
    '--unsafe-no-fsync',
  ]);
  run('kube-apiserver', [
    `--etcd-servers=http://127.0.0.1:${etcdClient}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    `--cert-dir=${join(dir, 'apiserver-certs')}`,
    `--secure-port=${apiPort}`,
    '--bind-address=127.0.0.1',
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
    ...(options.allowPrivileged ? ['--allow-privileged=true'] : []),
  ]);
  const url = `https://127.0.0.1:${apiPort}`;
  const certFile = join(dir, 'apiserver-certs', 'apiserver.crt');
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (existsSync(certFile) && (await isReady(url, readFileSync(certFile, 'utf8')))) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`kube-apiserver did not become ready within 120 s:\n${allLogs()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const ca = readFileSync(certFile, 'utf8');
  const kubeconfig = (target: string, user: 'admin' | 'webhook'): string => {
    const path = join(target, `kubeconfig-${user}`);
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: e2e, cluster: {server: "${url}", certificate-authority-data: ${Buffer.from(ca).toString('base64')}}}]`,
        `users: [{name: ${user}, user: {token: ${TOKENS[user]}}}]`,
        `contexts: [{name: e2e, context: {cluster: e2e, user: ${user}}}]`,
        'current-context: e2e',
        '',
      ].join('\n'),
    );
    return path;
  };
  if (options.controllers) {
    mkdirSync(join(dir, 'controller-manager-certs'), { recursive: true });
    run('kube-controller-manager', [
      `--kubeconfig=${kubeconfig(dir, 'admin')}`,
      '--controllers=deployment-controller,replicaset-controller,resourcequota-controller',
      '--leader-elect=false',
      ...(options.serviceAccountCredentials ? ['--use-service-account-credentials=true'] : []),
      '--bind-address=127.0.0.1',
      `--secure-port=${controllerPort}`,
      `--cert-dir=${join(dir, 'controller-manager-certs')}`,
    ]);
  }
  return { url, ca, kubectl: join(bin, 'kubectl'), kubeconfig, logs: allLogs, stop };
}

/** GET /readyz trusting the API server's own certificate (verification stays on). */
function isReady(url: string, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(`${url}/readyz`, { ca, headers: { authorization: `Bearer ${TOKENS.admin}` } }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
  });
}

/** Distinct free ports: every probe socket stays open until all are chosen, so none repeats. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<Server>((resolve, reject) => {
      const server = createServer();
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
