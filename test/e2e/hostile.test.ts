// Hostile pods through a real kube-apiserver (built by
// scripts/build-control-plane.sh; skipped with the reason only where Go is
// missing, never under CI=true): the API server decodes each pod into its Go
// type and sends the webhook what it re-encodes, before validating anything.
// A pod over a limit is refused with our message naming it, also one whose
// 300,000 empty tolerations (3 bytes each once re-encoded) are too many JSON
// objects to parse; an ordinary pod is still mutated, and no log line of the
// webhook reaches 16 KiB.
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { writeDevCertificates } from '../../src/certs/issue.js';
import { loadConfig } from '../../src/config.js';
import { MAX_LOG_LINE_BYTES } from '../../src/log.js';
import { startServer } from '../../src/server/serve.js';
import { controlPlaneBinaries, freePorts, startControlPlane } from '../helpers/control-plane.js';
import { eventually } from '../helpers/https-client.js';
import { createLogSink } from '../helpers/log-sink.js';

const binaries = controlPlaneBinaries();
if (!binaries.ok && process.env.CI === 'true') throw new Error(`CI must run the end-to-end suite: ${binaries.reason}`);

const CLIENT_ID = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';

void t.test('hostile pods through a real kube-apiserver', { skip: binaries.ok ? false : `no control plane: ${binaries.reason}` }, async (t) => {
  if (!binaries.ok) return;
  const dir = t.testdir({});
  const plane = await startControlPlane(dir, binaries.bin);
  t.teardown(() => plane.stop());
  const admin = new KubeConfig();
  admin.loadFromFile(plane.kubeconfig(dir, 'admin'));
  const core = admin.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'shop' } } });
  await core.createNamespacedServiceAccount({ namespace: 'shop', body: { metadata: { name: 'api', annotations: { 'azure.workload.identity/client-id': CLIENT_ID } } } });

  const [webhookPort] = await freePorts(1);
  const { ca } = await writeDevCertificates(join(dir, 'certs'), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const loaded = loadConfig(
    ['--webhook-addr', `127.0.0.1:${webhookPort}`, '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--webhook-cert-dir', join(dir, 'certs'),
      '--kubeconfig', plane.kubeconfig(dir, 'admin'), '--shutdown-delay', '0ms'],
    { AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47' },
  );
  if (!loaded.ok) throw new Error(loaded.error);
  const sink = createLogSink('info');
  const server = await startServer(loaded.config, sink.log);
  t.teardown(() => server.shutdown());
  await admin.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
    body: {
      metadata: { name: 'wi-hostile' },
      webhooks: [{
        name: 'mutation.wi-admission.io',
        clientConfig: { url: `https://127.0.0.1:${webhookPort}/mutate-v1-pod`, caBundle: Buffer.from(ca.cert).toString('base64') },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
        objectSelector: { matchLabels: { 'azure.workload.identity/use': 'true' } },
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        timeoutSeconds: 10,
      }],
    },
  });

  const pod = (name: string, spec: Partial<NonNullable<V1Pod['spec']>>): V1Pod => ({
    metadata: { name, labels: { 'azure.workload.identity/use': 'true' } },
    spec: { serviceAccountName: 'api', containers: [{ name: 'app', image: 'app:1' }], ...spec },
  });
  // Dry run: the whole admission chain, nothing stored.
  const create = (body: V1Pod): Promise<string> =>
    core.createNamespacedPod({ namespace: 'shop', body, dryRun: 'All' })
      .then((created) => `created with ${created.spec?.containers[0]?.env?.map((e) => e.name).join(',') ?? 'no env'}`, (err: { code?: number; body?: string }) => `${err.code}: ${err.body ?? ''}`);

  await eventually(async () => (await create(pod('ordinary', {}))).startsWith('created with AZURE_CLIENT_ID'), 30_000, 'the webhook mutates an ordinary pod');

  const containers = Array.from({ length: 300 }, (_, i) => ({ name: `c${i}`, image: 'app:1' }));
  t.match(
    await create(pod('many-containers', { containers })),
    /^400: .*admission webhook \\"mutation\.wi-admission\.io\\" denied the request: wi-admission: Pod shop\/many-containers: the pod has 300 containers, initContainers and ephemeralContainers together; the webhook accepts at most 250 per pod\. .*\[LimitExceeded\]/,
    'a pod over the container limit is refused with our message',
  );
  const tolerations = Array.from({ length: 300_000 }, () => ({}));
  t.match(
    await create(pod('tolerations', { tolerations })),
    /^400: .*denied the request: wi-admission: Pod shop\/tolerations: the request holds 300,0\d\d JSON objects and arrays; the webhook reads at most 200,000 .*\[LimitExceeded\]/,
    '300,000 empty tolerations, as the API server re-encodes them: too many to parse, refused without reading the pod',
  );
  t.match(await create(pod('after', {})), /^created with AZURE_CLIENT_ID,AZURE_TENANT_ID,AZURE_FEDERATED_TOKEN_FILE,AZURE_AUTHORITY_HOST$/, 'and the next ordinary pod is mutated');

  const longest = Math.max(...sink.text().split('\n').map((l) => Buffer.byteLength(l)));
  t.ok(longest <= MAX_LOG_LINE_BYTES, `longest log line ${longest} bytes`);
  t.same(sink.lines.filter((l) => l.level === 50), [], 'nothing logged at error');
});
