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
import { checkProperty } from '../helpers/property.js';
import { testSettings } from '../helpers/settings.js';
import { documentedReasons, expectMutation, expectValidation, MUTATION_DENIALS, statedReasons, TRUSTED_CONTROLLERS, WORLD, type Expected } from '../helpers/admission-oracle.js';

const RUNS = Number(process.env.HOSTILE_RUNS ?? 6000);
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();
const CLIENT_ID = WORLD.clientId;
const DOCUMENTED = documentedReasons();

const policy = parsePolicy(readFileSync(new URL('../../examples/policy.yaml', import.meta.url), 'utf8'), 'policy');
if (!policy.ok) throw new Error(policy.error);
const identity: ManagedIdentity = {
  clientId: CLIENT_ID,
  principalId: WORLD.principalId,
  tenantId: WORLD.tenantId,
  name: 'id-a',
  id: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a',
  resourceGroup: 'rg',
  subscriptionId: 'x',
  tags: { owner: 'team', environment: 'prod' },
  federatedCredentials: [],
};
const serviceAccounts = new FakeServiceAccountLookup(
  Object.entries(WORLD.serviceAccounts).map(([name, annotations]) => ({ namespace: WORLD.namespace, name, annotations })),
);
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
      // As the inventory answers: client IDs case-insensitively, and a principal ID for what it is.
      lookupClientId: async (id) => {
        const key = id.toLowerCase();
        if (key === CLIENT_ID) return { status: 'found', identity };
        return key === WORLD.principalId ? { status: 'principalId', identity } : { status: 'unknown' };
      },
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
/** The annotations /validate reads on a ServiceAccount, with right, wrong and borderline values. */
const identityAnnotations = fc.record(
  {
    'azure.workload.identity/client-id': fc.constantFrom(CLIENT_ID, CLIENT_ID.toUpperCase(), WORLD.principalId, '0e0e0e0e-0000-4000-8000-000000000001', 'my-identity', ''),
    'azure.workload.identity/tenant-id': fc.constantFrom(WORLD.tenantId, WORLD.tenantId.toUpperCase(), '00000000-0000-4000-8000-000000000000', ''),
    'azure.workload.identity/service-account-token-expiration': fc.oneof(
      { arbitrary: fc.constantFrom('3600', '86400', '+7200', ''), weight: 3 },
      { arbitrary: fc.constantFrom('3599', '86401', '3600s', ' 3600', '99999999999999999999'), weight: 1 },
    ),
  },
  { requiredKeys: [] },
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
        annotations: fc.tuple(fc.dictionary(annotationKey, fc.oneof(weird, hugeString)), identityAnnotations).map(([other, identityKeys]) => ({ ...other, ...identityKeys })),
        // What a ReplicaSet's pod carries, or anyone can write.
        ownerReferences: fc.array(fc.record({ apiVersion: fc.constant('apps/v1'), kind: fc.constant('ReplicaSet'), name: fc.constant('web-1'), uid: fc.constant('u-1'), controller: fc.constantFrom(true, false, 'true') }), { maxLength: 2 }),
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

/** A pod, or in one case of five a pod with a random part replaced (`corrupted`: no outcome is predicted for it). */
const maybeCorrupted = fc
  .tuple(pod, fc.integer({ min: 0, max: 4 }).map((n) => n === 0), fc.array(fc.nat(50), { maxLength: 5 }), fc.jsonValue({ maxDepth: 3 }))
  .map(([p, corrupted, path, replacement]) => ({ value: corrupted ? corrupt(p, path, replacement) : p, corrupted }));

/** The object of the request's kind: workloads carry the pod as their template. */
function asKind(kind: string, pod: unknown): unknown {
  if (kind === 'Deployment') return { apiVersion: 'apps/v1', kind, metadata: { name: 'web' }, spec: { template: pod } };
  if (kind === 'CronJob') return { apiVersion: 'batch/v1', kind, metadata: { name: 'nightly' }, spec: { jobTemplate: { spec: { template: pod } } } };
  if (kind === 'ServiceAccount') return { ...(pod as object), apiVersion: 'v1', kind };
  return pod;
}

/** Who sent the request: a developer, a trusted controller by username or by group, someone naming one in a bad shape, or nobody said. */
const sender = fc.oneof(
  fc.constant({ username: 'alice@example.com', groups: ['developers', 'system:authenticated'] }),
  fc.constantFrom(...TRUSTED_CONTROLLERS).map((username) => ({ username, groups: ['system:serviceaccounts', 'system:authenticated'] })),
  fc.constant({ username: 'system:serviceaccount:kube-system:generic-garbage-collector', groups: ['system:kube-controller-manager'] }),
  fc.constant({ username: ['system:kube-controller-manager'], groups: 'system:kube-controller-manager' }),
  fc.constant(undefined),
);

interface GeneratedReview {
  body: { apiVersion: string; kind: string; request: Record<string, unknown> };
  /** The object or old object had a random part replaced. */
  corrupted: boolean;
}

/**
 * Reviews whose request is of a kind `requestKind` picks, a CREATE in
 * `createWeight` cases of ten; the old object only on UPDATE, as the API
 * server sends it.
 */
function reviews(requestKind: fc.Arbitrary<string>, createWeight: number): fc.Arbitrary<GeneratedReview> {
  return fc
    .record({
      // Mostly a valid envelope, so most cases reach the handlers.
      apiVersion: fc.oneof({ arbitrary: fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'), weight: 19 }, { arbitrary: fc.constantFrom('admission.k8s.io/v2', ''), weight: 1 }),
      kind: fc.oneof({ arbitrary: fc.constant('AdmissionReview'), weight: 19 }, { arbitrary: fc.constant('Pod'), weight: 1 }),
      uid: fc.oneof({ arbitrary: fc.uuid(), weight: 18 }, { arbitrary: fc.oneof(fc.constant(''), fc.integer(), weird), weight: 2 }),
      requestKind,
      namespace: fc.oneof({ arbitrary: fc.constant('ns'), weight: 9 }, { arbitrary: fc.constantFrom('', 'kube-system'), weight: 1 }),
      operation: fc.oneof({ arbitrary: fc.constant('CREATE'), weight: createWeight }, { arbitrary: fc.constantFrom('UPDATE', 'DELETE', 'CONNECT'), weight: 10 - createWeight }),
      object: maybeCorrupted,
      oldObject: maybeCorrupted,
      userInfo: sender,
      // Half the UPDATEs send the object as it was before, as a scale or a rollout restart leaves the binding.
      unchanged: fc.boolean(),
    })
    .map(({ apiVersion, kind, uid, requestKind: k, namespace, operation, object, oldObject: other, userInfo, unchanged }) => {
      const withOld = operation === 'UPDATE';
      const oldObject = unchanged ? object : other;
      return {
        body: {
          apiVersion,
          kind,
          request: {
            uid,
            kind: { group: '', version: 'v1', kind: k },
            namespace,
            operation,
            object: asKind(k, object.value),
            ...(withOld ? { oldObject: asKind(k, oldObject.value) } : {}),
            ...(userInfo !== undefined ? { userInfo } : {}),
          },
        },
        corrupted: object.corrupted || (withOld && oldObject.corrupted),
      };
    });
}

const kinds = ['Pod', 'ServiceAccount', 'Deployment', 'CronJob', 'ConfigMap'];
/** Mostly pods, so most cases reach the mutation. */
const mutationReviews = reviews(fc.oneof({ arbitrary: fc.constant('Pod'), weight: 9 }, { arbitrary: fc.constantFrom(...kinds), weight: 1 }), 9);
/** Every kind /validate dispatches on, and one it ignores; UPDATEs too (ServiceAccounts and workloads). */
const validationReviews = reviews(fc.constantFrom(...kinds), 7);

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

interface ReviewAnswer {
  uid: string;
  allowed: boolean;
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  status?: { code: number; message: string };
}

/** Counts by outcome, to show (and check) that the properties reached every branch. */
const seen = {
  mutate: { patched: 0, unchanged: 0, denied: 0, rejected: 0, predicted: 0, unmodelled: 0 },
  validate: { allowed: 0, warned: 0, denied: 0, rejected: 0, predicted: 0, unmodelled: 0, onlyReported: 0 },
  bodies: { answered: 0, rejected: 0, predicted: 0 },
};

/**
 * Posts `payload` and checks the HTTP contract: an undecodable body gets a
 * 400 with a message; a decodable review a 200 AdmissionReview echoing its
 * apiVersion, kind and uid, whose denials state documented reasons. Returns
 * the request and the answer, or undefined for a 400.
 */
async function post(path: string, payload: string): Promise<{ request: Record<string, unknown>; response: ReviewAnswer } | undefined> {
  const res = await app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/json' }, payload });
  let parsed: unknown;
  let parses = true;
  try {
    parsed = JSON.parse(payload);
  } catch {
    parses = false;
  }
  const decoded = parses ? decodeReview(parsed) : undefined;
  if (!decoded?.ok) {
    if (res.statusCode !== 400) throw new Error(`undecodable review answered ${res.statusCode}: ${res.body.slice(0, 200)}`);
    const error = JSON.parse(res.body) as { message?: unknown };
    if (typeof error.message !== 'string' || error.message === '') throw new Error('a 400 without a reason');
    return undefined;
  }
  if (res.statusCode !== 200) throw new Error(`decodable review answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
  const out = JSON.parse(res.body) as { apiVersion: string; kind: string; response: ReviewAnswer };
  if (out.apiVersion !== decoded.review.apiVersion || out.kind !== 'AdmissionReview') throw new Error('apiVersion/kind not echoed');
  const response = out.response;
  if (response.uid !== decoded.review.request.uid) throw new Error('uid not echoed');
  if (typeof response.allowed !== 'boolean') throw new Error('allowed is not a boolean');
  if (!response.allowed) {
    const { status } = response;
    if (!status || (status.code !== 400 && status.code !== 403) || !status.message.startsWith('wi-admission: ')) throw new Error(`a denial without a proper status: ${JSON.stringify(status)}`);
    const undocumented = statedReasons(status.message).filter((r) => !DOCUMENTED.has(r));
    if (undocumented.length > 0) throw new Error(`a denial stating no documented reason (${undocumented.join(', ')}): ${status.message}`);
  }
  return { request: decoded.review.request as Record<string, unknown>, response };
}

/** A denial for a documented reason the oracle does not model (a limit, a newer rule): acceptable, never an unexplained admission. */
function isUnmodelledDenial(response: ReviewAnswer, modelled: readonly string[]): boolean {
  return !response.allowed && statedReasons(response.status?.message ?? '').some((r) => !modelled.includes(r));
}

function describe(expected: Expected, response: ReviewAnswer): string {
  return `expected ${expected.allowed ? 'admitted' : 'denied'} [${expected.reasons.join(', ')}], got ${JSON.stringify({ ...response, patch: response.patch ? '…' : undefined })}`;
}

/** The patch only adds or replaces what the webhook owns, and applies to the object as sent. */
function checkPatch(request: Record<string, unknown>, patch: string): void {
  const ops = JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[];
  for (const op of ops) {
    if (op.op !== 'add' && op.op !== 'replace') throw new Error(`patch op ${op.op}`);
    if (!OWNED.some((re) => re.test(op.path))) throw new Error(`patch touches ${op.path}`);
  }
  const target = structuredClone(request.object);
  const errors = applyPatch(target, ops).filter((e) => e !== null);
  if (errors.length > 0) throw new Error(`patch does not apply: ${String(errors[0])}`);
}

/** `/mutate-v1-pod`: the HTTP contract, the patch, and (when `predict`) the outcome the oracle gives. */
async function checkMutation(payload: string, predict: boolean, counts: { predicted: number } = seen.mutate): Promise<'answered' | 'rejected'> {
  const answered = await post('/mutate-v1-pod', payload);
  if (!answered) {
    seen.mutate.rejected++;
    return 'rejected';
  }
  const { request, response } = answered;
  if (response.patch !== undefined) checkPatch(request, response.patch);
  seen.mutate[!response.allowed ? 'denied' : response.patch !== undefined ? 'patched' : 'unchanged']++;
  if (!predict) return 'answered';
  counts.predicted++;
  const expected = expectMutation(request);
  const stated = statedReasons(response.status?.message ?? '');
  if (expected === undefined) {
    // Opted in with an existing ServiceAccount: mutated, or refused for a reason a pod can have.
    if (response.allowed || stated.every((r) => MUTATION_DENIALS.includes(r))) return 'answered';
  } else if (response.allowed === expected.allowed && (response.allowed ? response.patch === undefined : stated.join() === expected.reasons.join())) {
    return 'answered';
  }
  if (isUnmodelledDenial(response, [...MUTATION_DENIALS, 'ServiceAccountNotFound'])) {
    seen.mutate.unmodelled++;
    return 'answered';
  }
  throw new Error(`/mutate-v1-pod: ${expected ? describe(expected, response) : `expected mutated or refused for ${MUTATION_DENIALS.join('/')}, got ${stated.join(', ')}`}`);
}

/** The validation reasons the oracle predicts; any other documented one is a rule it does not model. */
const MODELLED_VALIDATION = [
  'InvalidClientId', 'UnknownIdentity', 'PrincipalIdUsedAsClientId', 'IdentityNotApproved', 'TenantMismatch', 'InvalidTokenExpiration',
  'ClientIdChanged', 'ClientSecretInPod', 'MissingUseLabel', 'ServiceAccountNotFound', 'NoMatchingFederatedCredential', 'InventoryUnavailable', 'DefaultServiceAccount',
];

async function checkValidation({ body, corrupted }: GeneratedReview): Promise<void> {
  const answered = await post('/validate', JSON.stringify(body));
  if (!answered) {
    seen.validate.rejected++;
    return;
  }
  const { request, response } = answered;
  if (response.patch !== undefined) throw new Error('validation returned a patch');
  seen.validate[!response.allowed ? 'denied' : (response.warnings?.length ?? 0) > 0 ? 'warned' : 'allowed']++;
  if (corrupted) return;
  seen.validate.predicted++;
  const expected = expectValidation(request);
  const reasons = [...new Set((response.auditAnnotations?.reasons ?? '').split(',').filter((r) => r !== ''))].sort();
  const warnings = response.warnings ?? [];
  // The answer's meaning: admitted or not, for exactly the expected reasons, each warning stating one of them.
  const meant =
    response.allowed === expected.allowed &&
    reasons.join() === expected.reasons.join() &&
    warnings.every((w) => expected.reasons.some((r) => w.endsWith(`[${r}]`))) &&
    statedReasons(response.status?.message ?? '').every((r) => response.allowed || expected.reasons.includes(r));
  if (meant) {
    if (expected.denialOnlyReported) seen.validate.onlyReported++;
    return;
  }
  if (isUnmodelledDenial(response, MODELLED_VALIDATION)) {
    seen.validate.unmodelled++;
    return;
  }
  throw new Error(`/validate: ${describe(expected, response)}`);
}

void t.test(`/mutate-v1-pod: ${RUNS} generated and corrupted reviews`, async (t) => {
  await checkProperty(
    t,
    'answered well-formed, as the route must decide, patching only owned paths',
    fc.asyncProperty(mutationReviews, async ({ body, corrupted }) => {
      await checkMutation(JSON.stringify(body), !corrupted);
    }),
    { numRuns: RUNS, seed: Number(process.env.HOSTILE_SEED ?? Date.now() % 2 ** 31) },
  );
  // The property means something only if many cases were actually mutated and predicted.
  const m = seen.mutate;
  t.ok(m.patched > RUNS / 10, `patched ${m.patched}, unchanged ${m.unchanged}, denied ${m.denied}, HTTP 400 ${m.rejected}`);
  t.ok(m.predicted > RUNS / 2, `the oracle predicted ${m.predicted} answers (${m.unmodelled} denied for a reason it does not model)`);
});

void t.test(`/validate: ${RUNS} generated and corrupted reviews`, async (t) => {
  await checkProperty(t, 'admitted or denied for exactly the reasons DESIGN §4 gives, uid echoed', fc.asyncProperty(validationReviews, checkValidation), { numRuns: RUNS });
  const v = seen.validate;
  t.ok(v.predicted > RUNS / 2, `the oracle predicted ${v.predicted} answers (${v.unmodelled} denied for a reason it does not model)`);
  t.ok(v.denied > RUNS / 20 && v.warned > RUNS / 50 && v.allowed > RUNS / 10, `denied ${v.denied}, admitted with warnings ${v.warned}, admitted ${v.allowed}, HTTP 400 ${v.rejected}`);
  // About one case in a hundred; the bound leaves room for the random seed.
  t.ok(v.onlyReported > RUNS / 300, `${v.onlyReported} denials only reported, as predicted (existing bindings, controllers' pods)`);
});

void t.test(`random and truncated bodies: ${RUNS} of them get a 400 with a reason, or the answer the review means`, async (t) => {
  const base = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { kind: 'Pod' }, namespace: 'ns', object: { metadata: { labels: { 'azure.workload.identity/use': 'true' } }, spec: { serviceAccountName: 'sa', containers: [{ name: 'a' }] } } } });
  const body = fc.oneof(
    fc.nat(base.length).map((n) => base.slice(0, n)),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.tuple(fc.nat(base.length), fc.string({ maxLength: 5 })).map(([n, s]) => base.slice(0, n) + s + base.slice(n + s.length)),
  );
  await checkProperty(
    t,
    'each body is refused with a reason or answered as the review it decodes to means',
    fc.asyncProperty(body, async (payload) => {
      seen.bodies[(await checkMutation(payload, true, seen.bodies)) === 'rejected' ? 'rejected' : 'answered']++;
    }),
    { numRuns: RUNS },
  );
  const b = seen.bodies;
  t.ok(b.rejected > 0 && b.answered > 0, `HTTP 400 ${b.rejected}, answered ${b.answered}`);
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
