import { DEFAULT_SERVICE_ACCOUNT, USE_LABEL } from '../identity/constants.js';
import type { NamespaceRecord } from '../identity/managed-identity.js';
import { pickIdentityAnnotations } from '../identity/service-account.js';
import { lookupNamespace, type NamespaceLookup } from '../kube/namespace-lookup.js';
import { lookupServiceAccount, type ServiceAccountLookup } from '../kube/service-account-lookup.js';
import { checkClientIdChange, checkPodTemplate, type Finding, type Subject } from '../policy/evaluate.js';
import { checkBindingWithCredentials, isExemptNamespace, lookupBindingIdentity, type IdentityDirectory } from './binding-check.js';
import type { PolicySpec } from '../policy/schema.js';
import type { DecodedReview } from './review.js';
import { decideFromFindings, type ValidationDecision } from './validation-decision.js';

export type { IdentityDirectory };

export interface ValidationDeps {
  /** The current policy; undefined when none is configured (everything is admitted). */
  readonly policy: () => PolicySpec | undefined;
  readonly serviceAccounts: ServiceAccountLookup;
  readonly namespaces: NamespaceLookup;
  /** Undefined without `--identities`: every client ID is then unavailable. */
  readonly identities: IdentityDirectory | undefined;
  readonly audience: string;
  readonly oidcIssuer: string | undefined;
  readonly lookupTimeoutMs: number;
}

export interface ValidationOutcome extends ValidationDecision {
  readonly context: { kind?: string; namespace?: string; name?: string; serviceAccount?: string; operation?: string };
}

/** Workload kinds whose pod template is checked, and where the template sits. */
export const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

type JsonObject = Record<string, unknown>;

/**
 * `POST /validate`: one path, dispatching on the request's kind. The facts
 * (ServiceAccount, Namespace, identity, federated credentials) come from
 * caches; the decision comes from the pure checks in `policy/`.
 */
export async function handleValidation(review: DecodedReview, deps: ValidationDeps): Promise<ValidationOutcome> {
  const { request } = review;
  const kind = request.kind?.kind ?? '';
  const operation = request.operation ?? 'CREATE';
  const object = asObject(request.object);
  const namespaceName = request.namespace || stringAt(object, ['metadata', 'namespace']) || '';
  const name = objectName(object, request.name);
  const context = { kind, namespace: namespaceName, name, operation };
  const allow = (reason: string): ValidationOutcome => ({ decision: { allowed: true }, reason, context });

  if (!isChecked(kind, operation)) return allow('NotApplicable');
  const policy = deps.policy();
  if (!policy) return allow('PolicyNotConfigured');
  if (namespaceName === '' || !object) return allow('NotApplicable');
  if (isExemptNamespace(policy, namespaceName)) return allow('Exempt');

  const namespace = await lookupNamespace(deps.namespaces, namespaceName, deps.lookupTimeoutMs);
  if (kind === 'ServiceAccount') {
    const findings = await validateServiceAccount(policy, deps, namespace, name, object, asObject(request.oldObject));
    return { ...decideFromFindings(findings, 'Approved'), context: { ...context, serviceAccount: name } };
  }
  const template = kind === 'Pod' ? object : asObject(valueAt(object, Object.hasOwn(TEMPLATE_PATHS, kind) ? (TEMPLATE_PATHS[kind] ?? []) : []));
  const findings = await validatePodTemplate(policy, deps, namespace, `${kind} ${namespaceName}/${name}`, template, kind === 'Pod');
  return { ...decideFromFindings(findings, 'Approved'), context: { ...context, serviceAccount: serviceAccountNameOf(template) } };
}

/** ServiceAccounts and workloads on CREATE/UPDATE; Pods on CREATE only (their spec is immutable). */
function isChecked(kind: string, operation: string): boolean {
  if (kind === 'Pod') return operation === 'CREATE';
  // Own keys only: `constructor` or `__proto__` is no workload kind.
  return (kind === 'ServiceAccount' || Object.hasOwn(TEMPLATE_PATHS, kind)) && (operation === 'CREATE' || operation === 'UPDATE');
}

