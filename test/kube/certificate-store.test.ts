// The self-managed certificates' store against a loopback stand-in that keeps
// objects with the API server's optimistic concurrency (resourceVersion).
import type { ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { createCertificateStore } from '../../src/kube/certificate-store.js';
import { bearerToken } from '../../src/kube/credentials.js';
import { KubeRestClient } from '../../src/kube/rest-client.js';
import { startLoopbackTlsServer } from '../helpers/loopback-tls.js';

type Stored = Record<string, unknown> & { metadata: { resourceVersion: string } };

async function startStore(t: Test) {
  const objects = new Map<string, Stored>();
  const requests: string[] = [];
  let rv = 10;
  /** Applied to the stored object just before the next PUT is answered (a concurrent writer). */
  const interfere: { before?: (path: string) => void } = {};
  const send = (res: ServerResponse, code: number, body: unknown): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, code: number, reason: string): void => send(res, code, { kind: 'Status', status: 'Failure', reason, message: reason, code });
  const server = await startLoopbackTlsServer('certificate-store test CA', (req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      const path = req.url ?? '';
      requests.push(`${req.method} ${path}`);
      const current = objects.get(path);
      if (req.method === 'GET') return current ? send(res, 200, current) : fail(res, 404, 'NotFound');
      const body = JSON.parse(text) as Stored;
      if (req.method === 'POST') {
        const key = `${path}/${(body.metadata as { name?: string }).name ?? ''}`;
        if (objects.has(key)) return fail(res, 409, 'AlreadyExists');
        objects.set(key, { ...body, metadata: { ...body.metadata, resourceVersion: String(++rv) } });
        return send(res, 201, objects.get(key));
      }
      interfere.before?.(path);
      interfere.before = undefined;
      const stored = objects.get(path);
      if (!stored) return fail(res, 404, 'NotFound');
      if (body.metadata.resourceVersion !== stored.metadata.resourceVersion) return fail(res, 409, 'Conflict');
      objects.set(path, { ...body, metadata: { ...body.metadata, resourceVersion: String(++rv) } });
      send(res, 200, objects.get(path));
    });
  });
  const client = new KubeRestClient({ server: `https://127.0.0.1:${server.port}`, tls: { ca: Buffer.from(server.caCert), rejectUnauthorized: true }, credentials: bearerToken('t'), origin: 'test' });
  t.teardown(async () => {
    client.close();
    await server.close();
  });
  return { objects, requests, interfere, store: createCertificateStore(client, 'wi', 'wi-tls', 'wi-admission'), bump: () => String(++rv) };
}

const SECRET = '/api/v1/namespaces/wi/secrets/wi-tls';
const MUTATING = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/wi-admission';
const VALIDATING = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/wi-admission';

void t.test('the Secret: absent, created, replaced with its resourceVersion and annotations, and a conflict when another replica wrote first', async (t) => {
  const { store, objects } = await startStore(t);
  t.equal(await store.readSecret(), undefined);
  t.equal(await store.writeSecret({ 'ca.crt': 'CA', 'tls.key': 'KEY' }, { 'serving.wi-admission.io/a': '{}' }, undefined), 'written');
  t.match(objects.get(SECRET), {
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: 'wi-tls', namespace: 'wi', labels: { 'app.kubernetes.io/managed-by': 'wi-admission' }, annotations: { 'serving.wi-admission.io/a': '{}' } },
    data: { 'ca.crt': 'Q0E=', 'tls.key': 'S0VZ' },
  });
  t.equal(await store.writeSecret({ 'ca.crt': 'other' }, {}, undefined), 'conflict', 'created by someone else meanwhile');
  const read = await store.readSecret();
  t.same(read?.data, { 'ca.crt': 'CA', 'tls.key': 'KEY' }, 'decoded');
  t.same(read?.annotations, { 'serving.wi-admission.io/a': '{}' });
  t.equal(await store.writeSecret({ 'ca.crt': 'CA2' }, { other: 'kept' }, read?.resourceVersion), 'written');
  t.equal(await store.writeSecret({ 'ca.crt': 'CA3' }, {}, read?.resourceVersion), 'conflict', 'a stale resourceVersion');
  t.same(await store.readSecret().then((s) => [s?.data, s?.annotations]), [{ 'ca.crt': 'CA2' }, { other: 'kept' }]);
});

void t.test('the CA bundle goes into every webhook of both configurations, keeping fields this client does not know', async (t) => {
  const { store, objects, requests, interfere, bump } = await startStore(t);
  await t.rejects(store.injectCaBundle('PEM'), /MutatingWebhookConfiguration wi-admission not found: the CA bundle cannot be written yet/);
  const hook = (name: string) => ({ name, clientConfig: { service: { name: 'wi', namespace: 'wi' } }, futureField: { kept: true } });
  objects.set(MUTATING, { kind: 'MutatingWebhookConfiguration', metadata: { resourceVersion: '1' }, webhooks: [hook('a'), hook('b')] });
  // The validating configuration exists only with a policy: its absence is not an error.
  await store.injectCaBundle('PEM');
  t.same(
    (objects.get(MUTATING)?.webhooks as { clientConfig: { caBundle?: string }; futureField?: unknown }[]).map((w) => [w.clientConfig.caBundle, w.futureField]),
    [['UEVN', { kept: true }], ['UEVN', { kept: true }]],
  );

  objects.set(VALIDATING, { kind: 'ValidatingWebhookConfiguration', metadata: { resourceVersion: '1' }, webhooks: [hook('v')] });
  interfere.before = (path) => {
    const stored = objects.get(path);
    if (stored) stored.metadata.resourceVersion = bump();
  };
  requests.length = 0;
  await store.injectCaBundle('PEM');
  t.same(requests, [`GET ${MUTATING}`, `GET ${VALIDATING}`, `PUT ${VALIDATING}`, `GET ${VALIDATING}`, `PUT ${VALIDATING}`], 'up to date: no write; a conflict: read again and retry');
  t.equal((objects.get(VALIDATING)?.webhooks as { clientConfig: { caBundle?: string } }[])[0]?.clientConfig.caBundle, 'UEVN');
  t.same(await store.readCaBundles(), ['PEM', 'PEM', 'PEM'], 'the bundles as published, one per hook of both configurations');
});
