import type { Logger } from 'pino';
import { isConflict, isNotFound } from '../kube/api-error.js';
import { abortableDelay } from '../kube/informer.js';
import { listAll } from '../kube/client.js';
import { KUBE_PATHS } from '../kube/paths.js';
import type { KubeRestClient } from '../kube/rest-client.js';
import type { AuditResult, BindingAudit } from './binding-audit.js';
import { buildPolicyReport, knownResults, POLICY_REPORT_NAME, readResults, sameResults, type KnownResult } from './policy-report.js';

export type WriteOperation = 'create' | 'update' | 'delete';
export type WriteResult = 'success' | 'conflict' | 'error';

/** The audit's results, as the writer reads them. */
export interface AuditedResults {
  namespaces(): Iterable<string>;
  /** The namespace's bindings: name and result only (cheap). */
  verdictsOf(namespace: string): readonly { readonly name: string; readonly result: AuditResult }[];
  /** The namespace's bindings with their messages, sorted by name (judged again: only for what is written). */
  resultsOf(namespace: string): Promise<readonly BindingAudit[]>;
}

export interface ReportWriterOptions {
  readonly client: Pick<KubeRestClient, 'request' | 'get' | 'getOrUndefined'>;
  readonly audit: AuditedResults;
  /** Told about every binding whose result turned to fail (it writes the Event). */
  readonly onBindingFailed: (namespace: string, audit: BindingAudit) => Promise<void>;
  readonly log: Logger;
  readonly onWrite?: (operation: WriteOperation, result: WriteResult) => void;
  /** Namespaces written at once. Default 4. */
  readonly concurrency?: number;
  /** While the PolicyReport API is absent, how often to look for it again. Default 5 min. */
  readonly rediscoverMs?: number;
  /** First retry after a failed write; doubles up to 5 min. Default 5 s. */
  readonly retryMs?: number;
  readonly wallClock?: () => Date;
  readonly now?: () => number;
  readonly delay?: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface Known {
  /** Undefined when no report was written (the API is absent): results remembered for the Events only. */
  readonly resourceVersion: string | undefined;
  /** By ServiceAccount name. */
  readonly results: ReadonlyMap<string, KnownResult>;
}

const NOTHING_KNOWN: ReadonlyMap<string, KnownResult> = new Map();

/**
 * Writes the audit's results, on the elected replica only (`lead()` …
 * `standDown()`): one PolicyReport per namespace with bindings, created,
 * updated and deleted with optimistic concurrency (the resourceVersion read
 * goes with every write; a 409 reads again and retries), and an Event for
 * each binding that turns to fail.
 *
 * On taking the lead it lists the reports that exist (another replica may
 * have written them) and reconciles every namespace; after that, only the
 * namespaces the audit says changed. A report whose results are unchanged is
 * not written. Without the PolicyReport API (its CRD not installed) it says
 * so once and keeps to Events; it looks again now and then.
 */
export class ReportWriter {
  private readonly known = new Map<string, Known>();
  private readonly dirty = new Set<string>();
  private leading: AbortController | undefined;
  private processing: Promise<void> | undefined;
  private reportsAvailable: boolean | undefined;
  /** False until the audit finished its first run: before it, its results are not the cluster's. */
  private auditReady = false;
  private discoveredAt = -Infinity;
  private absenceLogged = false;
  private failures = 0;
  private again = false;

  constructor(private readonly options: ReportWriterOptions) {}

  /** This replica now holds the Lease: read what exists, then write what differs. */
  lead(): void {
    if (this.leading) return;
    this.leading = new AbortController();
    this.known.clear();
    this.reportsAvailable = undefined;
    this.process();
  }

  /** Another replica writes from now on (or the server stops): finish nothing more. */
  async standDown(): Promise<void> {
    this.leading?.abort();
    this.leading = undefined;
    await this.processing;
  }

  isLeading(): boolean {
    return this.leading !== undefined;
  }

  /** The audit finished a run; its results changed in these namespaces (maybe none). */
  changed(namespaces: Iterable<string>): void {
    this.auditReady = true;
    for (const namespace of namespaces) this.dirty.add(namespace);
    if (this.leading) this.process();
  }

