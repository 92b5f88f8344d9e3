import {
  AZURE_AUTHORITY_HOST_ENV,
  AZURE_CLIENT_ID_ENV,
  AZURE_FEDERATED_TOKEN_FILE_ENV,
  AZURE_KUBERNETES_CA_DATA_ENV,
  AZURE_KUBERNETES_CA_FILE_ENV,
  AZURE_KUBERNETES_SNI_NAME_ENV,
  AZURE_KUBERNETES_TOKEN_PROXY_ENV,
  AZURE_TENANT_ID_ENV,
  CA_FILE_PATH,
  CLIENT_ID_ANNOTATION,
  GENERATE_NAME_SUFFIX,
  MAX_ECHOED_VALUE_CHARS,
  MAX_SKIP_CONTAINER_NAMES,
  PROXY_SIDECAR_PORT_ANNOTATION,
  SERVICE_ACCOUNT_TOKEN_EXPIRATION_ANNOTATION,
  SKIP_CONTAINERS_ANNOTATION,
  TENANT_ID_ANNOTATION,
  TOKEN_FILE_PATH,
  TOKEN_MOUNT_PATH,
} from './constants.js';
import { addEnvironmentVariables, addProjectedVolumeMount, putVolume, type EnvVar } from './containers.js';
import { findExceededLimit } from './limits.js';
import { podAnnotations, podNameForHashing, type JsonObject, type Pod } from './pod.js';
import { injectProxyContainers, resolveProxyPort, shouldInjectProxy, type ProxySettings } from './proxy.js';
import type { ServiceAccountRecord } from './service-account.js';
import { resolveTokenExpiration } from './token-expiration.js';
import { buildTokenVolume, buildVolumeName, type CaSource } from './token-volume.js';
import { truncate } from '../util/truncate.js';

/** The custom token endpoint (upstream §5), enabled by two flags together. */
export interface CustomTokenEndpoint {
  /** Pod annotation key, `azure.workload.identity/use-<suffix>`; value "true" in any case opts in. */
  readonly annotation: string;
  readonly audience: string;
  readonly tokenProxy: string;
  readonly sniName: string;
  readonly caData: string;
  readonly caSource: CaSource;
}

/** Everything the mutation needs from the webhook's configuration, fixed at start. */
export interface MutationSettings {
  readonly audience: string;
  /** Authority host with trailing slash; "" injects nothing. */
  readonly authorityHost: string;
  /** `AZURE_TENANT_ID` of the webhook: used when the SA has no tenant-id annotation. */
  readonly defaultTenantId: string;
  readonly proxy: ProxySettings;
  readonly customTokenEndpoint: CustomTokenEndpoint | undefined;
}

export interface MutationInput {
  /** The raw pod as the API server sent it (already checked with `checkPod`); never modified. */
  readonly pod: Pod;
  /** The AdmissionRequest's namespace, which wins over the pod's own. */
  readonly namespace: string;
  readonly serviceAccount: ServiceAccountRecord;
}

/** Closed set of reasons a pod is refused by the mutation. */
export type MutationDenyReason =
  | 'LimitExceeded'
  | 'HostNetworkProxy'
  | 'InvalidProxyPort'
  | 'InvalidTokenExpiration'
  | 'KubernetesVersionUnknown';

export type MutationResult =
  | { outcome: 'mutated'; pod: JsonObject; warnings: string[] }
  | { outcome: 'denied'; reason: MutationDenyReason; message: string };

/**
 * Mutates an opted-in pod as the upstream webhook v1.6.0 does, on a copy of
 * the raw JSON. Order decides which error wins: the limits on hostile input
 * (ours) first, then as upstream `Handle`: proxy (hostNetwork, then port) →
 * token expiration → env and mounts of init containers, then containers
 * (injected proxy containers included) → volume.
 * Messages of denials are the problem alone; the caller prefixes the object.
 */
