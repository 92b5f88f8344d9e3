import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
export const KUBE_APISERVER = join(root, '.tools', 'kube-apiserver');

export interface ControlPlane {
  readonly url: string;
  /** The API server's self-signed serving certificate, trusted by clients. */
  readonly ca: string;
  /** Writes a kubeconfig for one of the static tokens. */
  kubeconfig(dir: string, user: 'admin' | 'webhook'): string;
  stop(): Promise<void>;
}

/** The webhook's identity in the API server: the chart's ServiceAccount in wi-system. */
export const WEBHOOK_USER = 'system:serviceaccount:wi-system:wi';
const TOKENS = { admin: 'e2e-admin-token', webhook: 'e2e-webhook-token' } as const;

/**
 * A real etcd (Debian's etcd-server) and kube-apiserver (built from Go modules
 * by scripts/build-kube-apiserver.sh) on loopback ports, with static tokens:
 * an admin in system:masters, and the webhook's ServiceAccount user, which has
 * only what RBAC grants it. `.ci/run` installs both; on a fresh machine this
 * installs them on first use (minutes).
 */
export async function startControlPlane(dir: string): Promise<ControlPlane> {
  ensureBinaries();
  const [etcdClient, etcdPeer, apiPort] = await freePorts(3);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'tokens.csv'), `${TOKENS.admin},admin,admin,"system:masters"\n${TOKENS.webhook},${WEBHOOK_USER},wi,"system:serviceaccounts,system:serviceaccounts:wi-system"\n`);
  const processes: ChildProcess[] = [];
  const logs: string[] = [];
  const run = (command: string, args: string[]): void => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => logs.push(`[${command.split('/').pop()}] ${d.toString()}`));
    child.on('exit', (code) => logs.push(`[${command.split('/').pop()}] exited with ${code}\n`));
    processes.push(child);
  };
  run('etcd', ['--data-dir', join(dir, 'etcd'), '--listen-client-urls', `http://127.0.0.1:${etcdClient}`, '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`, '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-cluster', `default=http://127.0.0.1:${etcdPeer}`]);
  run(KUBE_APISERVER, [
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
  ]);
  const url = `https://127.0.0.1:${apiPort}`;
  const stop = async (): Promise<void> => {
    for (const p of processes.reverse()) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
  };
  const certFile = join(dir, 'apiserver-certs', 'apiserver.crt');
  for (let i = 0; i < 600; i++) {
    if (existsSync(certFile)) {
      const ready = await isReady(url, readFileSync(certFile, 'utf8'));
      if (ready) break;
    }
    await new Promise((r) => setTimeout(r, 100));
    if (i === 599) {
      await stop();
      throw new Error(`kube-apiserver did not become ready:\n${logs.filter((l) => l.startsWith('[etcd]')).join('').slice(-1500)}\n${logs.join('').slice(-1500)}`);
    }
  }
  const ca = readFileSync(certFile, 'utf8');
  return {
    url,
    ca,
    stop,
    kubeconfig(target: string, user: 'admin' | 'webhook'): string {
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
    },
  };
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

/** etcd from Debian's etcd-server, kube-apiserver from scripts/build-kube-apiserver.sh. */
function ensureBinaries(): void {
  const hasEtcd = (() => {
    try {
      execFileSync('etcd', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  if (!hasEtcd) {
    execFileSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server'], { stdio: 'ignore' });
  }
  if (!existsSync(KUBE_APISERVER)) execFileSync('bash', [join(root, 'scripts', 'build-kube-apiserver.sh')], { stdio: 'ignore' });
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