  /** Resolves once nothing is left to write (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.processing) await this.processing;
  }

  private process(): void {
    if (this.processing) {
      // Whatever arrived after the running pass took its batch gets a pass of its own.
      this.again = true;
      return;
    }
    this.again = false;
    this.processing = this.run()
      .catch((err: unknown) => this.options.log.error({ err }, 'report writer failed'))
      .finally(() => {
        this.processing = undefined;
        if (this.again && this.leading) this.process();
      });
  }

  private async run(): Promise<void> {
    const signal = this.leading?.signal;
    if (!signal || !this.auditReady) return;
    while (!signal.aborted) {
      try {
        if (this.reportsAvailable === undefined) await this.takeOver(signal);
        if (this.dirty.size === 0) return;
        if (!this.reportsAvailable && this.now() - this.discoveredAt >= (this.options.rediscoverMs ?? 300_000)) await this.discover();
        const batch = [...this.dirty];
        this.dirty.clear();
        const failed = await this.writeAll(batch, signal);
        if (failed.length === 0) {
          this.failures = 0;
          continue;
        }
        for (const namespace of failed) this.dirty.add(namespace);
      } catch (err) {
        if (signal.aborted) return;
        this.options.log.warn({ err }, 'policy reports: the API server could not be read, retrying');
      }
      this.failures++;
      await (this.options.delay ?? abortableDelay)(Math.min(300_000, (this.options.retryMs ?? 5_000) * 2 ** (this.failures - 1)), signal);
    }
  }

  /** What exists now: the reports of every namespace (listed page by page), and every audited namespace to reconcile. */
  private async takeOver(signal: AbortSignal): Promise<void> {
    await this.discover();
    if (this.reportsAvailable) {
      try {
        await listAll(this.options.client, `${KUBE_PATHS.policyReports}?fieldSelector=${encodeURIComponent(`metadata.name=${POLICY_REPORT_NAME}`)}`, (item) => {
          const metadata = (item as { metadata?: { namespace?: unknown; resourceVersion?: unknown } }).metadata;
          if (typeof metadata?.namespace !== 'string' || typeof metadata.resourceVersion !== 'string') return;
          this.known.set(metadata.namespace, { resourceVersion: metadata.resourceVersion, results: knownResults(readResults(item)) });
          this.dirty.add(metadata.namespace);
        });
      } catch (err) {
        // Not taken over yet: the next pass starts again from discovery.
        this.reportsAvailable = undefined;
        this.known.clear();
        throw err;
      }
      signal.throwIfAborted();
    } else {
      // No reports to read: remember the results as they are, so only later changes make Events.
      for (const namespace of this.options.audit.namespaces()) this.known.set(namespace, { resourceVersion: undefined, results: verdictsAsKnown(this.options.audit.verdictsOf(namespace)) });
    }
    for (const namespace of this.options.audit.namespaces()) this.dirty.add(namespace);
  }

  private async discover(): Promise<void> {
    this.discoveredAt = this.now();
    const api = await this.options.client.getOrUndefined(KUBE_PATHS.policyReportApi);
    const available = api !== undefined;
    if (!available && !this.absenceLogged) {
      this.absenceLogged = true;
      this.options.log.warn({ api: KUBE_PATHS.policyReportApi }, 'PolicyReport API not installed (wgpolicyk8s.io/v1alpha2): audit results go to metrics and Events only; install the CRD (chart: audit.policyReports.installCRD) to get reports');
    }
    if (available && this.reportsAvailable === false) this.options.log.info('PolicyReport API found: writing reports');
    if (available && this.reportsAvailable === false) for (const namespace of this.options.audit.namespaces()) this.dirty.add(namespace);
    this.reportsAvailable = available;
  }

