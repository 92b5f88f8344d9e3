// Two replicas in the chart's default certificate mode (self) renew their
// serving certificates and then their CA while a real kube-apiserver sends
// them a continuous stream of pod creations, and not one fails. The replicas
// sit behind a TCP balancer as behind a Service; the chart's RBAC and
// mutating configuration are applied as in the main end-to-end suite.
// Renewal is forced by the flags meant for it: --cert-validity 20s and
// --cert-ca-validity 60s, so serving certificates are renewed every ~13 s
// and the CA is replaced (staged beside the old one, switched to, the old
// one dropped) about 40 s after it was made.
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { splitPemCertificates } from '../../src/certs/stored-certificates.js';
import { controlPlaneBinaries, startControlPlane } from '../helpers/control-plane.js';
import { helmBinary } from '../helpers/helm.js';
import { eventually, getText } from '../helpers/https-client.js';
import { createLogSink } from '../helpers/log-sink.js';
import { startBalancingProxy } from '../helpers/tcp-proxy.js';
import { servedIssuer, sumMetric } from '../faults/support.js';

const root = new URL('../..', import.meta.url).pathname;
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT_ID = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
const NAMESPACE = 'wi-system';

const binaries = controlPlaneBinaries();
if (!binaries.ok && process.env.CI === 'true') throw new Error(`CI must run the end-to-end suite: ${binaries.reason}`);

