// Property-based (fast-check): reviews with collections around every limit
// (containers, env, volumeMounts, volumes, skip-containers names) and names
// of Object.prototype members in every string the server reads (uid, kind,
// namespace, operation, pod and ServiceAccount names, label and annotation
// keys and values, container, env, mount and volume names). Each answer is
// checked for what it means: a decodable review gets a 200 echoing its uid
// and version; an opted-in pod over a limit is denied with LimitExceeded
// naming that limit; a patch touches only what the webhook owns and
// applies; nothing is an internal error; every log line stays under 16 KiB.
import fc from 'fast-check';
import { applyPatch, type Operation } from 'rfc6902';
import t from 'tap';
import { MAX_LOG_LINE_BYTES } from '../../src/log.js';
import { buildHostileApp, HOSTILE_NAMESPACE } from '../helpers/hostile-app.js';

const RUNS = Number(process.env.HOSTILE_RUNS ?? 6000) / 20;
const USE_LABEL = 'azure.workload.identity/use';
const SKIP = 'azure.workload.identity/skip-containers';

const { app, sink } = buildHostileApp();
t.teardown(() => app.close());

// --- generators --------------------------------------------------------------

/** Own members of Object.prototype and other names code may look up by mistake. */
const prototypeName = fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype), 'prototype', 'then', 'length', 'Pod');
const text = fc.oneof({ arbitrary: prototypeName, weight: 3 }, fc.string({ maxLength: 12 }), fc.constantFrom('', ' ', 'app', 'shop'));
/** Mostly around each limit, else small. */
const around = (limit: number): fc.Arbitrary<number> => fc.oneof({ arbitrary: fc.nat(4), weight: 3 }, fc.integer({ min: limit - 3, max: limit + 3 }));

const containerList = fc.record({
  count: fc.oneof({ arbitrary: fc.nat(5), weight: 3 }, fc.integer({ min: 100, max: 130 })),
  names: fc.array(text, { minLength: 1, maxLength: 3 }),
  envNames: fc.array(fc.oneof(prototypeName, fc.constantFrom('AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'PATH')), { maxLength: 3 }),
  envValue: text,
  longEnv: fc.option(around(1000), { nil: undefined }),
  mounts: fc.option(around(500), { nil: undefined }),
  mountName: text,
});
type ContainerList = typeof containerList extends fc.Arbitrary<infer T> ? T : never;

const case_ = fc.record({
  uid: fc.oneof(fc.uuid(), prototypeName),
  apiVersion: fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'),
  kind: fc.oneof({ arbitrary: fc.constant('Pod'), weight: 6 }, prototypeName, fc.constantFrom('Deployment', 'ServiceAccount')),
  group: text,
  namespace: fc.oneof({ arbitrary: fc.constant(HOSTILE_NAMESPACE), weight: 6 }, prototypeName),
  operation: fc.oneof({ arbitrary: fc.constant('CREATE'), weight: 6 }, prototypeName),
  podName: text,
  generateName: text,
  labelKey: fc.oneof({ arbitrary: fc.constant(USE_LABEL), weight: 6 }, prototypeName),
  labelValue: fc.oneof({ arbitrary: fc.constant('true'), weight: 6 }, prototypeName),
  annotations: fc.dictionary(fc.oneof(prototypeName, fc.constantFrom('azure.workload.identity/proxy-sidecar-port', 'azure.workload.identity/service-account-token-expiration')), text, { maxKeys: 3 }),
  skipNames: fc.option(fc.tuple(around(250), text), { nil: undefined }),
  serviceAccount: fc.oneof({ arbitrary: fc.constantFrom('sa', 'sa', 'default'), weight: 6 }, prototypeName, fc.constant('oversized')),
  containers: containerList,
  initContainers: containerList,
  ephemeral: fc.oneof(fc.constant(0), fc.integer({ min: 20, max: 40 })),
  volumes: around(500),
  volumeName: text,
});
type Case = typeof case_ extends fc.Arbitrary<infer T> ? T : never;

function buildContainers(list: ContainerList, prefix: string): Record<string, unknown>[] {
  return Array.from({ length: list.count }, (_, i) => ({
    name: i < list.names.length ? list.names[i] : `${prefix}${i}`,
    env: i === 0 && list.longEnv !== undefined
      ? Array.from({ length: list.longEnv }, (_, k) => ({ name: `E${k}`, value: 'v' }))
      : list.envNames.map((name) => ({ name, value: list.envValue })),
    ...(i === 0 && list.mounts !== undefined ? { volumeMounts: Array.from({ length: list.mounts }, (_, k) => ({ name: `${list.mountName}${k}`, mountPath: `/m${k}` })) } : {}),
  }));
}

/** Built with computed keys only: a computed `__proto__` key is an own property, as in parsed JSON. */
interface BuiltPod {
  readonly spec: { initContainers: Record<string, unknown>[]; containers: Record<string, unknown>[] };
}

function buildReview(c: Case): { body: string; pod: BuiltPod } {
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(c.annotations)) Object.defineProperty(annotations, key, { value, enumerable: true, writable: true, configurable: true });
  if (c.skipNames) annotations[SKIP] = Array.from({ length: c.skipNames[0] }, (_, i) => `${c.skipNames?.[1] ?? ''}${i}`).join(';');
  const labels = { [c.labelKey]: c.labelValue };
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: c.podName, generateName: c.generateName, namespace: HOSTILE_NAMESPACE, labels, annotations },
    spec: {
      serviceAccountName: c.serviceAccount,
      initContainers: buildContainers(c.initContainers, 'i'),
      containers: buildContainers(c.containers, 'c'),
      ephemeralContainers: Array.from({ length: c.ephemeral }, (_, i) => ({ name: `e${i}` })),
      volumes: Array.from({ length: c.volumes }, (_, i) => ({ name: i === 0 ? c.volumeName : `v${i}`, emptyDir: {} })),
    },
  };
  const request = { uid: c.uid, kind: { group: c.group, version: 'v1', kind: c.kind }, namespace: c.namespace, operation: c.operation, object: pod };
  return { body: JSON.stringify({ apiVersion: c.apiVersion, kind: 'AdmissionReview', request }), pod };
}

