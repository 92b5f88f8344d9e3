// The real executable with an `arm:` identity source, against the loopback
// stand-ins for ARM and Entra ID (FakeArm) and the API server (FakeKubeApi).
//
// The server authenticates as it would outside a cluster: DefaultAzureCredential
// picks the client secret from AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, for the
// public authority https://login.microsoftonline.com. MSAL knows that host
// (no instance discovery), and HTTPS_PROXY tunnels it to FakeArm, whose
// certificate also names it; NODE_EXTRA_CA_CERTS trusts FakeArm's CA, so TLS
// verification stays on throughout. ARM itself is --arm-endpoint.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Test } from 'tap';
import { writeDevCertificates } from '../../src/certs/issue.js';
import { stopChild } from '../helpers/child-process.js';
import { FakeArm, type FakeArmIdentity } from '../helpers/fake-arm.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { eventually, getText, post } from '../helpers/https-client.js';
import { serviceAccountReview } from '../helpers/reviews.js';
import { assertNoSecrets, clientIdAnnotation, KUBE_TOKEN, parseLogLines, TENANT_ID, type ReviewResponse } from './support.js';

export const SUBSCRIPTION = '3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9';
export const CHECKOUT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
export const BILLING = '0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b';
/** The webhook's own client secret: it must never reach a log. */
export const CLIENT_SECRET = 'arm-client-secret-value-that-must-never-be-logged';
const AUTHORITY_HOST = 'login.microsoftonline.com';
const examples = new URL('../../examples/', import.meta.url).pathname;
const main = new URL('../../src/main.ts', import.meta.url).pathname;

export function armIdentity(name: string, clientId: string, owner: string, principalSuffix: string): FakeArmIdentity {
  return {
    subscriptionId: SUBSCRIPTION,
    resourceGroup: `rg-${owner}`,
    name,
    clientId,
    principalId: `a1b2c3d4-0000-4000-8000-${principalSuffix.padStart(12, '0')}`,
    tenantId: TENANT_ID,
    tags: { owner, environment: 'prod', 'kubernetes.clusters': 'aks-prod-*' },
  };
}

export interface ArmServer {
  readonly arm: FakeArm;
  readonly api: FakeKubeApi;
  readonly webhookPort: number;
  readonly healthPort: number;
  readonly metricsPort: number;
  /** CONNECT tunnels opened to the authority host. */
  tunnels(): number;
  /** Everything the process wrote to stdout and stderr. */
  output(): string;
  logLines(): Record<string, unknown>[];
  /** The serving private key (for the log hygiene check). */
  readonly servingKey: string;
  /** The CA of the serving certificate, for clients of the admission port. */
  readonly ca: string;
  validate(uid: string, clientId: string): Promise<ReviewResponse>;
  ready(): Promise<boolean>;
}

/**
 * Starts FakeArm (two identities in one subscription, the checkout one with a
 * federated credential for checkout-prod/checkout-api), FakeKubeApi (the
 * checkout-prod Namespace and ServiceAccount), the CONNECT proxy and the
 * server with the example policy. `prepare` runs before the server starts;
 * `certificateValidDays` shortens the serving certificate's validity.
 */
