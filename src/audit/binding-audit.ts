import { checkBindingWithCredentials, lookupBindingIdentity, type BindingDeps } from '../admission/binding-check.js';
import { CLIENT_ID_ANNOTATION } from '../identity/constants.js';
import type { NamespaceFacts } from '../identity/managed-identity.js';
import type { Finding, Subject, ValidationReason } from '../policy/evaluate.js';
import type { PolicySpec } from '../policy/schema.js';

/** A PolicyReport result value (wgpolicyk8s.io/v1alpha2); `skip` is never used. */
export type AuditResult = 'pass' | 'fail' | 'warn' | 'error';

/** One ServiceAccount binding as the audit last judged it. */
export interface BindingAudit {
  readonly name: string;
  readonly clientId: string;
  readonly result: AuditResult;
  /** The policy rule of the deciding finding, else its reason code; `Approved` when it passes. */
  readonly rule: string;
  /** The reason code of the deciding finding; `Approved` when it passes. */
  readonly reason: ValidationReason | 'Approved';
  /** The messages admission gives for a new binding like it (deciding finding first); undefined when it passes (see `describeAudit`). */
  readonly message: string | undefined;
  /** Reason codes of every finding, in order (metrics and Events). */
  readonly reasons: readonly ValidationReason[];
}

const UNAVAILABLE: ReadonlySet<ValidationReason> = new Set(['InventoryUnavailable', 'NamespaceUnavailable']);
const NO_REASONS: readonly ValidationReason[] = Object.freeze([]);

/** The audit's message: admission's findings, or for a passing binding that it may use its client ID. */
export function describeAudit(namespace: string, audit: BindingAudit): string {
  return audit.message ?? `ServiceAccount ${namespace}/${audit.name} may use client ID ${audit.clientId}: the policy approves it for namespace ${namespace}.`;
}

/**
 * A ServiceAccount with a client ID judged as if it were created now: the
 * same checks and messages as a ServiceAccount CREATE at admission. Its
 * result, for a PolicyReport:
 *
 * - `fail`: admission would deny it (a finding whose action is deny);
 * - `error`: it could not be judged (the inventory or its Namespace could not
 *   be read), and nothing else would deny it;
 * - `warn`: only warn or audit findings;
 * - `pass`: no finding.
 */
export async function auditBinding(
  policy: PolicySpec,
  deps: BindingDeps,
  namespace: NamespaceFacts,
  name: string,
  annotations: Readonly<Record<string, string>>,
): Promise<BindingAudit> {
  const clientId = annotations[CLIENT_ID_ANNOTATION] ?? '';
  const subject: Subject = { object: `ServiceAccount ${namespace.name}/${name}`, namespace, serviceAccountName: name };
  const identity = await lookupBindingIdentity(deps.identities, annotations);
  const findings = await checkBindingWithCredentials(policy, deps, subject, annotations, identity);
  // Most bindings pass: they share one empty list and build their message only when a report is written.
  if (findings.length === 0) return { name, clientId, result: 'pass', rule: 'Approved', reason: 'Approved', message: undefined, reasons: NO_REASONS };
  const reasons = findings.map((f) => f.reason);
  const ordered = [...findings].sort((a, b) => rank(b) - rank(a));
  const deciding = ordered[0] as Finding;
  return {
    name,
    clientId,
    result: resultOf(deciding),
    rule: deciding.rule ?? deciding.reason,
    reason: deciding.reason,
    message: ordered.map((f) => f.message).join('\n'),
    reasons,
  };
}

/** Deny before unavailable before warn before audit; the order is stable otherwise. */
function rank(finding: Finding): number {
  if (finding.action === 'deny') return UNAVAILABLE.has(finding.reason) ? 2 : 3;
  return UNAVAILABLE.has(finding.reason) ? 2 : finding.action === 'warn' ? 1 : 0;
}

function resultOf(deciding: Finding): AuditResult {
  switch (rank(deciding)) {
    case 3:
      return 'fail';
    case 2:
      return 'error';
    default:
      return 'warn';
  }
}