export function mutatePod(input: MutationInput, settings: MutationSettings): MutationResult {
  const { serviceAccount } = input;
  // Copy-on-write: only the objects on the paths the mutation changes are
  // copied; everything else is shared with the input, which stays untouched
  // and lets the patch diff skip identical subtrees by reference.
  const metadata: JsonObject = { ...input.pod.metadata };
  const spec: JsonObject = { ...input.pod.spec };
  const pod: JsonObject = { ...input.pod, metadata, spec };
  const annotations = podAnnotations(input.pod);
  const overLimit = denyOverLimit(input.pod);
  if (overLimit) return overLimit;
  const skip = parseSkipContainers(annotations);
  // Controller-created pods may arrive without a namespace (upstream sets it too).
  if (metadata.namespace !== input.namespace) metadata.namespace = input.namespace;

  if (shouldInjectProxy(annotations)) {
    const denial = injectProxy(spec, annotations, settings.proxy);
    if (denial) return denial;
  }

  const expiration = resolveTokenExpiration(annotations, serviceAccount.annotations);
  if (!expiration.ok) {
    const on = expiration.source === 'pod' ? 'the Pod' : `ServiceAccount ${truncate(serviceAccount.name, MAX_ECHOED_VALUE_CHARS)}`;
    return {
      outcome: 'denied',
      reason: 'InvalidTokenExpiration',
      message:
        `annotation ${SERVICE_ACCOUNT_TOKEN_EXPIRATION_ANNOTATION}=${quoteBounded(expiration.value)} on ${on} ` +
        `is not usable (${expiration.error}). Set it to a whole number of seconds from 3600 to 86400, e.g. "3600".`,
    };
  }

  const cte = usesCustomTokenEndpoint(annotations, settings.customTokenEndpoint);
  const desiredEnv = buildDesiredEnv(serviceAccount, settings, cte);
  const volumeName = buildVolumeName(podNameForHashing(input.pod, GENERATE_NAME_SUFFIX));

  for (const key of ['initContainers', 'containers'] as const) {
    if (!Array.isArray(spec[key])) continue;
    const containers = (spec[key] as JsonObject[]).map((c) => (skip.has(c.name as string) ? c : { ...c }));
    spec[key] = containers;
    for (const container of containers) {
      if (skip.has(container.name as string)) continue;
      addEnvironmentVariables(container, desiredEnv);
      addProjectedVolumeMount(container, volumeName, TOKEN_MOUNT_PATH);
    }
  }

  const audience = cte ? cte.audience : settings.audience;
  putVolume(spec, buildTokenVolume(volumeName, audience, expiration.seconds, cte ? cte.caSource : { kind: 'none' }));

  return { outcome: 'mutated', pod, warnings: collectWarnings(serviceAccount, spec, skip) };
}

/**
 * The denial of a pod over one of the limits on hostile input, if it is:
 * one pass over its container lists. The handler asks before any lookup;
 * `mutatePod` asks again first thing, for its other callers.
 */
export function denyOverLimit(pod: Pod): Extract<MutationResult, { outcome: 'denied' }> | undefined {
  const exceeded = findExceededLimit(pod, parseSkipContainers(podAnnotations(pod)).size);
  return exceeded === undefined ? undefined : { outcome: 'denied', reason: 'LimitExceeded', message: exceeded };
}

function injectProxy(
  spec: JsonObject,
  annotations: Readonly<Record<string, string>>,
  proxy: ProxySettings,
): MutationResult | undefined {
  // hostNetwork would let the iptables rules rewrite the node's own network.
  if (spec.hostNetwork === true) {
    return {
      outcome: 'denied',
      reason: 'HostNetworkProxy',
      message:
        'hostNetwork is set to true, cannot inject proxy sidecar. ' +
        'Remove the azure.workload.identity/inject-proxy-sidecar annotation or run the pod without hostNetwork.',
    };
  }
  const port = resolveProxyPort(annotations);
  if (!port.ok) {
    return {
      outcome: 'denied',
      reason: 'InvalidProxyPort',
      message:
        `annotation ${PROXY_SIDECAR_PORT_ANNOTATION}=${quoteBounded(port.value)} is not usable (${port.error}). ` +
        'Set it to a port number from 1 to 65535, or remove it to use 8000.',
    };
  }
  if (proxy.nativeSidecar === undefined) {
    return {
      outcome: 'denied',
      reason: 'KubernetesVersionUnknown',
      message:
        'the webhook has not yet learned the API server version it needs to place the proxy sidecar. ' +
        'Retry in a moment; if it persists, check that the webhook can reach the API server.',
    };
  }
  injectProxyContainers(spec, port.port, { ...proxy, nativeSidecar: proxy.nativeSidecar });
  return undefined;
}

/** Variables in upstream's fixed order; empty values are dropped later by `addEnvironmentVariables`. */
function buildDesiredEnv(
  serviceAccount: ServiceAccountRecord,
  settings: MutationSettings,
  cte: CustomTokenEndpoint | undefined,
): EnvVar[] {
  const env: EnvVar[] = [
    { name: AZURE_CLIENT_ID_ENV, value: serviceAccount.annotations[CLIENT_ID_ANNOTATION] ?? '' },
    { name: AZURE_TENANT_ID_ENV, value: resolveTenantId(serviceAccount, settings.defaultTenantId) },
    { name: AZURE_FEDERATED_TOKEN_FILE_ENV, value: `${TOKEN_MOUNT_PATH}/${TOKEN_FILE_PATH}` },
    { name: AZURE_AUTHORITY_HOST_ENV, value: settings.authorityHost },
  ];
  if (cte) {
    env.push(
      { name: AZURE_KUBERNETES_TOKEN_PROXY_ENV, value: cte.tokenProxy },
      { name: AZURE_KUBERNETES_SNI_NAME_ENV, value: cte.sniName },
      // Injected even when the CA comes inline and no file exists (upstream quirk, kept).
      { name: AZURE_KUBERNETES_CA_FILE_ENV, value: `${TOKEN_MOUNT_PATH}/${CA_FILE_PATH}` },
      { name: AZURE_KUBERNETES_CA_DATA_ENV, value: cte.caData },
    );
  }
  return env;
}

