import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { isExemptNamespace, type BindingDeps } from '../admission/binding-check.js';
import { CLIENT_ID_ANNOTATION } from '../identity/constants.js';
import { namespaceWithUnknownLabels, type NamespaceRecord } from '../identity/managed-identity.js';
import type { ServiceAccountRecord } from '../identity/service-account.js';
import type { StoreChange } from '../kube/informer.js';
import type { ValidationReason } from '../policy/evaluate.js';
import type { PolicySpec } from '../policy/schema.js';
import { fnv1a } from '../util/fnv.js';
import { auditBinding, type AuditResult, type BindingAudit } from './binding-audit.js';

/**
 * What the audit keeps per binding between runs: the verdict, not the
 * message. 50,000 bindings with a failure message each would hold tens of
 * MiB; a digest of the message tells when it changed, and the messages are
 * built again (`resultsOf`) only for the reports being written.
 */
interface Verdict {
  /** The full run that last saw the binding (bindings no run saw are gone). */
  seenIn: number;
  readonly clientId: string;
  readonly result: AuditResult;
  readonly rule: string;
  readonly reason: BindingAudit['reason'];
  readonly reasons: readonly ValidationReason[];
  readonly digest: number;
}

/** The ServiceAccount cache as the audit reads it. */
export interface AuditedServiceAccounts {
  /** The cached ServiceAccounts with identity annotations, by key `namespace/name`, read lazily (a run pauses between slices). */
  annotated(): Iterable<readonly [string, Readonly<Record<string, string>>]>;
  getCached(namespace: string, name: string): ServiceAccountRecord | undefined;
  hasSynced(): boolean;
  /** Absent for a fixed set (`--objects`). */
  subscribe?(listener: (change: StoreChange) => void): () => void;
}

/** The Namespace cache as the audit reads it. */
export interface AuditedNamespaces {
  getCached(name: string): NamespaceRecord | undefined;
  hasSynced(): boolean;
  subscribe?(listener: (change: StoreChange) => void): () => void;
}

/** What started an audit run (a bounded metric label). */
export type AuditTrigger = 'sync' | 'policy' | 'inventory' | 'serviceaccount' | 'namespace';

export interface AuditHooks {
  /** A run finished: a full one, or an incremental one for a few ServiceAccounts or Namespaces. */
  onRun?(trigger: AuditTrigger, seconds: number): void;
  /** After each run: the bindings audited, and how many have a finding of each reason. */
  onTotals?(bindings: number, violations: ReadonlyMap<ValidationReason, number>): void;
  /** After each run: the namespaces whose results changed (none, sometimes). */
  onChanged?(namespaces: ReadonlySet<string>): void;
}

export interface DriftAuditOptions {
  readonly policy: () => PolicySpec | undefined;
  readonly serviceAccounts: AuditedServiceAccounts;
  readonly namespaces: AuditedNamespaces;
  /** The inventory, audience and issuer: the same as admission's. */
  readonly binding: BindingDeps;
  /** False until the identity inventory has loaded (no first run before it). */
  readonly inventoryReady: () => boolean;
  readonly log: Logger;
  readonly hooks?: AuditHooks;
  /** Longest stretch of evaluation between two yields to the event loop, so admissions never wait long behind it. Default 1 ms. */
  readonly sliceMs?: number;
}

/**
 * Every ServiceAccount binding in the cache, re-evaluated against the
 * current policy and inventory: in full after the first sync (caches and
 * inventory), after each policy reload and each inventory listing, and
 * incrementally for the ServiceAccounts and Namespaces that change. The
 * evaluation and the messages are admission's (`auditBinding`).
 *
 * Runs one at a time, a full run absorbing the triggers that arrive before
 * it starts; a run yields to the event loop every `sliceMs`. Every replica
 * audits (metrics); what is written to the API server is the report
 * writer's, on the elected replica only.
 */
export class DriftAudit {
  private readonly byNamespace = new Map<string, Map<string, Verdict>>();
  /** One shared list per distinct sequence of reasons. */
  private readonly reasonLists = new Map<string, readonly ValidationReason[]>();
  private readonly violations = new Map<ValidationReason, number>();
  private bindings = 0;
  private readonly changed = new Set<string>();
  private readonly pendingKeys = new Set<string>();
  private readonly pendingNamespaces = new Set<string>();
  private pendingFull: AuditTrigger | undefined;
  private draining: Promise<void> | undefined;
  private initialRunRequested = false;
  private stopped = false;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly sliceMs: number;
  private runs = 0;

  constructor(private readonly options: DriftAuditOptions) {
    this.sliceMs = options.sliceMs ?? 1;
  }

