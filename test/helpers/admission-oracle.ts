// What the webhook must answer in the small, fixed world of the property
// tests, written from DESIGN §3–§4 and docs/errors.md rather than from the
// code: a few ServiceAccounts in namespace `ns`, one managed identity that
// no policy rule approves there, and examples/policy.yaml. Each `expect*`
// returns the outcome the answer must have: admitted or not, and the reason
// codes it must state (the audit annotation `reasons` of /validate, the
// `[Reason]` of a denial). Where the validator only reports (an UPDATE that
// leaves a binding as it was, what a trusted controller creates) follows
// docs/policy.md, "Where it enforces and what it only reports".
import { readFileSync } from 'node:fs';

export const WORLD = {
  namespace: 'ns',
  clientId: '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2',
  principalId: '11111111-1111-4111-8111-111111111111',
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  /** ServiceAccounts of namespace `ns`, by name, with their annotations. */
  serviceAccounts: {
    sa: { 'azure.workload.identity/client-id': '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2' },
    default: {},
    odd: { 'azure.workload.identity/service-account-token-expiration': '7200', 'azure.workload.identity/tenant-id': '' },
  } as Record<string, Record<string, string>>,
} as const;

const CLIENT_ID = 'azure.workload.identity/client-id';
const TENANT_ID = 'azure.workload.identity/tenant-id';
const TOKEN_EXPIRATION = 'azure.workload.identity/service-account-token-expiration';
const USE_LABEL = 'azure.workload.identity/use';
const EXEMPT = ['kube-system', 'wi-admission'];
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** `enforcement.trustedControllers`' default, read from docs/policy.md's policy example (examples/policy.yaml keeps the default). */
export const TRUSTED_CONTROLLERS = documentedTrustedControllers();

function documentedTrustedControllers(): string[] {
  const doc = readFileSync(new URL('../../docs/policy.md', import.meta.url), 'utf8');
  const block = /^ *trustedControllers:.*\n((?: +- .*\n)+)/m.exec(doc)?.[1] ?? '';
  const names = [...block.matchAll(/- +(\S+)/g)].map((m) => m[1] ?? '');
  if (names.length === 0) throw new Error('docs/policy.md lists no default trustedControllers');
  return names;
}

export interface Expected {
  readonly allowed: boolean;
  /** The reason codes the answer states, as a sorted set. */
  readonly reasons: readonly string[];
  /** A denial the validator only reports here (an existing binding, a controller's pod): admitted with a warning. */
  readonly denialOnlyReported?: boolean;
}

interface Request {
  kind?: { kind?: string };
  operation?: string;
  namespace?: string;
  object?: unknown;
  oldObject?: unknown;
  userInfo?: unknown;
}

type Json = Record<string, unknown>;