export async function startArmServer(t: Test, args: string[], prepare: (arm: FakeArm) => void = () => undefined, options: { certificateValidDays?: number } = {}): Promise<ArmServer> {
  const dir = t.testdir({});
  const arm = new FakeArm();
  await arm.start({ extraHosts: [AUTHORITY_HOST] });
  t.teardown(() => arm.stop());
  arm.clientSecret = CLIENT_SECRET;
  arm.identities.push(armIdentity('id-checkout-api-prod', CHECKOUT, 'checkout-team', '1'), armIdentity('id-billing-worker-prod', BILLING, 'billing-team', '2'));
  arm.credentials.set('id-checkout-api-prod', [
    { name: 'checkout-api', issuer: 'https://oidc.example/', subject: 'system:serviceaccount:checkout-prod:checkout-api', audiences: ['api://AzureADTokenExchange'] },
  ]);
  prepare(arm);

  let tunnels = 0;
  const proxy = await startConnectProxy((host) => {
    if (host !== `${AUTHORITY_HOST}:443`) return undefined;
    tunnels++;
    return Number(new URL(arm.url).port);
  });
  t.teardown(() => proxy.stop());

  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.stop());
  api.putNamespace('checkout-prod', { 'platform.example.com/owner': 'checkout-team' });
  api.putServiceAccount('checkout-prod', 'checkout-api', clientIdAnnotation(CHECKOUT));

  const certDir = join(dir, 'certs');
  await writeDevCertificates(certDir, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], ...(options.certificateValidDays === undefined ? {} : { validDays: options.certificateValidDays }) });
  const ca = readFileSync(join(certDir, 'ca.crt'), 'utf8');
  writeFileSync(join(dir, 'arm-ca.crt'), arm.caCert);

  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Nothing from the environment this runs in may choose another credential or proxy.
    if (!/^(AZURE_|MSI_|IDENTITY_|IMDS_|HTTPS?_PROXY$|NO_PROXY$|ALL_PROXY$)/i.test(k)) env[k] = v;
  }
  Object.assign(env, {
    AZURE_TENANT_ID: TENANT_ID,
    AZURE_CLIENT_ID: '8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d',
    AZURE_CLIENT_SECRET: CLIENT_SECRET,
    HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`,
    NO_PROXY: '127.0.0.1,localhost',
    NODE_EXTRA_CA_CERTS: join(dir, 'arm-ca.crt'),
  });
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', main, 'serve', '--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0',
      '--webhook-cert-dir', certDir, '--kubeconfig', api.writeKubeconfig(dir), '--shutdown-delay', '0ms', '--log-level', 'debug',
      '--policy', join(examples, 'policy.yaml'), '--identities', `arm:/subscriptions/${SUBSCRIPTION}`, '--arm-endpoint', arm.url, ...args],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  t.teardown(() => stopChild(child));

  await eventually(() => /"msg":"listening"/.test(output) || child.exitCode !== null, 30_000, 'server listening');
  if (!/"msg":"listening"/.test(output)) throw new Error(`the server exited with ${child.exitCode}:\n${output}`);
  const ports = JSON.parse(output.split('\n').find((l) => l.includes('"msg":"listening"')) ?? '{}') as { webhookPort: number; healthPort: number; metricsPort: number };
  return {
    arm,
    api,
    ...ports,
    tunnels: () => tunnels,
    output: () => output,
    logLines: () => parseLogLines(output),
    servingKey: readFileSync(join(certDir, 'tls.key'), 'utf8'),
    ca,
    validate: async (uid, clientId) => {
      const res = await post(ports.webhookPort, '/validate', serviceAccountReview(uid, clientId), { ca });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body}`);
      return (res.json as { response: ReviewResponse }).response;
    },
    ready: async () => (await getText(ports.healthPort, '/readyz')).status === 200,
  };
}

/** Neither the client secret, nor a token, nor the serving key in anything the process wrote. */
export function assertArmLogsClean(t: Test, s: ArmServer): void {
  assertNoSecrets(t, s.output(), {
    'the client secret (AZURE_CLIENT_SECRET)': CLIENT_SECRET,
    'the ARM access token': s.arm.accessToken,
    'the kubeconfig token': KUBE_TOKEN,
    'the serving private key': s.servingKey,
  });
}

export async function metricsText(s: ArmServer): Promise<string> {
  return (await getText(s.metricsPort, '/metrics')).body;
}

/** An HTTP proxy that only tunnels (CONNECT) to the loopback port `route` gives for a host, and refuses the rest. */
async function startConnectProxy(route: (hostAndPort: string) => number | undefined): Promise<{ port: number; stop(): Promise<void> }> {
  const proxy = createServer((_req, res) => res.writeHead(405).end());
  const sockets = new Set<Duplex>();
  proxy.on('connection', (socket: Duplex) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  proxy.on('connect', (req, socket, head) => {
    const port = route(req.url ?? '');
    if (port === undefined) {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = connect(port, '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    const close = (): void => {
      upstream.destroy();
      socket.destroy();
    };
    upstream.on('error', close);
    socket.on('error', close);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as AddressInfo).port,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