  /** Follows the caches, and runs in full once they and the inventory are ready. */
  start(): void {
    const { serviceAccounts, namespaces } = this.options;
    const follow = (kind: 'serviceaccount' | 'namespace') => (change: StoreChange): void => {
      if (!this.initialRunRequested) return this.startWhenReady();
      if (change.kind === 'all') this.request(kind);
      else if (kind === 'serviceaccount') this.requestKeys([change.key], []);
      else this.requestKeys([], [change.key]);
    };
    const unsubscribeServiceAccounts = serviceAccounts.subscribe?.(follow('serviceaccount'));
    const unsubscribeNamespaces = namespaces.subscribe?.(follow('namespace'));
    if (unsubscribeServiceAccounts) this.unsubscribe.push(unsubscribeServiceAccounts);
    if (unsubscribeNamespaces) this.unsubscribe.push(unsubscribeNamespaces);
    this.startWhenReady();
  }

  /** Stops following the caches and waits for the run in progress to end (at its next slice). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
    await this.draining;
  }

  /** A full run for a reason outside the caches: the policy was reloaded, or the inventory listed. */
  request(trigger: AuditTrigger): void {
    if (!this.initialRunRequested) return this.startWhenReady();
    this.pendingFull ??= trigger;
    this.drain();
  }

  /** Resolves once no run is pending or in progress. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** Namespaces that have audited bindings. */
  namespaces(): IterableIterator<string> {
    return this.byNamespace.keys();
  }

  /** The namespace's bindings as last audited: name and result, sorted by name (no messages). */
  verdictsOf(namespace: string): readonly { readonly name: string; readonly result: AuditResult; readonly reason: BindingAudit['reason'] }[] {
    const byName = this.byNamespace.get(namespace);
    if (!byName) return [];
    return [...byName].map(([name, v]) => ({ name, result: v.result, reason: v.reason })).sort((a, b) => compare(a.name, b.name));
  }

  /**
   * The namespace's bindings with their messages, judged again now (the
   * report writer's input, for the namespaces it writes), sorted by name.
   */
  async resultsOf(namespace: string): Promise<readonly BindingAudit[]> {
    const policy = this.options.policy();
    const names = [...(this.byNamespace.get(namespace)?.keys() ?? [])].sort(compare);
    if (!policy) return [];
    const audits: BindingAudit[] = [];
    for (const name of names) {
      const serviceAccount = this.options.serviceAccounts.getCached(namespace, name);
      if (serviceAccount && (serviceAccount.annotations[CLIENT_ID_ANNOTATION] ?? '') !== '') audits.push(await this.evaluate(policy, namespace, name, serviceAccount.annotations));
    }
    return audits;
  }

  private startWhenReady(): void {
    const { serviceAccounts, namespaces, inventoryReady } = this.options;
    if (this.initialRunRequested || this.stopped || !serviceAccounts.hasSynced() || !namespaces.hasSynced() || !inventoryReady()) return;
    this.initialRunRequested = true;
    this.pendingFull = 'sync';
    this.drain();
  }

  private requestKeys(keys: readonly string[], namespaces: readonly string[]): void {
    for (const key of keys) this.pendingKeys.add(key);
    for (const namespace of namespaces) this.pendingNamespaces.add(namespace);
    this.drain();
  }

  private drain(): void {
    if (this.draining || this.stopped) return;
    this.draining = this.runPending()
      .catch((err: unknown) => this.options.log.error({ err }, 'audit run failed'))
      .finally(() => (this.draining = undefined));
  }

  private async runPending(): Promise<void> {
    // A macrotask first, so a burst of cache events becomes one run.
    await yieldToEventLoop();
    while (!this.stopped) {
      const policy = this.options.policy();
      if (!policy) return;
      const started = performance.now();
      let trigger: AuditTrigger;
      if (this.pendingFull) {
        trigger = this.pendingFull;
        this.pendingFull = undefined;
        // The full run reads every ServiceAccount: changes seen so far are in it.
        this.pendingKeys.clear();
        this.pendingNamespaces.clear();
        await this.runFull(policy);
      } else if (this.pendingKeys.size > 0 || this.pendingNamespaces.size > 0) {
        trigger = this.pendingKeys.size > 0 ? 'serviceaccount' : 'namespace';
        await this.runIncremental(policy);
      } else {
        return;
      }
      if (this.stopped) return;
      this.options.hooks?.onRun?.(trigger, (performance.now() - started) / 1000);
      this.options.hooks?.onTotals?.(this.bindings, this.violations);
      const changed = new Set(this.changed);
      this.changed.clear();
      this.options.hooks?.onChanged?.(changed);
    }
  }