void t.test('two self-managed replicas renew their certificates and their CA under load: no request fails', { skip: binaries.ok ? false : `no control plane: ${binaries.reason}`, timeout: 300_000 }, async (t) => {
  if (!binaries.ok) return;
  const dir = t.testdir({});
  const plane = await startControlPlane(dir, binaries.bin);
  t.teardown(() => plane.stop());
  const admin = new KubeConfig();
  admin.loadFromFile(plane.kubeconfig(dir, 'admin'));
  const core = admin.makeApiClient(CoreV1Api);
  const admission = admin.makeApiClient(AdmissionregistrationV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await core.createNamespace({ body: { metadata: { name: 'shop' } } });
  await core.createNamespacedServiceAccount({ namespace: 'shop', body: { metadata: { name: 'api', annotations: { 'azure.workload.identity/client-id': CLIENT_ID } } } });

  // The Service: one address in the webhook configuration, connections spread over the replicas.
  const replicas: RunningServer[] = [];
  const balancer = await startBalancingProxy(() => replicas.map((r) => r.webhookPort));
  t.teardown(() => balancer.close());

  const rendered = execFileSync(helmBinary(), ['template', 'wi', join(root, 'charts', 'wi-admission'), '-n', NAMESPACE,
    '--set', `azureTenantID=${TENANT}`, '--set', 'certificates.extraHosts[0]=127.0.0.1', '--set', `webhook.url=https://127.0.0.1:${balancer.port}`], { encoding: 'utf8' });
  for (const doc of parseAllDocuments(rendered)) {
    const o = doc.toJS() as { kind: string } | null;
    if (o?.kind === 'ClusterRole') await rbac.createClusterRole({ body: o as never });
    if (o?.kind === 'ClusterRoleBinding') await rbac.createClusterRoleBinding({ body: o as never });
    if (o?.kind === 'Role') await rbac.createNamespacedRole({ namespace: NAMESPACE, body: o as never });
    if (o?.kind === 'RoleBinding') await rbac.createNamespacedRoleBinding({ namespace: NAMESPACE, body: o as never });
    if (o?.kind === 'MutatingWebhookConfiguration') await admission.createMutatingWebhookConfiguration({ body: o as never });
  }

  const sinks = [createLogSink('info'), createLogSink('info')];
  for (const [i, name] of ['replica-a', 'replica-b'].entries()) {
    const loaded = loadConfig(
      ['--webhook-addr', '127.0.0.1:0', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--webhook-cert-dir', join(dir, name),
        '--cert-mode', 'self', '--cert-secret', 'wi-tls', '--cert-hosts', '127.0.0.1', '--webhook-configuration', 'wi',
        '--cert-validity', '20s', '--cert-ca-validity', '60s', '--kubeconfig', plane.kubeconfig(dir, 'webhook'), '--shutdown-delay', '0ms'],
      { AZURE_TENANT_ID: TENANT, POD_NAMESPACE: NAMESPACE, HOSTNAME: name },
    );
    if (!loaded.ok) throw new Error(loaded.error);
    const sink = sinks[i];
    if (!sink) throw new Error('no log sink');
    replicas.push(await startServer(loaded.config, sink.log));
  }
  t.teardown(() => Promise.all(replicas.map((r) => r.shutdown())));
  for (const r of replicas) await eventually(async () => (await getText(r.healthPort, '/readyz')).status === 200, 60_000, 'both replicas ready');

  const createPod = async (uid: number): Promise<string | undefined> => {
    try {
      const pod = await core.createNamespacedPod({
        namespace: 'shop',
        dryRun: 'All',
        body: { metadata: { name: `load-${uid}`, labels: { 'azure.workload.identity/use': 'true' } }, spec: { serviceAccountName: 'api', containers: [{ name: 'app', image: 'app:1' }] } },
      });
      const env = pod.spec?.containers?.[0]?.env ?? [];
      return env.some((e) => e.name === 'AZURE_CLIENT_ID' && e.value === CLIENT_ID) ? undefined : `load-${uid}: admitted without the identity`;
    } catch (err) {
      const e = err as { code?: number; body?: string; message?: string };
      return `load-${uid}: ${e.code ?? ''} ${e.body ?? e.message ?? String(err)}`.slice(0, 400);
    }
  };
  // The webhook configuration takes a moment to reach the API server's admission plugin.
  await eventually(async () => (await createPod(0)) === undefined, 30_000, 'the first pod mutated through the balancer');

  const secretCas = async (): Promise<{ bundle: number; signer: string }> => {
    const secret = await core.readNamespacedSecret({ name: 'wi-tls', namespace: NAMESPACE });
    const text = (key: string): string => Buffer.from(secret.data?.[key] ?? '', 'base64').toString('utf8');
    return { bundle: splitPemCertificates(text('ca.crt')).length, signer: new X509Certificate(text('signing-ca.crt')).subject.replace(/^CN=/, '') };
  };
  const first = await secretCas();
  t.equal(first.bundle, 1, 'one CA in the bundle at the start');
  const firstLeaves = await Promise.all(replicas.map((r) => servedIssuer(r.webhookPort)));
  t.same(firstLeaves, [first.signer, first.signer], 'both replicas serve a certificate of it');

  // Continuous load until the CA has been replaced and both replicas serve certificates of the new one.
  let sent = 0;
  let stop = false;
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    while (!stop) {
      const failure = await createPod(++sent);
      if (failure) failures.push(failure);
    }
  };
  const load = Promise.all([worker(), worker(), worker()]);
  const bundleSizes = new Set<number>();
  let replaced = false;
  try {
    await eventually(async () => {
      const now = await secretCas();
      bundleSizes.add(now.bundle);
      if (now.signer === first.signer || now.bundle !== 1) return false;
      const leaves = await Promise.all(replicas.map((r) => servedIssuer(r.webhookPort)));
      replaced = leaves.every((cn) => cn === now.signer);
      return replaced;
    }, 150_000, () => `the CA replaced and served by both replicas (bundle sizes seen: ${[...bundleSizes].join(', ')})`);
    // And some more traffic on the new CA alone.
    const after = sent;
    await eventually(() => sent > after + 30, 60_000, 'requests after the rotation');
  } finally {
    stop = true;
    await load;
  }

  const metrics = await Promise.all(replicas.map(async (r) => (await getText(r.metricsPort, '/metrics')).body));
  const steps = (step: string): number => metrics.reduce((sum, text) => sum + sumMetric(text, 'wi_admission_certificate_rotation_steps_total', { step }), 0);
  const admitted = metrics.map((text) => sumMetric(text, 'wi_admission_requests_total', { webhook: 'mutate' }));
  t.same(failures.slice(0, 5), [], `no request failed (${sent} pod creations through the API server; ${failures.length} failed)`);
  t.ok(replaced, 'the CA was replaced');
  t.ok(bundleSizes.has(2), 'the bundle carried the old and the new CA while they overlapped');
  t.ok(steps('renew_leaf') >= 1, `serving certificates were renewed from the same CA (${steps('renew_leaf')})`);
  t.same([steps('stage_ca'), steps('switch_ca'), steps('drop_old_ca')], [1, 1, 1], 'one CA replacement: staged, switched to, the old one dropped');
  t.ok(admitted.every((n) => n > 0), `both replicas answered admissions (${admitted.join(' and ')})`);
  t.comment(`connections per replica: ${[...balancer.connections.values()].join(', ')}; requests: ${sent}`);
});
