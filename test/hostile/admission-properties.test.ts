// Property-based hostile input (fast-check): generated and corrupted
// AdmissionReviews through the real Fastify app (inject, no socket). The
// server must never crash or hang, must answer every decodable review with a
// well-formed AdmissionReview echoing its uid (else HTTP 400), and a patch
// may only touch what the webhook owns.
import fc from 'fast-check';
import { applyPatch, type Operation } from 'rfc6902';
import t from 'tap';
import { readFileSync } from 'node:fs';
import { decodeReview } from '../../src/admission/review.js';
import type { ManagedIdentity } from '../../src/identity/managed-identity.js';
import { createMetrics } from '../../src/metrics.js';
import { parsePolicy } from '../../src/policy/schema.js';
import { buildAdmissionApp } from '../../src/server/app.js';
import { FakeServiceAccountLookup } from '../helpers/fake-service-accounts.js';
import { createLogSink } from '../helpers/log-sink.js';
import { testSettings } from '../helpers/settings.js';

const RUNS = Number(process.env.HOSTILE_RUNS ?? 6000);
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();
const CLIENT_ID = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';

const policy = parsePolicy(readFileSync(new URL('../../examples/policy.yaml', import.meta.url), 'utf8'), 'policy');
if (!policy.ok) throw new Error(policy.error);
const identity: ManagedIdentity = {
  clientId: CLIENT_ID,
  principalId: '11111111-1111-1111-1111-111111111111',
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  name: 'id-a',
  id: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a',
  resourceGroup: 'rg',
  subscriptionId: 'x',
  tags: { owner: 'team', environment: 'prod' },
  federatedCredentials: [],
};
const serviceAccounts = new FakeServiceAccountLookup([
  { namespace: 'ns', name: 'sa', annotations: { 'azure.workload.identity/client-id': CLIENT_ID } },
  { namespace: 'ns', name: 'default', annotations: {} },
  { namespace: 'ns', name: 'odd', annotations: { 'azure.workload.identity/service-account-token-expiration': '7200', 'azure.workload.identity/tenant-id': '' } },
]);
const sink = createLogSink('info');
const app = buildAdmissionApp({
  log: sink.log,
  metrics: createMetrics({ defaultMetrics: false }),
  mutation: { serviceAccounts, settings: () => testSettings({ nativeSidecar: true }), serviceAccountLookupTimeoutMs: 100 },
  validation: {
    policy: () => policy.policy.spec,
    serviceAccounts,
    namespaces: { getCached: (name) => ({ name, labels: { 'platform.example.com/owner': 'team' } }), getLive: async () => undefined, hasSynced: () => true, size: () => 1 },
    identities: {
      lookupClientId: async (id) => (id === CLIENT_ID ? { status: 'found', identity } : { status: 'unknown' }),
      federatedCredentials: async () => ({ status: 'found', credentials: [] }),
    },
    audience: 'api://AzureADTokenExchange',
    oidcIssuer: undefined,
    lookupTimeoutMs: 100,
  },
});
t.teardown(() => app.close());

// --- generators --------------------------------------------------------------