  private async runFull(policy: PolicySpec): Promise<void> {
    // No copy of the cache and no list of what was seen: each verdict is stamped with the run that saw it.
    const run = ++this.runs;
    const exempt = new Map<string, boolean>();
    let sliceStart = performance.now();
    for (const [key, annotations] of this.options.serviceAccounts.annotated()) {
      if (this.stopped) return;
      if ((annotations[CLIENT_ID_ANNOTATION] ?? '') === '') continue;
      const slash = key.indexOf('/');
      const namespace = key.slice(0, slash);
      const name = key.slice(slash + 1);
      let isExempt = exempt.get(namespace);
      if (isExempt === undefined) exempt.set(namespace, (isExempt = isExemptNamespace(policy, namespace)));
      this.put(namespace, name, isExempt ? undefined : await this.evaluate(policy, namespace, name, annotations), run);
      if (performance.now() - sliceStart >= this.sliceMs) {
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
    }
    for (const [namespace, byName] of [...this.byNamespace]) {
      for (const [name, verdict] of [...byName]) if (verdict.seenIn !== run) this.put(namespace, name, undefined);
    }
  }

  private async runIncremental(policy: PolicySpec): Promise<void> {
    const keys = [...this.pendingKeys];
    this.pendingKeys.clear();
    for (const namespace of this.pendingNamespaces) {
      for (const name of this.byNamespace.get(namespace)?.keys() ?? []) keys.push(`${namespace}/${name}`);
    }
    this.pendingNamespaces.clear();
    for (const key of keys) {
      if (this.stopped) return;
      const slash = key.indexOf('/');
      const namespace = key.slice(0, slash);
      const name = key.slice(slash + 1);
      const serviceAccount = this.options.serviceAccounts.getCached(namespace, name);
      const bound = serviceAccount && (serviceAccount.annotations[CLIENT_ID_ANNOTATION] ?? '') !== '' && !isExemptNamespace(policy, namespace);
      this.put(namespace, name, bound ? await this.evaluate(policy, namespace, name, serviceAccount.annotations) : undefined);
    }
  }

  private evaluate(policy: PolicySpec, namespace: string, name: string, annotations: Readonly<Record<string, string>>): Promise<BindingAudit> {
    const facts = this.options.namespaces.getCached(namespace) ?? namespaceWithUnknownLabels(namespace, "it is not in the webhook's Namespace cache (yet)");
    return auditBinding(policy, this.options.binding, facts, name, annotations);
  }

  /**
   * Stores one binding's verdict (undefined: no longer a binding), keeping the
   * totals and the changed namespaces; `run` stamps it as seen by a full run.
   */
  private put(namespace: string, name: string, audit: BindingAudit | undefined, run = this.runs): void {
    let byName = this.byNamespace.get(namespace);
    const previous = byName?.get(name);
    if (previous === undefined && audit === undefined) return;
    const verdict = audit && this.verdictOf(audit, run);
    if (previous && verdict && sameVerdict(previous, verdict)) {
      previous.seenIn = run;
      return;
    }
    if (previous) this.count(previous, -1);
    if (verdict) {
      if (!byName) this.byNamespace.set(namespace, (byName = new Map()));
      byName.set(name, verdict);
      this.count(verdict, 1);
    } else if (byName) {
      byName.delete(name);
      if (byName.size === 0) this.byNamespace.delete(namespace);
    }
    this.changed.add(namespace);
  }

  private verdictOf(audit: BindingAudit, run: number): Verdict {
    const key = audit.reasons.join(',');
    let reasons = this.reasonLists.get(key);
    if (!reasons) this.reasonLists.set(key, (reasons = audit.reasons));
    return { seenIn: run, clientId: audit.clientId, result: audit.result, rule: audit.rule, reason: audit.reason, reasons, digest: digestOf(audit.message) };
  }

  private count(audit: Verdict, delta: 1 | -1): void {
    this.bindings += delta;
    for (const reason of new Set(audit.reasons)) {
      const count = (this.violations.get(reason) ?? 0) + delta;
      if (count === 0) this.violations.delete(reason);
      else this.violations.set(reason, count);
    }
  }
}

function sameVerdict(a: Verdict, b: Verdict): boolean {
  return a.result === b.result && a.rule === b.rule && a.digest === b.digest && a.clientId === b.clientId;
}

function digestOf(message: string | undefined): number {
  return message === undefined ? 0 : fnv1a(message);
}

/** Code-unit order, the same in every locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
