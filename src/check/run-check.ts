import type { Operation } from 'rfc6902';
import { handleValidation, TEMPLATE_PATHS, type IdentityDirectory } from '../admission/handle-validation.js';
import { createPatch, encodePatch } from '../admission/patch.js';
import { DEFAULT_SERVICE_ACCOUNT, USE_LABEL } from '../identity/constants.js';
import { describePatchTooLarge } from '../identity/limits.js';
import type { NamespaceRecord } from '../identity/managed-identity.js';
import { mutatePod, type MutationSettings } from '../identity/mutate-pod.js';
import { checkPod } from '../identity/pod.js';
import type { ServiceAccountRecord } from '../identity/service-account.js';
import type { NamespaceLookup } from '../kube/namespace-lookup.js';
import { serviceAccountKey, type ServiceAccountLookup } from '../kube/service-account-lookup.js';
import type { PolicySpec } from '../policy/schema.js';
import { collectObjects, type ManifestObject } from './manifests.js';
import { namespaceNotGiven } from './not-given.js';

export interface CheckFinding {
  readonly file: string;
  readonly line: number;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly severity: 'error' | 'warning';
  readonly reason: string;
  /** The webhook's message without its `wi-admission: ` prefix. */
  readonly message: string;
}

export interface MutationPreview {
  readonly file: string;
  readonly line: number;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** JSON Patch against the pod (template), as the mutating webhook would send it. */
  readonly operations: readonly Operation[];
  /** Where the pod sits in the object, e.g. `/spec/template` ('' for a Pod). */
  readonly podPath: string;
  /** Set when the webhook would refuse the pod instead. */
  readonly denied?: string;
}

export interface CheckOptions {
  readonly policy: PolicySpec | undefined;
  readonly directory: IdentityDirectory | undefined;
  /** ServiceAccounts and Namespaces beyond the manifests (`--objects`). */
  readonly serviceAccounts: readonly ServiceAccountRecord[];
  readonly namespaces: readonly NamespaceRecord[];
  /** A live cluster behind the manifests and `--objects` (`--kubeconfig`). */
  readonly cluster?: { serviceAccounts: ServiceAccountLookup; namespaces: NamespaceLookup };
  readonly audience: string;
  readonly oidcIssuer: string | undefined;
  /** Namespace of objects that name none (like `kubectl apply -n`). */
  readonly defaultNamespace: string;
  /** Given → mutation previews for opted-in pods and pod templates. */
  readonly mutation?: MutationSettings;
}

export interface CheckResult {
  readonly findings: CheckFinding[];
  readonly mutations: MutationPreview[];
  /** Objects the webhooks would look at (ServiceAccounts, Pods, workloads). */
  readonly checked: number;
}

/** Where the pod sits in each kind the webhooks check. */
const POD_PATHS: Readonly<Record<string, readonly string[]>> = { Pod: [], ...TEMPLATE_PATHS };

/**
 * Runs the validating webhook's checks (and, optionally, the mutation) on
 * manifests, offline: the same handler and messages as the server, with
 * ServiceAccounts and Namespaces taken from the manifests first, then
 * `--objects`, then the live cluster.
 */
export async function runCheck(manifests: readonly ManifestObject[], options: CheckOptions): Promise<CheckResult> {
  const withNamespace = manifests.map((m) => ({ ...m, namespace: namespaceOf(m.object, options.defaultNamespace) }));
  const { notGiven, ...lookups } = buildLookups(withNamespace, options);
  const findings: CheckFinding[] = [];
  const mutations: MutationPreview[] = [];
  let checked = 0;
  for (const manifest of withNamespace) {
    // readManifests keeps only objects whose kind is a non-empty string.
    const kind = manifest.object.kind as string;
    // Own keys only: `constructor` or `__proto__` is no kind with a pod.
    const podPath = Object.hasOwn(POD_PATHS, kind) ? POD_PATHS[kind] : undefined;
    if (kind !== 'ServiceAccount' && !podPath) continue;
    checked++;
    const name = nameOf(manifest.object);
    const where = { file: manifest.file, line: manifest.line, kind, namespace: manifest.namespace, name };
    const outcome = await handleValidation(
      {
        apiVersion: 'admission.k8s.io/v1',
        request: {
          uid: `${manifest.file}:${manifest.line}`,
          kind: { group: '', version: 'v1', kind },
          namespace: manifest.namespace,
          operation: 'CREATE',
          object: manifest.object,
        },
      },
      { ...lookups, policy: () => options.policy, identities: options.directory, audience: options.audience, oidcIssuer: options.oidcIssuer, lookupTimeoutMs: 5000 },
    );
    if (!outcome.decision.allowed) {
      for (const message of (outcome.decision.status?.message ?? '').split('\n').filter((m) => m !== '')) {
        const finding = split(message);
        // Labels the command was not given: said, not failed (not-given.ts); the webhook judges them at admission.
        const severity = finding.reason === 'NamespaceUnavailable' && notGiven.has(manifest.namespace) ? 'warning' : 'error';
        findings.push({ ...where, severity, ...finding });
      }
    }
    for (const message of outcome.decision.warnings ?? []) findings.push({ ...where, severity: 'warning', ...split(message) });
    if (options.mutation && podPath) {
      const preview = await previewMutation(manifest.object, podPath, manifest.namespace, lookups.serviceAccounts, options.mutation);
      if (preview) mutations.push({ ...where, ...preview });
    }
  }
  return { findings, mutations, checked };
}