const weird = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('', ' ', '__proto__', 'constructor', 'toString', '\u0000', '\u202e', '💥', 'a'.repeat(300), 'x;y; ;', '3600s', '+7200', '-1', '99999999999999999999'),
);
const hugeString = fc.nat(200_000).map((n) => 'A'.repeat(n));
const annotationKey = fc.constantFrom(
  'azure.workload.identity/skip-containers',
  'azure.workload.identity/inject-proxy-sidecar',
  'azure.workload.identity/proxy-sidecar-port',
  'azure.workload.identity/service-account-token-expiration',
  'azure.workload.identity/use-identity-binding',
  '__proto__',
  'constructor',
  'other.example.com/x',
);
const containerName = fc.constantFrom('app', 'app', 'sidecar', 'azwi-proxy', 'azwi-proxy-init', '', 'ünïcode');
const SECRET = 'client-secret-value-that-must-never-be-logged';
const envEntry = fc.oneof(
  fc.record({ name: fc.constantFrom('AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'PATH', 'X'), value: weird }, { requiredKeys: ['name'] }),
  fc.constant({ name: 'AZURE_CLIENT_SECRET', value: SECRET }),
);
const container = fc.record(
  {
    name: containerName,
    image: fc.constant('img:1'),
    env: fc.oneof(fc.array(envEntry, { maxLength: 30 }), fc.constant(null)),
    volumeMounts: fc.array(fc.record({ name: fc.constantFrom('v', 'azure-workload-identity-reserved-425c89ed5bb78a7623fae60fd8a6f6'), mountPath: fc.constant('/m') }), { maxLength: 3 }),
    futureField: fc.jsonValue({ maxDepth: 3 }),
  },
  { requiredKeys: ['name'] },
);
const pod = fc.record(
  {
    apiVersion: fc.constant('v1'),
    kind: fc.constant('Pod'),
    metadata: fc.record(
      {
        name: fc.oneof(fc.constant('pod'), weird),
        generateName: fc.constant('web-'),
        namespace: fc.constantFrom('ns', 'ns', 'ns', 'other'),
        // Mostly opted in, so most cases reach the mutation.
        labels: fc.oneof(
          { arbitrary: fc.constant({ 'azure.workload.identity/use': 'true', app: 'web' }), weight: 8 },
          { arbitrary: fc.dictionary(fc.constantFrom('azure.workload.identity/use', 'app', '__proto__'), fc.constantFrom('true', 'True', 'false', '')), weight: 2 },
        ),
        annotations: fc.dictionary(annotationKey, fc.oneof(weird, hugeString)),
      },
      { requiredKeys: [] },
    ),
    spec: fc.record(
      {
        serviceAccountName: fc.constantFrom('sa', 'sa', 'sa', 'default', 'odd', 'missing', ''),
        hostNetwork: fc.boolean(),
        containers: fc.array(container, { maxLength: 40 }),
        initContainers: fc.array(container, { maxLength: 5 }),
        volumes: fc.array(fc.record({ name: fc.constantFrom('v', 'azure-identity-token', 'azure-workload-identity-reserved-425c89ed5bb78a7623fae60fd8a6f6'), emptyDir: fc.constant({}) }), { maxLength: 3 }),
        deep: fc.jsonValue({ maxDepth: 12 }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['metadata'] },
);

/** Replaces the value at a random path of `value` with an arbitrary JSON value (wrong types everywhere). */
function corrupt(value: unknown, path: readonly number[], replacement: unknown): unknown {
  if (path.length === 0 || typeof value !== 'object' || value === null) return replacement;
  const keys = Object.keys(value);
  if (keys.length === 0) return replacement;
  const key = keys[(path[0] ?? 0) % keys.length] ?? '';
  const copy: Record<string, unknown> = Array.isArray(value) ? ([...value] as unknown as Record<string, unknown>) : { ...(value as Record<string, unknown>) };
  copy[key] = corrupt((value as Record<string, unknown>)[key], path.slice(1), replacement);
  return copy;
}

const maybeCorrupted = fc.tuple(pod, fc.integer({ min: 0, max: 4 }).map((n) => n === 0), fc.array(fc.nat(50), { maxLength: 5 }), fc.jsonValue({ maxDepth: 3 })).map(([p, broken, path, replacement]) => (broken ? corrupt(p, path, replacement) : p));

const kinds = ['Pod', 'ServiceAccount', 'Deployment', 'CronJob', 'ConfigMap'];
const review = fc.record({
  // Mostly a valid envelope, so most cases reach the handlers.
  apiVersion: fc.oneof({ arbitrary: fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'), weight: 19 }, { arbitrary: fc.constantFrom('admission.k8s.io/v2', ''), weight: 1 }),
  kind: fc.oneof({ arbitrary: fc.constant('AdmissionReview'), weight: 19 }, { arbitrary: fc.constant('Pod'), weight: 1 }),
  request: fc.record(
    {
      uid: fc.oneof({ arbitrary: fc.uuid(), weight: 18 }, { arbitrary: fc.oneof(fc.constant(''), fc.integer(), weird), weight: 2 }),
      kind: fc.record({ group: fc.constant(''), version: fc.constant('v1'), kind: fc.oneof({ arbitrary: fc.constant('Pod'), weight: 9 }, { arbitrary: fc.constantFrom(...kinds), weight: 1 }) }),
      namespace: fc.oneof({ arbitrary: fc.constant('ns'), weight: 9 }, { arbitrary: fc.constantFrom('', 'kube-system'), weight: 1 }),
      operation: fc.oneof({ arbitrary: fc.constant('CREATE'), weight: 9 }, { arbitrary: fc.constantFrom('UPDATE', 'DELETE', 'CONNECT'), weight: 1 }),
      object: maybeCorrupted,
      oldObject: fc.oneof(fc.constant(null), maybeCorrupted),
    },
    { requiredKeys: ['uid', 'object'] },
  ),
});

// --- properties --------------------------------------------------------------

/** Paths a patch may touch: the namespace, identity env and mounts, injected containers, the token volume. */
const OWNED = [
  /^\/metadata(\/namespace)?$/,
  /^\/spec$/,
  /^\/spec\/(initContainers|containers)(\/\d+)?$/,
  /^\/spec\/(initContainers|containers)\/\d+\/env(\/\d+)?$/,
  /^\/spec\/(initContainers|containers)\/\d+\/volumeMounts(\/\d+(\/[a-zA-Z]+)?)?$/,
  /^\/spec\/volumes(\/\d+(\/.*)?)?$/,
];

const seen = { patched: 0, denied: 0, allowed: 0, rejected: 0 };

async function answer(path: string, body: unknown): Promise<void> {
  const payload = JSON.stringify(body);
  const res = await app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/json' }, payload });
  const decoded = decodeReview(JSON.parse(payload) as unknown);
  if (!decoded.ok) {
    if (res.statusCode !== 400) throw new Error(`undecodable review answered ${res.statusCode}: ${res.body.slice(0, 200)}`);
    const error = JSON.parse(res.body) as { message?: unknown };
    if (typeof error.message !== 'string' || error.message === '') throw new Error('a 400 without a reason');
    seen.rejected++;
    return;
  }
  if (res.statusCode !== 200) throw new Error(`decodable review answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
  const out = JSON.parse(res.body) as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patch?: string; status?: { code: number; message: string } } };
  if (out.apiVersion !== decoded.review.apiVersion || out.kind !== 'AdmissionReview') throw new Error('apiVersion/kind not echoed');
  if (out.response.uid !== decoded.review.request.uid) throw new Error('uid not echoed');
  if (typeof out.response.allowed !== 'boolean') throw new Error('allowed is not a boolean');
  if (!out.response.allowed && (typeof out.response.status?.message !== 'string' || !out.response.status.message.startsWith('wi-admission: '))) {
    throw new Error(`a denial without a proper message: ${JSON.stringify(out.response.status)}`);
  }
  if (out.response.patch === undefined) {
    seen[out.response.allowed ? 'allowed' : 'denied']++;
    return;
  }
  seen.patched++;
  if (path !== '/mutate-v1-pod') throw new Error('validation returned a patch');
  const ops = JSON.parse(Buffer.from(out.response.patch, 'base64').toString('utf8')) as Operation[];
  for (const op of ops) {
    if (op.op !== 'add' && op.op !== 'replace') throw new Error(`patch op ${op.op}`);
    if (!OWNED.some((re) => re.test(op.path))) throw new Error(`patch touches ${op.path}`);
  }
  const target = structuredClone(decoded.review.request.object);
  const errors = applyPatch(target, ops).filter((e) => e !== null);
  if (errors.length > 0) throw new Error(`patch does not apply: ${String(errors[0])}`);
}

void t.test(`/mutate-v1-pod: ${RUNS} generated and corrupted reviews`, async (t) => {
  await fc.assert(fc.asyncProperty(review, (body) => answer('/mutate-v1-pod', body)), { numRuns: RUNS, seed: Number(process.env.HOSTILE_SEED ?? Date.now() % 2 ** 31) });
  // The property means something only if many cases were actually mutated.
  t.ok(seen.patched > RUNS / 10, `patched ${seen.patched}, denied ${seen.denied}, allowed unchanged ${seen.allowed}, HTTP 400 ${seen.rejected}`);
});

void t.test(`/validate: ${RUNS} generated and corrupted reviews`, async (t) => {
  await fc.assert(fc.asyncProperty(review, (body) => answer('/validate', body)), { numRuns: RUNS });
  t.pass(`${RUNS} reviews answered well-formed`);
});

void t.test(`random and truncated bodies: ${RUNS} of them get 200 or a 400 with a reason`, async (t) => {
  const base = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { kind: 'Pod' }, namespace: 'ns', object: { metadata: { labels: { 'azure.workload.identity/use': 'true' } }, spec: { serviceAccountName: 'sa', containers: [{ name: 'a' }] } } } });
  const body = fc.oneof(
    fc.nat(base.length).map((n) => base.slice(0, n)),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.tuple(fc.nat(base.length), fc.string({ maxLength: 5 })).map(([n, s]) => base.slice(0, n) + s + base.slice(n + s.length)),
  );
  await fc.assert(
    fc.asyncProperty(body, async (payload) => {
      const res = await app.inject({ method: 'POST', url: '/mutate-v1-pod', headers: { 'content-type': 'application/json' }, payload });
      if (res.statusCode === 200) return;
      if (res.statusCode !== 400) throw new Error(`answered ${res.statusCode}`);
      if (!(JSON.parse(res.body) as { message?: string }).message) throw new Error('400 without a reason');
    }),
    { numRuns: RUNS },
  );
  t.pass('every body answered');
});

void t.test('untrusted keys never become log keys', async (t) => {
  const keys = new Set(sink.lines.flatMap((line) => Object.keys(line)));
  const allowed = new Set(['level', 'time', 'service', 'reqId', 'webhook', 'uid', 'operation', 'namespace', 'pod', 'serviceAccount', 'kind', 'name', 'decision', 'reason', 'treatment', 'durationMs', 'msg', 'status']);
  t.same([...keys].filter((k) => !allowed.has(k)), [], 'only keys the server chose');
  t.notOk(sink.text().includes(SECRET), 'no AZURE_CLIENT_SECRET value in the logs');
  t.ok(sink.lines.length > RUNS, `the log was written (${sink.lines.length} lines)`);
});

void t.test('__proto__ and constructor keys are inert data, never prototypes', async (t) => {
  const post = async (payload: string): Promise<{ statusCode: number; response: { allowed: boolean; patch?: string } }> => {
    const res = await app.inject({ method: 'POST', url: '/mutate-v1-pod', headers: { 'content-type': 'application/json' }, payload });
    return { statusCode: res.statusCode, response: (JSON.parse(res.body) as { response: { allowed: boolean; patch?: string } }).response };
  };
  const review = (object: string): string => `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"p","namespace":"ns","object":${object}}}`;

  // Raw JSON: an object literal's `__proto__:` would set a prototype instead.
  const hidden = await post(review('{"metadata":{"labels":{"__proto__":{"azure.workload.identity/use":"true"}}},"spec":{"serviceAccountName":"sa","containers":[{"name":"a"}]}}'));
  t.same(hidden, { statusCode: 200, response: { uid: 'p', allowed: true } }, 'a label behind __proto__ does not opt the pod in');

  const poisoned =
    '{"metadata":{"__proto__":{"namespace":"kube-system","polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},' +
    '"labels":{"azure.workload.identity/use":"true","__proto__":{"polluted":"yes"}}},' +
    '"spec":{"__proto__":{"hostNetwork":true},"serviceAccountName":"sa","containers":[{"name":"a","__proto__":{"env":[{"name":"AZURE_CLIENT_ID","value":"evil"}]}}]}}';
  const mutated = await post(review(poisoned));
  t.equal(mutated.statusCode, 200);
  const ops = JSON.parse(Buffer.from(mutated.response.patch ?? '', 'base64').toString('utf8')) as Operation[];
  t.same(
    ops.map((op) => op.path),
    ['/metadata/namespace', '/spec/containers/0/env', '/spec/containers/0/volumeMounts', '/spec/volumes'],
    'mutated as if the keys were not there',
  );
  t.notOk(JSON.stringify(ops).includes('polluted') || JSON.stringify(ops).includes('evil'), 'nothing from behind __proto__ reaches the patch');
  const target = JSON.parse(poisoned) as unknown;
  t.same(applyPatch(target, ops).filter((e) => e !== null), [], 'the patch applies to the object as sent');

  t.same(Object.getOwnPropertyNames(Object.prototype).sort(), PROTOTYPE_KEYS, 'Object.prototype unchanged after every test in this file');
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});
