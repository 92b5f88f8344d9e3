import type { IdentityDirectory } from '../admission/handle-validation.js';
import { CLIENT_ID_ANNOTATION } from '../identity/constants.js';
import type { IdentityResolution, ManagedIdentity, NamespaceRecord } from '../identity/managed-identity.js';
import type { ServiceAccountRecord } from '../identity/service-account.js';
import { serviceAccountKey } from '../kube/service-account-lookup.js';
import { readTag } from '../policy/approval.js';
import type { Finding, Subject } from '../policy/evaluate.js';
import type { PolicySpec } from '../policy/schema.js';
import { checkBindingWithCredentials, isExemptNamespace, lookupBindingIdentity } from '../admission/binding-check.js';
import { capNotGivenFindings, namespaceNotGiven } from '../check/not-given.js';

/** Identity tags shown in the inventory (Azure tag names are case-insensitive). */
export const OWNER_TAG = 'owner';
export const ENVIRONMENT_TAG = 'environment';
/** Reason of a row in a namespace the policy exempts; not a validation reason. */
export const EXEMPT_REASON = 'Exempt';
/** Directory lookups in flight at once: the ARM source fetches federated credentials per identity. */
export const DEFAULT_INVENTORY_CONCURRENCY = 8;

export type InventoryStatus = 'approved' | 'warned' | 'denied' | 'unchecked';

export interface InventoryRow {
  namespace: string;
  serviceAccount: string;
  clientId: string;
  identityName: string | undefined;
  resourceGroup: string | undefined;
  /** The identity's `owner` tag. */
  owner: string | undefined;
  /** The identity's `environment` tag. */
  environment: string | undefined;
  /** `unchecked` when there is no policy. */
  status: InventoryStatus;
  /** Reason codes of the findings, in order (`Exempt` for an exempt namespace). */
  reasons: string[];
  /** The first finding's message without the `wi-admission: ` prefix and the ` [Reason]` suffix. */
  detail: string | undefined;
  /** Pods using the ServiceAccount (cluster mode); undefined without pod counts. */
  pods: number | undefined;
}

export interface InventoryInput {
  readonly serviceAccounts: readonly ServiceAccountRecord[];
  readonly namespaces: ReadonlyMap<string, NamespaceRecord>;
  /**
   * True when `namespaces` holds every Namespace (listed from a cluster): one
   * missing does not exist and has no labels. False when they come from
   * files: one missing was not given, its labels are unknown (not-given.ts).
   */
  readonly namespacesComplete: boolean;
  /** Undefined without `--identities`: every client ID is then unavailable. */
  readonly directory: IdentityDirectory | undefined;
  /** Undefined: rows are `unchecked`. */
  readonly policy: PolicySpec | undefined;
  readonly audience: string;
  readonly oidcIssuer: string | undefined;
  /** Pods by `namespace/serviceAccount`; when given, a missing key counts 0 pods. */
  readonly podCounts?: ReadonlyMap<string, number>;
  /** Rows evaluated at once; default DEFAULT_INVENTORY_CONCURRENCY. */
  readonly concurrency?: number;
}

/**
 * One row per ServiceAccount with a non-empty client ID, sorted by namespace
 * then name, judged by the same checks the validating webhook runs on a
 * ServiceAccount CREATE. Asks the directory but never throws for its
 * answers: an unreachable inventory is a finding, as in admission.
 */
export async function buildInventoryRows(input: InventoryInput): Promise<InventoryRow[]> {
  const concurrency = input.concurrency ?? DEFAULT_INVENTORY_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  const bound = input.serviceAccounts
    .filter((sa) => (sa.annotations[CLIENT_ID_ANNOTATION] ?? '') !== '')
    .sort((a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name));
  return mapLimited(bound, concurrency, (sa) => buildRow(input, sa));
}

async function buildRow(input: InventoryInput, sa: ServiceAccountRecord): Promise<InventoryRow> {
  const namespace = input.namespaces.get(sa.namespace) ?? (input.namespacesComplete ? { name: sa.namespace, labels: {} } : namespaceNotGiven(sa.namespace));
  const resolution = await lookupBindingIdentity(input.directory, sa.annotations);
  const identity = identityOf(resolution);
  const base = {
    namespace: sa.namespace,
    serviceAccount: sa.name,
    clientId: sa.annotations[CLIENT_ID_ANNOTATION] ?? '',
    identityName: identity?.name,
    resourceGroup: identity?.resourceGroup,
    owner: identity ? readTag(identity.tags, OWNER_TAG) : undefined,
    environment: identity ? readTag(identity.tags, ENVIRONMENT_TAG) : undefined,
  };
  const pods = input.podCounts ? (input.podCounts.get(serviceAccountKey(sa.namespace, sa.name)) ?? 0) : undefined;
  const { policy } = input;
  if (!policy) return { ...base, status: 'unchecked', reasons: [], detail: undefined, pods };
  if (isExemptNamespace(policy, sa.namespace)) return { ...base, status: 'approved', reasons: [EXEMPT_REASON], detail: undefined, pods };

  const subject: Subject = { object: `ServiceAccount ${sa.namespace}/${sa.name}`, namespace, serviceAccountName: sa.name };
  const deps = { identities: input.directory, audience: input.audience, oidcIssuer: input.oidcIssuer };
  const checked = await checkBindingWithCredentials(policy, deps, subject, sa.annotations, resolution);
  const findings = namespace.labels === undefined ? capNotGivenFindings(checked) : checked;
  return {
    ...base,
    status: statusOf(findings),
    reasons: findings.map((f) => f.reason),
    detail: findings[0] ? stripMessage(findings[0]) : undefined,
    pods,
  };
}

/** The identity the client ID points at, also when it is that identity's principal ID. */
function identityOf(resolution: IdentityResolution | undefined): ManagedIdentity | undefined {
  return resolution?.status === 'found' || resolution?.status === 'principalId' ? resolution.identity : undefined;
}

/** Any deny → denied; else any warn → warned; audit findings alone leave it approved (as admission does). */
function statusOf(findings: readonly Finding[]): InventoryStatus {
  if (findings.some((f) => f.action === 'deny')) return 'denied';
  if (findings.some((f) => f.action === 'warn')) return 'warned';
  return 'approved';
}

const MESSAGE_PREFIX = 'wi-admission: ';

function stripMessage(finding: Finding): string {
  let text = finding.message;
  if (text.startsWith(MESSAGE_PREFIX)) text = text.slice(MESSAGE_PREFIX.length);
  const suffix = ` [${finding.reason}]`;
  if (text.endsWith(suffix)) text = text.slice(0, -suffix.length);
  return text;
}

/** Code-unit order, the same in every locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `Promise.all` over `items` with at most `limit` calls in flight; results keep the input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
