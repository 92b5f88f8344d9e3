import { describeAudit, type AuditResult, type BindingAudit } from './binding-audit.js';

/**
 * PolicyReports in the `wgpolicyk8s.io/v1alpha2` format that Kyverno,
 * Policy Reporter and its UI read: one per namespace that has bindings, named
 * `wi-admission`, one result per ServiceAccount. Pure: objects in, objects out.
 */
export const POLICY_REPORT_NAME = 'wi-admission';
export const POLICY_REPORT_API_VERSION = 'wgpolicyk8s.io/v1alpha2';
/** `source` and `policy` of every result. */
export const REPORT_SOURCE = 'wi-admission';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'wi-admission' } as const;

export interface ReportResult {
  readonly source: string;
  readonly policy: string;
  readonly rule: string;
  readonly category: string;
  readonly severity?: 'high' | 'medium' | 'low' | 'info';
  readonly result: AuditResult;
  readonly scored: boolean;
  readonly message: string;
  readonly timestamp: { readonly seconds: number; readonly nanos: number };
  readonly resources: readonly { readonly apiVersion: 'v1'; readonly kind: 'ServiceAccount'; readonly namespace: string; readonly name: string }[];
  readonly properties: Readonly<Record<string, string>>;
}

export interface ReportSummary {
  pass: number;
  fail: number;
  warn: number;
  error: number;
  skip: number;
}

export interface PolicyReport {
  readonly apiVersion: typeof POLICY_REPORT_API_VERSION;
  readonly kind: 'PolicyReport';
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: Readonly<Record<string, string>>; readonly resourceVersion?: string };
  readonly summary: ReportSummary;
  readonly results: readonly ReportResult[];
}

/**
 * The report for `namespace`. A result keeps the timestamp of the result it
 * replaces when nothing in it changed (`previous`), so an unchanged binding
 * never rewrites its report; otherwise it is stamped `nowSeconds`.
 */
export function buildPolicyReport(namespace: string, audits: readonly BindingAudit[], previous: readonly ReportResult[], nowSeconds: number): PolicyReport {
  const before = new Map(previous.map((r) => [r.resources[0]?.name ?? '', r]));
  const results = audits.map((audit): ReportResult => {
    const fresh = toResult(namespace, audit, nowSeconds);
    const old = before.get(audit.name);
    return old && sameResult(old, fresh) ? { ...fresh, timestamp: old.timestamp } : fresh;
  });
  return {
    apiVersion: POLICY_REPORT_API_VERSION,
    kind: 'PolicyReport',
    metadata: { name: POLICY_REPORT_NAME, namespace, labels: { ...MANAGED_BY } },
    summary: summarize(results),
    results,
  };
}

/** Same results, timestamps included: nothing to write. */
export function sameResults(a: readonly ReportResult[], b: readonly ReportResult[]): boolean {
  return a.length === b.length && a.every((r, i) => {
    const other = b[i];
    return other !== undefined && sameResult(r, other) && r.timestamp.seconds === other.timestamp.seconds;
  });
}

/** The results of a report as the API server returned it; anything unreadable is left out. */
export function readResults(report: unknown): ReportResult[] {
  const results = (report as { results?: unknown } | null)?.results;
  if (!Array.isArray(results)) return [];
  return results
    .filter((r): r is ReportResult => {
      const result = r as Partial<ReportResult> | null;
      return typeof result?.result === 'string' && Array.isArray(result.resources) && typeof result.timestamp?.seconds === 'number';
    })
    .map((r) => ({ ...r, properties: typeof r.properties === 'object' && r.properties !== null ? r.properties : {} }));
}

/** By ServiceAccount name: the result each had in a report. */
export function resultsByServiceAccount(results: readonly ReportResult[]): Map<string, AuditResult> {
  return new Map(results.map((r) => [r.resources[0]?.name ?? '', r.result]));
}

function toResult(namespace: string, audit: BindingAudit, nowSeconds: number): ReportResult {
  return {
    source: REPORT_SOURCE,
    policy: REPORT_SOURCE,
    rule: audit.rule,
    category: 'Workload Identity',
    ...(audit.result === 'fail' ? { severity: 'high' as const } : audit.result === 'warn' ? { severity: 'medium' as const } : {}),
    result: audit.result,
    scored: true,
    message: describeAudit(namespace, audit),
    timestamp: { seconds: nowSeconds, nanos: 0 },
    resources: [{ apiVersion: 'v1', kind: 'ServiceAccount', namespace, name: audit.name }],
    properties: { clientId: audit.clientId, ...(audit.reasons.length > 0 ? { reasons: [...new Set(audit.reasons)].join(',') } : {}) },
  };
}

function sameResult(a: ReportResult, b: ReportResult): boolean {
  return (
    a.result === b.result &&
    a.rule === b.rule &&
    a.message === b.message &&
    a.severity === b.severity &&
    a.resources[0]?.name === b.resources[0]?.name &&
    a.properties.clientId === b.properties.clientId &&
    a.properties.reasons === b.properties.reasons
  );
}

function summarize(results: readonly ReportResult[]): ReportSummary {
  const summary: ReportSummary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const r of results) summary[r.result]++;
  return summary;
}