/**
 * The tenant annotation wins whenever its key is present, even when empty
 * (then no AZURE_TENANT_ID at all, no fallback); absent → the webhook's tenant.
 */
export function resolveTenantId(serviceAccount: ServiceAccountRecord, defaultTenantId: string): string {
  const annotated = serviceAccount.annotations[TENANT_ID_ANNOTATION];
  return annotated !== undefined ? annotated : defaultTenantId;
}

const NO_CONTAINERS: ReadonlySet<string> = new Set();

/**
 * `;`-separated, each entry trimmed, exact case-sensitive names; empty
 * entries match nothing. Reading stops one name past
 * MAX_SKIP_CONTAINER_NAMES, which the pod is denied for anyway: a megabyte
 * of names is never split into strings.
 */
export function parseSkipContainers(annotations: Readonly<Record<string, string>>): ReadonlySet<string> {
  const value = annotations[SKIP_CONTAINERS_ANNOTATION] ?? '';
  if (value === '') return NO_CONTAINERS;
  const names = new Set<string>();
  for (let start = 0; start <= value.length && names.size <= MAX_SKIP_CONTAINER_NAMES; ) {
    const separator = value.indexOf(';', start);
    const end = separator < 0 ? value.length : separator;
    const name = value.slice(start, end).trim();
    if (name !== '') names.add(name);
    start = end + 1;
  }
  return names;
}

function usesCustomTokenEndpoint(
  annotations: Readonly<Record<string, string>>,
  cte: CustomTokenEndpoint | undefined,
): CustomTokenEndpoint | undefined {
  if (!cte) return undefined;
  return annotations[cte.annotation]?.toLowerCase() === 'true' ? cte : undefined;
}

/** Unknown skip-containers names a warning lists; it counts the rest. */
const MAX_NAMES_IN_WARNING = 10;

/** Admission warnings kubectl shows: mistakes upstream lets pass silently. */
function collectWarnings(
  serviceAccount: ServiceAccountRecord,
  spec: JsonObject,
  skip: ReadonlySet<string>,
): string[] {
  const warnings: string[] = [];
  const sa = `ServiceAccount ${serviceAccount.namespace}/${truncate(serviceAccount.name, MAX_ECHOED_VALUE_CHARS)}`;
  if ((serviceAccount.annotations[CLIENT_ID_ANNOTATION] ?? '') === '') {
    warnings.push(
      `${sa} has no ${CLIENT_ID_ANNOTATION} annotation, so AZURE_CLIENT_ID was not injected; ` +
        'annotate it with the identity\'s client ID unless the app sets the client ID itself.',
    );
  }
  if (serviceAccount.annotations[TENANT_ID_ANNOTATION] === '') {
    warnings.push(
      `${sa} has an empty ${TENANT_ID_ANNOTATION} annotation, so AZURE_TENANT_ID was not injected; ` +
        'set the tenant ID or remove the annotation to use the webhook\'s default tenant.',
    );
  }
  if (skip.size === 0) return warnings;
  // One set of the pod's names, then one lookup per skip name: linear in both.
  const names = containerNames(spec);
  const unknown = [...skip].filter((name) => !names.has(name));
  if (unknown.length > 0) {
    const listed = unknown.slice(0, MAX_NAMES_IN_WARNING).map(quoteBounded).join(', ');
    const more = unknown.length > MAX_NAMES_IN_WARNING ? ` and ${unknown.length - MAX_NAMES_IN_WARNING} more` : '';
    warnings.push(
      `${SKIP_CONTAINERS_ANNOTATION} names ${listed}${more}, ` +
        'which is not a container of this pod; check the spelling (names are case-sensitive).',
    );
  }
  return warnings;
}

function containerNames(spec: JsonObject): Set<string> {
  const names = new Set<string>();
  for (const key of ['initContainers', 'containers'] as const) {
    if (Array.isArray(spec[key])) for (const c of spec[key] as JsonObject[]) names.add(c.name as string);
  }
  return names;
}

/** A request value in a message: JSON-quoted, at most MAX_ECHOED_VALUE_CHARS of it. */
function quoteBounded(value: string): string {
  return JSON.stringify(truncate(value, MAX_ECHOED_VALUE_CHARS));
}
