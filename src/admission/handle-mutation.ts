import { DEFAULT_SERVICE_ACCOUNT, MAX_ECHOED_VALUE_CHARS, USE_LABEL } from '../identity/constants.js';
import { describePatchTooLarge } from '../identity/limits.js';
import { denyOverLimit, mutatePod, type MutationDenyReason, type MutationSettings } from '../identity/mutate-pod.js';
import { checkPod, podDisplayName, podLabels, type Pod } from '../identity/pod.js';
import { lookupServiceAccount, type ServiceAccountLookup } from '../kube/service-account-lookup.js';
import { truncate } from '../util/truncate.js';
import { createPatch, encodePatch } from './patch.js';
import type { Decision, DecodedReview } from './review.js';

/** Closed set of outcomes of `/mutate-v1-pod`, used in logs and metric labels. */
export type MutationReason =
  | 'Mutated'
  | 'Unchanged'
  | 'NotOptedIn'
  | 'NotAPod'
  | 'NotCreate'
  | 'InvalidPod'
  | 'ServiceAccountNotFound'
  | 'ServiceAccountLookupFailed'
  | MutationDenyReason;

export interface MutationDeps {
  readonly serviceAccounts: ServiceAccountLookup;
  /** Current settings; the native-sidecar decision arrives once the API server version is known. */
  readonly settings: () => MutationSettings;
  readonly serviceAccountLookupTimeoutMs: number;
  /** Counts ServiceAccount lookups by result (metrics). */
  readonly onLookup?: (result: 'cache' | 'live' | 'not_found' | 'error') => void;
}

export interface MutationOutcome {
  readonly decision: Decision;
  readonly reason: MutationReason;
  /** Chosen, bounded fields for the one log line of this admission. */
  readonly context: { namespace?: string; pod?: string; serviceAccount?: string; operation?: string };
}

/**
 * Decode → look up → decide → encode for one pod admission. Never throws for
 * bad input: every problem becomes a denial whose message starts with the
 * object and says what to change.
 */
export async function handleMutation(review: DecodedReview, deps: MutationDeps): Promise<MutationOutcome> {
  const { request } = review;
  const screened = screenRequest(request);
  if ('outcome' in screened) return screened.outcome;
  const { pod, base } = screened;
  const namespace = request.namespace || pod.metadata?.namespace || '';
  const context = { ...base, namespace, pod: podDisplayName(pod) };
  // Only opted-in pods, even if the webhook configuration's selector is widened.
  if (podLabels(pod)[USE_LABEL] !== 'true') return allow('NotOptedIn', context);

  const object = `Pod ${bounded(namespace)}/${bounded(context.pod)}`;
  if (namespace === '') {
    return deny('InvalidPod', 400, `wi-admission: ${object}: the request has no namespace.`, context);
  }
  const serviceAccountName = pod.spec?.serviceAccountName || DEFAULT_SERVICE_ACCOUNT;
  const withSa = { ...context, serviceAccount: serviceAccountName };
  // Limits before any lookup: a pod over one costs one pass over its lists, and no read.
  const overLimit = denyOverLimit(pod);
  if (overLimit) return deny(overLimit.reason, 400, `wi-admission: ${object}: ${overLimit.message}`, withSa);
  const found = await lookupServiceAccount(deps.serviceAccounts, namespace, serviceAccountName, deps.serviceAccountLookupTimeoutMs);
  if (!found.found) {
    deps.onLookup?.(found.error ? 'error' : 'not_found');
    return denyMissingServiceAccount(object, namespace, serviceAccountName, found.error, withSa);
  }
  deps.onLookup?.(found.source);

  const result = mutatePod({ pod, namespace, serviceAccount: found.serviceAccount }, deps.settings());
  if (result.outcome === 'denied') {
    return deny(result.reason, 400, `wi-admission: ${object}: ${result.message}`, withSa);
  }
  const operations = createPatch(request.object, result.pod);
  const encoded = operations.length > 0 ? encodePatch(operations) : undefined;
  if (encoded && !encoded.ok) return deny('LimitExceeded', 400, `wi-admission: ${object}: ${describePatchTooLarge()}`, withSa);
  const decision: Decision = {
    allowed: true,
    ...(encoded ? { patch: encoded.patch } : {}),
    warnings: result.warnings,
  };
  return { decision, reason: operations.length > 0 ? 'Mutated' : 'Unchanged', context: withSa };
}

/** Only pod CREATEs carrying a readable pod go further; the rest is answered here. */
function screenRequest(request: DecodedReview['request']): { outcome: MutationOutcome } | { pod: Pod; base: { operation: string } } {
  const operation = request.operation ?? 'CREATE';
  const base = { operation };
  if (request.kind?.kind !== undefined && request.kind.kind !== 'Pod') return { outcome: allow('NotAPod', base) };
  if (operation !== 'CREATE') return { outcome: allow('NotCreate', base) };
  const checked = checkPod(request.object);
  if (!checked.ok) {
    const object = describeRawPod(request.object, request.namespace);
    return {
      outcome: deny('InvalidPod', 400, `wi-admission: ${object}: couldn't decode the Pod in the request (${checked.error}). Fix the field named.`, base),
    };
  }
  // The raw object itself, not a copy: mutating the raw JSON keeps every
  // unknown field and lets the patch diff skip untouched subtrees by reference.
  return { pod: checked.pod, base };
}

/** The pod is never admitted unmutated when its ServiceAccount cannot be read (upstream). */
function denyMissingServiceAccount(
  object: string,
  namespace: string,
  name: string,
  error: string | undefined,
  context: MutationOutcome['context'],
): MutationOutcome {
  if (error) {
    return deny(
      'ServiceAccountLookupFailed',
      400,
      `wi-admission: ${object}: could not read ServiceAccount ${bounded(namespace)}/${bounded(name)} (${bounded(error)}). ` +
        'The pod was not admitted unmutated; retry, and check that the webhook can reach the API server.',
      context,
    );
  }
  return deny(
    'ServiceAccountNotFound',
    400,
    `wi-admission: ${object}: serviceaccounts "${bounded(name)}" not found in namespace "${bounded(namespace)}". ` +
      'Create the ServiceAccount before the pod, or set spec.serviceAccountName to an existing one.',
    context,
  );
}

/** `Pod ns/name` from an object that failed the type check, as far as it can be read. */
function describeRawPod(object: unknown, namespace: string | undefined): string {
  const metadata = (object as { metadata?: { name?: unknown; generateName?: unknown; namespace?: unknown } } | null)?.metadata;
  const name = typeof metadata?.name === 'string' && metadata.name !== '' ? metadata.name
    : typeof metadata?.generateName === 'string' && metadata.generateName !== '' ? `${metadata.generateName}*` : '<unnamed>';
  const ns = namespace || (typeof metadata?.namespace === 'string' ? metadata.namespace : '');
  return `Pod ${bounded(ns)}/${bounded(name)}`;
}

/** A request value in a message, cut to MAX_ECHOED_VALUE_CHARS. */
function bounded(value: string): string {
  return truncate(value, MAX_ECHOED_VALUE_CHARS);
}

function allow(reason: MutationReason, context: MutationOutcome['context']): MutationOutcome {
  return { decision: { allowed: true }, reason, context };
}

function deny(reason: MutationReason, code: number, message: string, context: MutationOutcome['context']): MutationOutcome {
  return { decision: { allowed: false, status: { code, message: `${message} [${reason}]` } }, reason, context };
}