/** The message without the `wi-admission: ` prefix, and its `[Reason]`. */
function split(message: string): { message: string; reason: string } {
  const text = message.replace(/^wi-admission: /, '');
  return { message: text, reason: /\[([A-Za-z]+)\]$/.exec(text)?.[1] ?? 'Unknown' };
}

async function previewMutation(
  object: Record<string, unknown>,
  path: readonly string[],
  namespace: string,
  serviceAccounts: ServiceAccountLookup,
  settings: MutationSettings,
): Promise<Omit<MutationPreview, 'file' | 'line' | 'kind' | 'namespace' | 'name'> | undefined> {
  let template: unknown = object;
  for (const key of path) template = (template as Record<string, unknown> | undefined)?.[key];
  const checked = checkPod(template);
  if (!checked.ok || checked.pod.metadata?.labels?.[USE_LABEL] !== 'true') return undefined;
  const podPath = path.length > 0 ? `/${path.join('/')}` : '';
  const saName = checked.pod.spec?.serviceAccountName || DEFAULT_SERVICE_ACCOUNT;
  const serviceAccount = serviceAccounts.getCached(namespace, saName) ?? (await serviceAccounts.getLive(namespace, saName, AbortSignal.timeout(5000)).catch(() => undefined));
  if (!serviceAccount) return { operations: [], podPath, denied: `serviceaccounts "${saName}" not found in namespace "${namespace}"` };
  // Templates carry no namespace of their own: compare against the same pod with it set, so the preview shows only identity changes.
  const pod = { ...checked.pod, metadata: { ...checked.pod.metadata, namespace } };
  const result = mutatePod({ pod, namespace, serviceAccount }, settings);
  if (result.outcome === 'denied') return { operations: [], podPath, denied: `${result.message} [${result.reason}]` };
  const operations = createPatch(pod, result.pod);
  // The same answer-size limit as the webhook's.
  if (!encodePatch(operations).ok) return { operations: [], podPath, denied: `${describePatchTooLarge()} [LimitExceeded]` };
  return { operations, podPath };
}

function buildLookups(
  manifests: readonly ManifestObject[],
  options: CheckOptions,
): { serviceAccounts: ServiceAccountLookup; namespaces: NamespaceLookup; notGiven: ReadonlySet<string> } {
  const serviceAccounts = new Map<string, ServiceAccountRecord>();
  const namespaces = new Map<string, NamespaceRecord>();
  for (const sa of options.serviceAccounts) serviceAccounts.set(serviceAccountKey(sa.namespace, sa.name), sa);
  for (const ns of options.namespaces) namespaces.set(ns.name, ns);
  const fromManifests = collectObjects(manifests, options.defaultNamespace);
  for (const sa of fromManifests.serviceAccounts) serviceAccounts.set(serviceAccountKey(sa.namespace, sa.name), sa);
  for (const ns of fromManifests.namespaces) namespaces.set(ns.name, ns);
  const cluster = options.cluster;
  // Without a cluster, a Namespace in neither the manifests nor --objects has unknown labels, not none.
  const notGiven = new Set<string>();
  const namespaceNotGivenHere = (name: string): ReturnType<typeof namespaceNotGiven> => {
    notGiven.add(name);
    return namespaceNotGiven(name);
  };
  return {
    notGiven,
    serviceAccounts: {
      getCached: (namespace, name) => serviceAccounts.get(serviceAccountKey(namespace, name)) ?? cluster?.serviceAccounts.getCached(namespace, name),
      getLive: (namespace, name, signal) => cluster?.serviceAccounts.getLive(namespace, name, signal) ?? Promise.resolve(undefined),
      hasSynced: () => true,
      size: () => serviceAccounts.size,
    },
    namespaces: {
      getCached: (name) => namespaces.get(name) ?? cluster?.namespaces.getCached(name),
      getLive: (name, signal) => cluster?.namespaces.getLive(name, signal) ?? Promise.resolve(namespaceNotGivenHere(name)),
      hasSynced: () => true,
      size: () => namespaces.size,
    },
  };
}

function namespaceOf(object: Record<string, unknown>, fallback: string): string {
  const ns = (object.metadata as { namespace?: unknown } | undefined)?.namespace;
  return typeof ns === 'string' && ns !== '' ? ns : fallback;
}

function nameOf(object: Record<string, unknown>): string {
  const metadata = object.metadata as { name?: unknown; generateName?: unknown } | undefined;
  if (typeof metadata?.name === 'string' && metadata.name !== '') return metadata.name;
  return typeof metadata?.generateName === 'string' ? `${metadata.generateName}*` : '<unnamed>';
}