/** The limit an opted-in pod exceeds, as the message words it (identity/limits.ts), checked in the same order. */
function expectedLimit(c: Case, pod: BuiltPod): string | undefined {
  if (c.containers.count + c.initContainers.count + c.ephemeral > 250) return 'containers, initContainers and ephemeralContainers together';
  if (c.volumes > 500) return 'volumes; the webhook accepts at most 500 per pod';
  if (c.skipNames && new Set(Array.from({ length: c.skipNames[0] }, (_, i) => `${c.skipNames?.[1] ?? ''}${i}`.trim())).size > 250) return 'names more than 250 containers';
  for (const container of [...pod.spec.initContainers, ...pod.spec.containers]) {
    if ((container.env as unknown[]).length > 1000) return 'env entries; the webhook accepts at most 1,000 per container';
    if (Array.isArray(container.volumeMounts) && container.volumeMounts.length > 500) return 'volumeMounts; the webhook accepts at most 500 per container';
  }
  return undefined;
}

/** Paths a patch may touch: the namespace, env and mounts of (init) containers, injected containers, the token volume. */
const OWNED = /^\/(metadata(\/namespace)?|spec\/(initContainers|containers)(\/\d+(\/(env|volumeMounts)(\/\d+)?)?)?|spec\/volumes(\/\d+)?)$/;

interface Answer {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; patch?: string; status?: { code: number; message: string } };
}

const seen = { limited: 0, patched: 0, denied: 0, allowed: 0 };

async function check(path: string, c: Case): Promise<void> {
  const { body, pod } = buildReview(c);
  const res = await app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/json' }, payload: body });
  if (res.statusCode !== 200) throw new Error(`a decodable review answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
  const out = JSON.parse(res.body) as Answer;
  if (out.apiVersion !== c.apiVersion || out.kind !== 'AdmissionReview' || out.response.uid !== c.uid) throw new Error('version, kind or uid not echoed');
  const { response } = out;
  if (response.status?.code === 500) throw new Error(`an internal error: ${response.status.message}`);
  if (!response.allowed && !response.status?.message.startsWith('wi-admission: ')) throw new Error(`a denial without a message: ${JSON.stringify(response.status)}`);
  if (res.body.length > c.uid.length + 1.5 * 1024 * 1024) throw new Error(`an answer of ${res.body.length} bytes`);
  if (path !== '/mutate-v1-pod') {
    if (response.patch !== undefined) throw new Error('validation returned a patch');
    return;
  }
  const reviewed = c.kind === 'Pod' && c.operation === 'CREATE' && c.labelKey === USE_LABEL && c.labelValue === 'true';
  const limit = reviewed ? expectedLimit(c, pod) : undefined;
  const reason = /\[([A-Za-z]+)\]$/.exec(response.status?.message ?? '')?.[1];
  if (limit !== undefined) {
    if (response.allowed || reason !== 'LimitExceeded' || !response.status?.message.includes(limit)) throw new Error(`over a limit (${limit}) but answered ${JSON.stringify(response)}`);
    seen.limited++;
    return;
  }
  if (reason === 'LimitExceeded' && !(c.serviceAccount === 'oversized' && response.status?.message.includes('bytes of JSON Patch'))) {
    throw new Error(`LimitExceeded within every limit: ${response.status?.message}`);
  }
  if (response.patch === undefined) {
    seen[response.allowed ? 'allowed' : 'denied']++;
    return;
  }
  if (!reviewed) throw new Error('a pod the webhook does not review was patched');
  seen.patched++;
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[];
  for (const op of ops) {
    if ((op.op !== 'add' && op.op !== 'replace') || !OWNED.test(op.path)) throw new Error(`patch ${op.op} ${op.path}`);
  }
  const errors = applyPatch(structuredClone(pod), ops).filter((e) => e !== null);
  if (errors.length > 0) throw new Error(`patch does not apply: ${String(errors[0])}`);
}

void t.test(`/mutate-v1-pod: ${RUNS} reviews around the limits with prototype names everywhere`, async (t) => {
  await fc.assert(fc.asyncProperty(case_, (c) => check('/mutate-v1-pod', c)), { numRuns: RUNS });
  // The property means something only if each branch was taken.
  t.ok(seen.limited > RUNS / 20 && seen.patched > RUNS / 20, `over a limit ${seen.limited}, patched ${seen.patched}, denied otherwise ${seen.denied}, allowed unchanged ${seen.allowed}`);
});

void t.test(`/validate: ${RUNS} reviews around the limits with prototype names everywhere`, async (t) => {
  await fc.assert(fc.asyncProperty(case_, (c) => check('/validate', c)), { numRuns: RUNS });
  t.pass(`${RUNS} reviews answered`);
});

void t.test('no log line reached 16 KiB, and no request was an internal error', async (t) => {
  const longest = Math.max(...sink.text().split('\n').map((l) => Buffer.byteLength(l)));
  t.ok(longest <= MAX_LOG_LINE_BYTES, `longest line ${longest} bytes`);
  t.same(sink.lines.filter((l) => l.level === 50), [], 'nothing logged at error');
});
