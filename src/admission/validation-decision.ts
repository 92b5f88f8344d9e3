import type { Finding } from '../policy/evaluate.js';
import type { Decision } from './review.js';

export interface ValidationDecision {
  readonly decision: Decision & { auditAnnotations?: Record<string, string> };
  /** The reason for logs and metrics: the first denial, else the first finding, else `fallback`. */
  readonly reason: string;
}

/**
 * Findings → one answer: any `deny` rejects (every denial message, first
 * one first); `warn` findings become warnings kubectl prints; `audit`
 * findings and all reasons go into audit annotations.
 */
export function decideFromFindings(findings: readonly Finding[], fallback: string): ValidationDecision {
  const denials = findings.filter((f) => f.action === 'deny');
  const warnings = findings.filter((f) => f.action === 'warn').map((f) => f.message);
  const auditAnnotations: Record<string, string> = {};
  if (findings.length > 0) auditAnnotations.reasons = [...new Set(findings.map((f) => f.reason))].join(',');
  for (const f of findings.filter((x) => x.action === 'audit')) auditAnnotations[`audit-${f.reason.toLowerCase()}`] = f.message;
  const first = denials[0];
  const base = {
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(Object.keys(auditAnnotations).length > 0 ? { auditAnnotations } : {}),
  };
  if (first) {
    return {
      decision: { allowed: false, status: { code: first.code, message: denials.map((d) => d.message).join('\n') }, ...base },
      reason: first.reason,
    };
  }
  return { decision: { allowed: true, ...base }, reason: findings[0]?.reason ?? fallback };
}