/** Every reason code docs/errors.md documents: a section `### Reason`, or a table row whose first cell names it. */
export function documentedReasons(): Set<string> {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const sections = [...doc.matchAll(/^### ([A-Z][A-Za-z]+)$/gm)].map((m) => m[1] ?? '');
  const firstCells = [...doc.matchAll(/^\|([^|]*`[A-Z][A-Za-z]+`[^|]*)\|/gm)].map((m) => m[1] ?? '');
  const inRows = firstCells.flatMap((cell) => [...cell.matchAll(/`([A-Z][A-Za-z]+)`/g)].map((m) => m[1] ?? ''));
  return new Set([...sections, ...inRows]);
}

/** The `[Reason]` codes ending each line of a denial message. */
export function statedReasons(message: string): string[] {
  return message.split('\n').map((line) => /\[([A-Za-z]+)\]$/.exec(line)?.[1] ?? '');
}

/**
 * `/validate` in WORLD (policy: examples/policy.yaml; every rule there is
 * for `*-prod`, and the identity has no namespace tag, so nothing approves
 * it in `ns`). Denials in this world are all `deny` actions; warnings are
 * `MissingUseLabel`, `ClientSecretInPod`, `ClientIdChanged` and a
 * workload's `ServiceAccountNotFound`.
 */
export function expectValidation(request: Request): Expected {
  const kind = request.kind?.kind ?? '';
  const operation = request.operation ?? 'CREATE';
  const object = asObject(request.object);
  const namespace = request.namespace || stringAt(object, ['metadata', 'namespace']) || '';
  const applies = kind === 'Pod' ? operation === 'CREATE' : ['ServiceAccount', 'Deployment', 'CronJob'].includes(kind) && ['CREATE', 'UPDATE'].includes(operation);
  if (!applies || !object || namespace === '' || EXEMPT.includes(namespace)) return outcome([]);
  // An existing binding or a controller's pod: every finding is at most a warning (enforcement defaults).
  const judged = (findings: Finding[]): Expected => {
    if (!findings.some((f) => f.deny) || !onlyReports(request, kind, operation)) return outcome(findings);
    return { ...outcome(findings.map((f) => ({ ...f, deny: false }))), denialOnlyReported: true };
  };
  if (kind === 'ServiceAccount') {
    const annotations = stringMap(valueAt(object, ['metadata', 'annotations']));
    const findings = bindingFindings(annotations);
    const old = asObject(request.oldObject);
    if (old) {
      const before = stringMap(valueAt(old, ['metadata', 'annotations']))[CLIENT_ID] ?? '';
      if (before !== '' && before !== (annotations[CLIENT_ID] ?? '')) findings.push({ reason: 'ClientIdChanged', deny: false });
    }
    return judged(findings);
  }
  const template = templateOf(kind, object);
  if (!template) return outcome([]);
  const name = serviceAccountOf(template);
  const serviceAccount = namespace === WORLD.namespace ? WORLD.serviceAccounts[name] : undefined;
  const clientId = serviceAccount?.[CLIENT_ID] ?? '';
  if (stringAt(template, ['metadata', 'labels', USE_LABEL]) !== 'true') {
    return outcome(clientId !== '' ? [{ reason: 'MissingUseLabel', deny: false }] : []);
  }
  const findings: Finding[] = [];
  if (setsClientSecret(template)) findings.push({ reason: 'ClientSecretInPod', deny: false });
  // A Pod without its ServiceAccount is refused by the mutating webhook; a workload is warned.
  if (!serviceAccount) return outcome(kind !== 'Pod' && name !== 'default' ? [...findings, { reason: 'ServiceAccountNotFound', deny: false }] : findings);
  return judged([...findings, ...bindingFindings(serviceAccount)]);
}

/**
 * docs/policy.md: an UPDATE that leaves the binding as it was (a
 * ServiceAccount's client-id and tenant-id; a workload template's
 * ServiceAccount and `use` label), or a CREATE by a trusted controller of an
 * object with a `controller: true` owner, is only reported.
 */
function onlyReports(request: Request, kind: string, operation: string): boolean {
  if (operation === 'CREATE') {
    return kind !== 'ServiceAccount' && isTrustedController(request.userInfo) && hasControllerOwner(request.object);
  }
  const old = asObject(request.oldObject);
  if (operation !== 'UPDATE' || !old) return false;
  if (kind === 'ServiceAccount') {
    return [CLIENT_ID, TENANT_ID].every((key) => stringAt(old, ['metadata', 'annotations', key]) === stringAt(request.object, ['metadata', 'annotations', key]));
  }
  const before = templateOf(kind, old);
  const after = templateOf(kind, request.object);
  return serviceAccountOf(before) === serviceAccountOf(after) && stringAt(before, ['metadata', 'labels', USE_LABEL]) === stringAt(after, ['metadata', 'labels', USE_LABEL]);
}

function isTrustedController(userInfo: unknown): boolean {
  const info = asObject(userInfo);
  const groups: unknown[] = Array.isArray(info?.groups) ? info.groups : [];
  return [info?.username, ...groups].some((name) => typeof name === 'string' && TRUSTED_CONTROLLERS.includes(name));
}

function hasControllerOwner(object: unknown): boolean {
  const owners = valueAt(object, ['metadata', 'ownerReferences']);
  return Array.isArray(owners) && owners.some((owner) => asObject(owner)?.controller === true);
}

/** The pod of a Pod, the template of a workload. */
function templateOf(kind: string, object: unknown): Json | undefined {
  if (kind === 'Pod') return asObject(object);
  return asObject(kind === 'CronJob' ? valueAt(object, ['spec', 'jobTemplate', 'spec', 'template']) : valueAt(object, ['spec', 'template']));
}

/** The ServiceAccount a pod (template) runs as: serviceAccountName, else the deprecated serviceAccount, else default. */
function serviceAccountOf(template: Json | undefined): string {
  return stringAt(template, ['spec', 'serviceAccountName']) || stringAt(template, ['spec', 'serviceAccount']) || 'default';
}

/**
 * `/mutate-v1-pod` in WORLD, as far as the route decides it: what is not a
 * pod CREATE, or not opted in, passes unchanged; a CREATE without an object,
 * or an opted-in pod without a namespace or whose ServiceAccount does not
 * exist, is denied. `undefined` for an opted-in pod
 * whose ServiceAccount exists: mutated, or denied for one of
 * MUTATION_DENIALS (checked by the caller).
 */
export function expectMutation(request: Request): Expected | undefined {
  if ((request.kind?.kind ?? 'Pod') !== 'Pod' || (request.operation ?? 'CREATE') !== 'CREATE') return outcome([]);
  const object = asObject(request.object);
  // A pod CREATE without a pod in it cannot be judged at all.
  if (!object) return outcome([{ reason: 'InvalidPod', deny: true }]);
  if (stringAt(object, ['metadata', 'labels', USE_LABEL]) !== 'true') return outcome([]);
  const namespace = request.namespace || stringAt(object, ['metadata', 'namespace']) || '';
  if (namespace === '') return outcome([{ reason: 'InvalidPod', deny: true }]);
  const name = stringAt(object, ['spec', 'serviceAccountName']) || 'default';
  if (namespace !== WORLD.namespace || !WORLD.serviceAccounts[name]) return outcome([{ reason: 'ServiceAccountNotFound', deny: true }]);
  return undefined;
}

/** Why an opted-in pod with an existing ServiceAccount may still be refused (docs/errors.md, mutation). */
export const MUTATION_DENIALS = ['InvalidPod', 'HostNetworkProxy', 'InvalidProxyPort', 'InvalidTokenExpiration'];

interface Finding {
  reason: string;
  deny: boolean;
}

/** DESIGN §4, ServiceAccount rows, for WORLD's inventory (one identity). */
function bindingFindings(annotations: Readonly<Record<string, string>>): Finding[] {
  const clientId = annotations[CLIENT_ID] ?? '';
  if (clientId === '') return [];
  const findings: Finding[] = [];
  const expiration = annotations[TOKEN_EXPIRATION] ?? '';
  if (expiration !== '' && !isTokenExpiration(expiration)) findings.push({ reason: 'InvalidTokenExpiration', deny: true });
  if (!GUID.test(clientId)) return [{ reason: 'InvalidClientId', deny: true }, ...findings];
  const id = clientId.toLowerCase();
  if (id === WORLD.principalId) return [{ reason: 'PrincipalIdUsedAsClientId', deny: true }, ...findings];
  if (id !== WORLD.clientId) return [{ reason: 'UnknownIdentity', deny: true }, ...findings];
  findings.push({ reason: 'IdentityNotApproved', deny: true });
  const tenant = annotations[TENANT_ID] ?? '';
  if (tenant !== '' && tenant.toLowerCase() !== WORLD.tenantId) findings.push({ reason: 'TenantMismatch', deny: true });
  return findings;
}

/** A whole number of seconds, optionally signed (Go's ParseInt), from 3600 to 86400. */
function isTokenExpiration(value: string): boolean {
  if (!/^[+-]?[0-9]+$/.test(value)) return false;
  const seconds = Number(value);
  return seconds >= 3600 && seconds <= 86400;
}

function setsClientSecret(template: Json): boolean {
  return ['containers', 'initContainers'].some((key) => {
    const containers = valueAt(template, ['spec', key]);
    return Array.isArray(containers) && containers.some((c) => {
      const env = asObject(c)?.env;
      return Array.isArray(env) && env.some((e) => asObject(e)?.name === 'AZURE_CLIENT_SECRET');
    });
  });
}

function outcome(findings: readonly Finding[]): Expected {
  return { allowed: !findings.some((f) => f.deny), reasons: [...new Set(findings.map((f) => f.reason))].sort() };
}

function stringMap(value: unknown): Record<string, string> {
  const map: Record<string, string> = {};
  for (const [k, v] of Object.entries(asObject(value) ?? {})) if (typeof v === 'string') map[k] = v;
  return map;
}

function valueAt(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    const o = asObject(current);
    if (!o || !Object.hasOwn(o, key)) return undefined;
    current = o[key];
  }
  return current;
}

function stringAt(value: unknown, path: readonly string[]): string | undefined {
  const found = valueAt(value, path);
  return typeof found === 'string' ? found : undefined;
}

function asObject(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}