/** The name, or `generateName*` for objects named by the API server. */
function objectName(object: JsonObject | undefined, fallback: string | undefined): string {
  const name = stringAt(object, ['metadata', 'name']);
  if (name) return name;
  const prefix = stringAt(object, ['metadata', 'generateName']);
  return prefix ? `${prefix}*` : (fallback ?? '');
}

async function validateServiceAccount(
  policy: PolicySpec,
  deps: ValidationDeps,
  namespace: NamespaceRecord,
  name: string,
  object: JsonObject,
  oldObject: JsonObject | undefined,
): Promise<Finding[]> {
  const subject: Subject = { object: `ServiceAccount ${namespace.name}/${name}`, namespace, serviceAccountName: name };
  const annotations = pickIdentityAnnotations(asObject(valueAt(object, ['metadata', 'annotations'])));
  const old = oldObject ? pickIdentityAnnotations(asObject(valueAt(oldObject, ['metadata', 'annotations']))) : undefined;
  return [...(await bindingFindings(policy, deps, subject, annotations)), ...checkClientIdChange(subject, old, annotations)];
}

async function validatePodTemplate(
  policy: PolicySpec,
  deps: ValidationDeps,
  namespace: NamespaceRecord,
  objectName: string,
  template: JsonObject | undefined,
  isPod: boolean,
): Promise<Finding[]> {
  if (!template) return [];
  const serviceAccountName = serviceAccountNameOf(template);
  const subject: Subject = { object: objectName, namespace, serviceAccountName };
  const hasUseLabel = stringAt(template, ['metadata', 'labels', USE_LABEL]) === 'true';
  const found = await lookupServiceAccount(deps.serviceAccounts, namespace.name, serviceAccountName, deps.lookupTimeoutMs);
  const annotations = found.found ? found.serviceAccount.annotations : undefined;
  const findings = checkPodTemplate(policy, subject, { hasUseLabel, clientSecretContainers: clientSecretContainers(template), serviceAccountAnnotations: annotations });
  if (!hasUseLabel) return findings;
  if (!annotations) {
    // A Pod is refused by the mutating webhook already; a workload only learns it from its ReplicaSet's events.
    if (!isPod && serviceAccountName !== DEFAULT_SERVICE_ACCOUNT) {
      findings.push({
        reason: 'ServiceAccountNotFound',
        action: 'warn',
        code: 400,
        message: `wi-admission: ${objectName} uses ServiceAccount ${serviceAccountName}, which does not exist in namespace ${namespace.name} yet; its pods will be rejected until it is created. [ServiceAccountNotFound]`,
      });
    }
    return findings;
  }
  return [...findings, ...(await bindingFindings(policy, deps, subject, annotations))];
}

/** Asks the inventory only what the checks need: the identity for a GUID, credentials for an admitted one. */
async function bindingFindings(policy: PolicySpec, deps: ValidationDeps, subject: Subject, annotations: Readonly<Record<string, string>>): Promise<Finding[]> {
  const identity = await lookupBindingIdentity(deps.identities, annotations);
  return checkBindingWithCredentials(policy, deps, subject, annotations, identity);
}

function serviceAccountNameOf(template: JsonObject | undefined): string {
  return stringAt(template, ['spec', 'serviceAccountName']) || stringAt(template, ['spec', 'serviceAccount']) || DEFAULT_SERVICE_ACCOUNT;
}

function clientSecretContainers(template: JsonObject): string[] {
  const names: string[] = [];
  for (const key of ['initContainers', 'containers']) {
    const containers = valueAt(template, ['spec', key]);
    if (!Array.isArray(containers)) continue;
    for (const container of containers) {
      const env = asObject(container)?.env;
      // The name only if it is a string: String() of a hostile object would throw.
      const name = asObject(container)?.name;
      if (Array.isArray(env) && env.some((e) => asObject(e)?.name === 'AZURE_CLIENT_SECRET')) names.push(typeof name === 'string' ? name : '?');
    }
  }
  return names;
}

function valueAt(object: unknown, path: readonly string[]): unknown {
  let current: unknown = object;
  for (const key of path) {
    const o = asObject(current);
    if (!o || !Object.hasOwn(o, key)) return undefined;
    current = o[key];
  }
  return current;
}

function stringAt(object: unknown, path: readonly string[]): string | undefined {
  const value = valueAt(object, path);
  return typeof value === 'string' ? value : undefined;
}

function asObject(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}