  /** Writes each namespace, a few at a time; returns those that failed. */
  private async writeAll(namespaces: readonly string[], signal: AbortSignal): Promise<string[]> {
    const failed: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < namespaces.length && !signal.aborted) {
        const namespace = namespaces[next++] as string;
        try {
          await this.reconcile(namespace, signal);
        } catch (err) {
          if (signal.aborted) return;
          failed.push(namespace);
          this.options.log.warn({ err, namespace }, 'policy report not written, retrying later');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? 4, namespaces.length) }, worker));
    return failed;
  }

  private async reconcile(namespace: string, signal: AbortSignal): Promise<void> {
    const known = this.known.get(namespace);
    if (!this.reportsAvailable) {
      // Events only: compare the results, build messages only for the bindings that turned to fail.
      const verdicts = this.options.audit.verdictsOf(namespace);
      const failing = new Set(newlyFailing(verdicts, known?.results ?? NOTHING_KNOWN).map((v) => v.name));
      if (verdicts.length === 0) this.known.delete(namespace);
      else this.known.set(namespace, { resourceVersion: undefined, results: verdictsAsKnown(verdicts) });
      if (failing.size === 0) return;
      for (const audit of await this.options.audit.resultsOf(namespace)) if (failing.has(audit.name) && audit.result === 'fail') await this.options.onBindingFailed(namespace, audit);
      return;
    }
    const audits = await this.options.audit.resultsOf(namespace);
    const desired = buildPolicyReport(namespace, audits, known?.results ?? NOTHING_KNOWN, this.nowSeconds());
    if (known?.resourceVersion !== undefined && sameResults(known.results, desired.results)) return;
    const failing = newlyFailing(audits, known?.results ?? NOTHING_KNOWN);
    if (audits.length === 0) await this.remove(namespace, signal);
    else await this.write(namespace, audits, signal);
    // After the write: a failed one is retried, and announces then.
    for (const audit of failing) await this.options.onBindingFailed(namespace, audit);
  }

  /** Creates or replaces the report with the resourceVersion last read; on a conflict reads it again (three tries). */
  private async write(namespace: string, audits: readonly BindingAudit[], signal: AbortSignal): Promise<void> {
    const { client } = this.options;
    for (let attempt = 0; ; attempt++) {
      const known = this.known.get(namespace);
      const report = buildPolicyReport(namespace, audits, known?.results ?? NOTHING_KNOWN, this.nowSeconds());
      if (known?.resourceVersion !== undefined && sameResults(known.results, report.results)) return;
      const operation: WriteOperation = known?.resourceVersion !== undefined ? 'update' : 'create';
      try {
        const body = operation === 'update' ? { ...report, metadata: { ...report.metadata, resourceVersion: known?.resourceVersion } } : report;
        const written = operation === 'update'
          ? await client.request('PUT', KUBE_PATHS.policyReport(namespace, POLICY_REPORT_NAME), { body, signal })
          : await client.request('POST', KUBE_PATHS.policyReportsIn(namespace), { body, signal });
        this.remember(namespace, written, report.results);
        this.options.onWrite?.(operation, 'success');
        return;
      } catch (err) {
        if (!isConflict(err) && !(operation === 'update' && isNotFound(err))) {
          this.options.onWrite?.(operation, 'error');
          throw err;
        }
        this.options.onWrite?.(operation, 'conflict');
        if (attempt >= 2) throw err;
        await this.reread(namespace, signal);
      }
    }
  }

  /** Deletes the report of a namespace left without bindings, if it is still the version last read. */
  private async remove(namespace: string, signal: AbortSignal): Promise<void> {
    const { client } = this.options;
    for (let attempt = 0; ; attempt++) {
      const known = this.known.get(namespace);
      if (!known?.resourceVersion) {
        this.known.delete(namespace);
        return;
      }
      try {
        await client.request('DELETE', KUBE_PATHS.policyReport(namespace, POLICY_REPORT_NAME), { body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: known.resourceVersion } }, signal });
        this.known.delete(namespace);
        this.options.onWrite?.('delete', 'success');
        return;
      } catch (err) {
        if (isNotFound(err)) {
          this.known.delete(namespace);
          return;
        }
        if (!isConflict(err)) {
          this.options.onWrite?.('delete', 'error');
          throw err;
        }
        this.options.onWrite?.('delete', 'conflict');
        if (attempt >= 2) throw err;
        await this.reread(namespace, signal);
      }
    }
  }

  private async reread(namespace: string, signal: AbortSignal): Promise<void> {
    const current = await this.options.client.getOrUndefined(KUBE_PATHS.policyReport(namespace, POLICY_REPORT_NAME), signal);
    if (current === undefined) this.known.delete(namespace);
    else this.remember(namespace, current, readResults(current));
  }

  private remember(namespace: string, object: unknown, results: Parameters<typeof knownResults>[0]): void {
    const resourceVersion = (object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
    this.known.set(namespace, { resourceVersion: typeof resourceVersion === 'string' ? resourceVersion : undefined, results: knownResults(results) });
  }

  private nowSeconds(): number {
    return Math.floor((this.options.wallClock?.() ?? new Date()).getTime() / 1000);
  }

  private now(): number {
    return this.options.now?.() ?? performance.now();
  }
}

/** The bindings whose result is now fail and was something else before (pass, warn or error); new ones are not announced. */
function newlyFailing<T extends { readonly name: string; readonly result: AuditResult }>(now: readonly T[], before: ReadonlyMap<string, KnownResult>): T[] {
  return now.filter((binding) => {
    const was = before.get(binding.name)?.result;
    return binding.result === 'fail' && was !== undefined && was !== 'fail';
  });
}

/** Without reports the result is all there is to know: one shared record per result. */
const RESULT_ONLY: Readonly<Record<AuditResult, KnownResult>> = {
  pass: { result: 'pass', fingerprint: 0, seconds: 0 },
  fail: { result: 'fail', fingerprint: 0, seconds: 0 },
  warn: { result: 'warn', fingerprint: 0, seconds: 0 },
  error: { result: 'error', fingerprint: 0, seconds: 0 },
};

/** Results remembered without a report (the API is absent): for the Events only. */
function verdictsAsKnown(verdicts: readonly { readonly name: string; readonly result: AuditResult }[]): Map<string, KnownResult> {
  return new Map(verdicts.map((v) => [v.name, RESULT_ONLY[v.result]]));
}
