import { DEFAULT_SERVICE_ACCOUNT } from '../identity/constants.js';
import type { NamespaceFacts } from '../identity/managed-identity.js';
import { pickIdentityAnnotations } from '../identity/service-account.js';
import { lookupNamespace, type NamespaceLookup } from '../kube/namespace-lookup.js';
import { lookupServiceAccount, type ServiceAccountLookup } from '../kube/service-account-lookup.js';
import { checkClientIdChange, checkPodTemplate, type Finding, type Subject } from '../policy/evaluate.js';
import { checkBindingWithCredentials, isExemptNamespace, lookupBindingIdentity, type IdentityDirectory } from './binding-check.js';
import { applyTreatment, classifyRequest, type BindingTreatment } from './enforcement.js';
import { asObject, podTemplateOf, serviceAccountNameOf, stringAt, templatePathOf, useLabelOf, valueAt, type JsonObject } from './pod-template.js';
import type { PolicySpec } from '../policy/schema.js';
import type { DecodedReview } from './review.js';
import { decideFromFindings, type ValidationDecision } from './validation-decision.js';

export type { IdentityDirectory };
export { TEMPLATE_PATHS } from './pod-template.js';

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
  /** A namespace's labels could not be read (logs and metrics; the finding itself is in the answer). */
  readonly onNamespaceUnavailable?: (namespace: string, reason: string) => void;
}

export interface ValidationOutcome extends ValidationDecision {
  readonly context: { kind?: string; namespace?: string; name?: string; serviceAccount?: string; operation?: string; treatment?: BindingTreatment };
}

/**
 * `POST /validate`: one path, dispatching on the request's kind. The facts
 * (ServiceAccount, Namespace, identity, federated credentials) come from
 * caches; the decision comes from the pure checks in `policy/`, judged by
 * the request's treatment (enforcement.ts): new bindings by each finding's
 * action, existing bindings and controllers' objects capped.
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

  const treatment = classifyRequest({ kind, operation, object, oldObject: request.oldObject, userInfo: request.userInfo }, policy.enforcement.trustedControllers);
  const namespace = await lookupNamespace(deps.namespaces, namespaceName, deps.lookupTimeoutMs);
  if (namespace.labels === undefined) deps.onNamespaceUnavailable?.(namespaceName, namespace.unknownBecause);
  const judged = (findings: Finding[]): ValidationDecision => decideFromFindings(applyTreatment(findings, treatment, policy.enforcement), 'Approved');
  if (kind === 'ServiceAccount') {
    const findings = await validateServiceAccount(policy, deps, namespace, name, object, asObject(request.oldObject));
    return { ...judged(findings), context: { ...context, serviceAccount: name, treatment } };
  }
  const template = podTemplateOf(kind, object);
  const findings = await validatePodTemplate(policy, deps, namespace, `${kind} ${namespaceName}/${name}`, template, kind === 'Pod');
  return { ...judged(findings), context: { ...context, serviceAccount: serviceAccountNameOf(template), treatment } };
}

/** ServiceAccounts and workloads on CREATE/UPDATE; Pods on CREATE only (their spec is immutable). */
function isChecked(kind: string, operation: string): boolean {
  if (kind === 'Pod') return operation === 'CREATE';
  return (kind === 'ServiceAccount' || templatePathOf(kind) !== undefined) && (operation === 'CREATE' || operation === 'UPDATE');
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
  namespace: NamespaceFacts,
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
  namespace: NamespaceFacts,
  objectName: string,
  template: JsonObject | undefined,
  isPod: boolean,
): Promise<Finding[]> {
  if (!template) return [];
  const serviceAccountName = serviceAccountNameOf(template);
  const subject: Subject = { object: objectName, namespace, serviceAccountName };
  const hasUseLabel = useLabelOf(template) === 'true';
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

/** Names of the containers (and init containers) whose env sets AZURE_CLIENT_SECRET; `?` for one without a string name. */
function clientSecretContainers(template: JsonObject): string[] {
  const names: string[] = [];
  for (const key of ['initContainers', 'containers']) {
    const containers = valueAt(template, ['spec', key]);
    if (!Array.isArray(containers)) continue;
    for (const container of containers) {
      const fields = asObject(container);
      const env = fields?.env;
      if (!Array.isArray(env) || !env.some((e) => asObject(e)?.name === 'AZURE_CLIENT_SECRET')) continue;
      names.push(typeof fields?.name === 'string' ? fields.name : '?');
    }
  }
  return names;
}
