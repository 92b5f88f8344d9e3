import picomatch from 'picomatch';
import { CLIENT_ID_ANNOTATION, TENANT_ID_ANNOTATION } from '../identity/constants.js';
import type { Finding } from '../policy/evaluate.js';
import type { Action, Enforcement } from '../policy/schema.js';
import { asObject, podTemplateOf, serviceAccountNameOf, stringAt, templatePathOf, useLabelOf, valueAt } from './pod-template.js';

/**
 * How a validated request is judged (docs/policy.md "Where it enforces and
 * what it only reports"). Approval lives in Azure and changes outside the
 * cluster, so the validator denies where a binding is introduced or changed,
 * and never where it only carries on:
 *
 * - `new`: a binding is introduced or changed; every finding keeps its own action.
 * - `existing`: an UPDATE that leaves the binding as it was; findings are capped
 *   at `spec.enforcement.existingBindings` (warn).
 * - `controller`: a trusted controller creates a pod (or a ReplicaSet or Job)
 *   for a workload it owns; findings are capped at `spec.enforcement.controllerPods` (warn).
 */
export type BindingTreatment = 'new' | 'existing' | 'controller';

/** The parts of an AdmissionRequest the classification reads, as the API server sent them (untrusted shapes). */
export interface ClassifiedRequest {
  readonly kind: string;
  readonly operation: string;
  readonly object: unknown;
  /** Absent on CREATE; an UPDATE without it is judged as new (unknown is not unchanged). */
  readonly oldObject?: unknown;
  readonly userInfo?: unknown;
}

/**
 * Pure: the treatment of a request, from its kind, operation, objects and
 * sender. A ServiceAccount UPDATE is existing when its client-id and
 * tenant-id annotations are unchanged; a workload UPDATE when its pod
 * template keeps its ServiceAccount and its `azure.workload.identity/use`
 * label. A CREATE is new, unless it comes from a trusted controller (by
 * username or group) and names a `controller: true` owner: a forged owner
 * reference from anyone else is still new.
 */
export function classifyRequest(request: ClassifiedRequest, trustedControllers: readonly string[]): BindingTreatment {
  const { kind, operation } = request;
  if (operation === 'CREATE') {
    if (kind === 'ServiceAccount') return 'new';
    return isTrustedController(request.userInfo, trustedControllers) && hasControllerOwner(request.object) ? 'controller' : 'new';
  }
  if (operation !== 'UPDATE') return 'new';
  const old = asObject(request.oldObject);
  if (!old) return 'new';
  if (kind === 'ServiceAccount') {
    const same = [CLIENT_ID_ANNOTATION, TENANT_ID_ANNOTATION].every(
      (key) => stringAt(request.object, ['metadata', 'annotations', key]) === stringAt(old, ['metadata', 'annotations', key]),
    );
    return same ? 'existing' : 'new';
  }
  if (templatePathOf(kind) === undefined) return 'new';
  const before = podTemplateOf(kind, old);
  const after = podTemplateOf(kind, request.object);
  const same = serviceAccountNameOf(before) === serviceAccountNameOf(after) && useLabelOf(before) === useLabelOf(after);
  return same ? 'existing' : 'new';
}

/** True when the sender's username or one of its groups matches a glob of the list. */
export function isTrustedController(userInfo: unknown, trustedControllers: readonly string[]): boolean {
  const info = asObject(userInfo);
  if (!info || trustedControllers.length === 0) return false;
  const matches = matcherFor(trustedControllers);
  if (typeof info.username === 'string' && matches(info.username)) return true;
  return Array.isArray(info.groups) && info.groups.some((group) => typeof group === 'string' && matches(group));
}

/** An ownerReference with `controller: true` (the object is managed by its owner's controller). */
export function hasControllerOwner(object: unknown): boolean {
  const owners = valueAt(object, ['metadata', 'ownerReferences']);
  return Array.isArray(owners) && owners.some((owner) => asObject(owner)?.controller === true);
}

const matchers = new WeakMap<readonly string[], (text: string) => boolean>();

/** One compiled matcher per policy's list (the policy object is replaced whole on reload). */
function matcherFor(globs: readonly string[]): (text: string) => boolean {
  let matcher = matchers.get(globs);
  if (!matcher) {
    matcher = picomatch([...globs], { dot: true });
    matchers.set(globs, matcher);
  }
  return matcher;
}

const SEVERITY: Readonly<Record<Action, number>> = { audit: 0, warn: 1, deny: 2 };

/** Reasons that say the facts could not be read: never a denial of what already runs. */
const UNAVAILABLE_REASONS: ReadonlySet<string> = new Set(['InventoryUnavailable', 'NamespaceUnavailable']);

/**
 * The findings as the treatment judges them. New bindings keep every
 * finding's action. For existing bindings and controller-created objects
 * each action is capped at the policy's `enforcement` setting, and an
 * unavailable inventory or namespace at `warn` whatever that setting says;
 * a finding whose action was lowered says so in its message.
 */
export function applyTreatment(findings: readonly Finding[], treatment: BindingTreatment, enforcement: Enforcement): Finding[] {
  if (treatment === 'new') return [...findings];
  const setting = treatment === 'existing' ? 'existingBindings' : 'controllerPods';
  const configured = enforcement[setting];
  return findings.map((f) => {
    const unavailable = UNAVAILABLE_REASONS.has(f.reason);
    const action = lesser(f.action, unavailable ? lesser(configured, 'warn') : configured);
    if (action === f.action) return f;
    const note = unavailable
      ? 'Admitted all the same: facts that cannot be read never deny an existing binding or what a trusted controller creates.'
      : admittedBecause(treatment, setting, configured);
    return { ...f, action, message: withNote(f, note) };
  });
}

function lesser(a: Action, b: Action): Action {
  return SEVERITY[a] <= SEVERITY[b] ? a : b;
}

function admittedBecause(treatment: Exclude<BindingTreatment, 'new'>, setting: string, configured: Action): string {
  return treatment === 'existing'
    ? `Admitted because this change leaves an existing binding as it was (spec.enforcement.${setting}: ${configured}); fix the binding, or a change to it is refused.`
    : `Admitted because a trusted controller creates it for a workload admitted before (spec.enforcement.${setting}: ${configured}); fix the binding, or new workloads using it are refused.`;
}

/** The note goes before the closing `[Reason]`, which stays last. */
function withNote(finding: Finding, note: string): string {
  const suffix = ` [${finding.reason}]`;
  const text = finding.message.endsWith(suffix) ? finding.message.slice(0, -suffix.length) : finding.message;
  return `${text} ${note}${suffix}`;
}
