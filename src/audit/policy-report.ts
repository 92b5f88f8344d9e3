import { fnv1a } from '../util/fnv.js';
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

/** What a report said about one ServiceAccount, kept between writes: its result, a fingerprint of the rest, and when it was found. */
export interface KnownResult {
  readonly result: AuditResult;
  readonly fingerprint: number;
  readonly seconds: number;
}

/**
 * The report for `namespace`. A result keeps the timestamp of the result it
 * replaces when nothing in it changed (`previous`, by ServiceAccount name),
 * so an unchanged binding never rewrites its report; otherwise it is stamped
 * `nowSeconds`.
 */
export function buildPolicyReport(namespace: string, audits: readonly BindingAudit[], previous: ReadonlyMap<string, KnownResult>, nowSeconds: number): PolicyReport {
  const results = audits.map((audit): ReportResult => {
    const fresh = toResult(namespace, audit, nowSeconds);
    const old = previous.get(audit.name);
    return old && old.fingerprint === fingerprintOf(fresh) ? { ...fresh, timestamp: { seconds: old.seconds, nanos: 0 } } : fresh;
  });
  return {
    apiVersion: POLICY_REPORT_API_VERSION,
    kind: 'PolicyReport',
    metadata: { name: POLICY_REPORT_NAME, namespace, labels: { ...MANAGED_BY } },
    summary: summarize(results),
    results,
  };
}

/** A report's results as the writer keeps them between writes (no messages: 50,000 of them would hold tens of MiB). */
export function knownResults(results: readonly ReportResult[]): Map<string, KnownResult> {
  return new Map(results.map((r) => [r.resources[0]?.name ?? '', { result: r.result, fingerprint: fingerprintOf(r), seconds: r.timestamp.seconds }]));
}

/** The report would say what it already says, timestamps included: nothing to write. */
export function sameResults(known: ReadonlyMap<string, KnownResult>, results: readonly ReportResult[]): boolean {
  return known.size === results.length && results.every((r) => {
    const old = known.get(r.resources[0]?.name ?? '');
    return old !== undefined && old.fingerprint === fingerprintOf(r) && old.seconds === r.timestamp.seconds;
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

/** What a result says (not when it was found), as a fingerprint. */
function fingerprintOf(r: ReportResult): number {
  return fnv1a([r.resources[0]?.name, r.result, r.rule, r.severity, r.message, r.properties.clientId, r.properties.reasons].join('\u0000'));
}

function summarize(results: readonly ReportResult[]): ReportSummary {
  const summary: ReportSummary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const r of results) summary[r.result]++;
  return summary;
}
