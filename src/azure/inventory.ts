import { setMaxListeners } from 'node:events';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { abortableDelay } from '../kube/informer.js';
import { describeArmError, isNotFound, isThrottled, retryAfterMs } from './errors.js';
import type { CredentialResolution, IdentityResolution } from '../identity/managed-identity.js';
import type { FederatedCredential, IdentitySource, ManagedIdentity } from './identity-source.js';
import { identityKey } from './resource-id.js';

/** The inventory answers in the domain's terms (identity/managed-identity.ts). */
export type IdentityLookup = IdentityResolution;
export type CredentialLookup = CredentialResolution;

/** Metric label values (bounded). */
export type RefreshTrigger = 'scheduled' | 'unknown_id' | 'source_change';
export type RefreshResult = 'success' | 'error' | 'throttled';
export type LookupResult = 'hit' | 'principal_id' | 'miss' | 'negative_hit' | 'unavailable';

/** Metrics, injected so this module does not import src/metrics.ts. */
export interface InventoryHooks {
  onRefresh?(trigger: RefreshTrigger, result: RefreshResult): void;
  onLookup?(result: LookupResult): void;
  onSize?(size: number): void;
  /** Seconds since the last successful full refresh; updated on refreshes and lookups. */
  onAge?(seconds: number): void;
}

export interface IdentityInventoryOptions {
  /** Listed together; a listing succeeds only when every source answers. */
  readonly sources: readonly IdentitySource[];
  /** The component's logger (the caller binds `component`, as for the informer). */
  readonly log: Logger;
  readonly hooks?: InventoryHooks;
  /** Full listing period. Default 5 min. */
  readonly refreshIntervalMs?: number;
  /** Oldest inventory (and credential list) still used when refreshes fail. Default 30 min. */
  readonly maxStalenessMs?: number;
  /** How long an unknown client ID is answered from memory. Default 60 s. */
  readonly negativeCacheTtlMs?: number;
  /** At most one refresh triggered by unknown client IDs per this period. Default 30 s. */
  readonly minUnknownRefreshIntervalMs?: number;
  /** Longest a lookup waits for a refresh it triggered or joined. Default 2 s. */
  readonly lookupWaitMs?: number;
  /** Retry after a failed refresh: doubling from initialMs up to maxMs. Default 5 s … refreshIntervalMs. */
  readonly errorBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Bounds of the in-memory caches. Defaults 10,000 each. */
  readonly maxNegativeEntries?: number;
  readonly maxCachedCredentials?: number;
  /** Credential lists not asked for within this long are dropped (and no longer refreshed). Default 1 h. */
  readonly credentialIdleMs?: number;
  /** A listing (all pages) or credential fetch with no answer within this long fails, freeing the single flight. Default 2 min. */
  readonly requestTimeoutMs?: number;
  /** Milliseconds on a monotonic clock. Default performance.now(). */
  readonly now?: () => number;
  /** Waits `ms` or until the signal aborts; injectable so tests never sleep. Default: an unref'd setTimeout. */
  readonly delay?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** A source that can say when its data may have changed (the file source). */
interface ChangeNotifyingSource extends IdentitySource {
  watch(onChange: () => void): () => void;
}

function isChangeNotifying(source: IdentitySource): source is ChangeNotifyingSource {
  return typeof (source as Partial<ChangeNotifyingSource>).watch === 'function';
}

interface Snapshot {
  readonly byClientId: ReadonlyMap<string, ManagedIdentity>;
  readonly byPrincipalId: ReadonlyMap<string, ManagedIdentity>;
  /** By identityKey: the identity, and where to ask for its credentials. */
  readonly byKey: ReadonlyMap<string, { readonly identity: ManagedIdentity; readonly source: IdentitySource }>;
  readonly loadedAt: number;
}

interface CredentialEntry {
  credentials?: readonly FederatedCredential[];
  fetchedAt?: number;
  inflight?: Promise<void>;
  /** Not before this time after failures (backoff). */
  nextAttemptAt: number;
  failures: number;
  lastError?: string;
}

type Settings = Required<Omit<IdentityInventoryOptions, 'sources' | 'log' | 'hooks' | 'now' | 'delay'>>;

const DEFAULTS = {
  refreshIntervalMs: 5 * 60_000,
  maxStalenessMs: 30 * 60_000,
  negativeCacheTtlMs: 60_000,
  minUnknownRefreshIntervalMs: 30_000,
  lookupWaitMs: 2_000,
  maxNegativeEntries: 10_000,
  maxCachedCredentials: 10_000,
  credentialIdleMs: 60 * 60_000,
  requestTimeoutMs: 120_000,
} as const;

/**
 * The user-assigned managed identities the webhook knows, indexed by client
 * ID and principal ID (lower-case: GUIDs compare case-insensitively), with
 * each identity's federated credentials fetched on first use.
 *
 * - One full listing of every source at start and every `refreshIntervalMs`.
 *   A listing replaces the index whole, and only when every source answered
 *   (a partial list would turn real identities into "unknown").
 * - At most one listing in flight: scheduled, unknown-ID and file-change
 *   refreshes share it (single-flight).
 * - An unknown client ID joins the listing in flight, or starts one at most
 *   every `minUnknownRefreshIntervalMs`, waits for it at most `lookupWaitMs`,
 *   then is remembered for `negativeCacheTtlMs`: a flood of bad IDs costs at
 *   most one listing per interval.
 * - Failures keep the last good index (stale-while-revalidate) for up to
 *   `maxStalenessMs`; after that, and before the first listing, lookups answer
 *   `unavailable` and the policy's `onInventoryUnavailable` decides.
 * - 429: nothing is sent to the source again before its Retry-After.
 *
 * The index is two Maps swapped on each listing, not an LRU: evicting a known
 * identity would make it look unknown. lru-cache holds what may be bounded:
 * negative entries and credential lists.
 */
export class IdentityInventory {
  private readonly sources: readonly IdentitySource[];
  private readonly log: Logger;
  private readonly hooks: InventoryHooks;
  private readonly settings: Settings;
  private readonly now: () => number;
  private readonly delay: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly negative: LRUCache<string, true>;
  private readonly credentialCache: LRUCache<string, CredentialEntry>;
  private readonly stopController = new AbortController();
  private readonly unwatch: (() => void)[] = [];

  private snapshot: Snapshot | undefined;
  private inflight: Promise<void> | undefined;
  private lastAttempt: { readonly at: number; readonly ok: boolean } | undefined;
  private failures = 0;
  private lastError: string | undefined;
  /** ARM's Retry-After: no request to any source before this time. */
  private notBefore = -Infinity;
  private lastUnknownRefreshAt = -Infinity;
  private changedDuringRefresh = false;
  private staleReported = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  private credentialSweep: Promise<void> | undefined;

  constructor(options: IdentityInventoryOptions) {
    this.settings = validateOptions(options);
    this.sources = [...options.sources];
    this.log = options.log;
    this.hooks = options.hooks ?? {};
    this.now = options.now ?? (() => performance.now());
    this.delay = options.delay ?? abortableDelay;
    // Every lookup waiting on a refresh listens for stop; a burst of them is normal, not a leak.
    setMaxListeners(0, this.stopController.signal);
    // ttlResolution 0: lru-cache would otherwise cache now() behind a real timer, which a fake clock cannot move.
    const perf = { now: this.now };
    this.negative = new LRUCache<string, true>({ max: this.settings.maxNegativeEntries, ttl: this.settings.negativeCacheTtlMs, perf, ttlResolution: 0 });
    this.credentialCache = new LRUCache<string, CredentialEntry>({
      max: this.settings.maxCachedCredentials,
      ttl: this.settings.credentialIdleMs,
      updateAgeOnGet: true,
      perf,
      ttlResolution: 0,
    });
  }

  /** Starts the first listing and the refresh schedule, and watches sources that can be watched. */
  start(): void {
    if (this.running || this.stopped) return;
    for (const source of this.sources) {
      if (isChangeNotifying(source)) this.unwatch.push(source.watch(() => this.onSourceChange(source)));
    }
    this.running = this.runSchedule().catch((err: unknown) => {
      this.log.error({ err }, 'inventory schedule stopped by an unexpected error');
    });
  }

  /** Stops the schedule and watches, aborts requests in flight, clears every timer. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    for (const unwatch of this.unwatch.splice(0)) unwatch();
    await this.running;
    await this.inflight;
    await this.credentialSweep;
  }

  /** True once a full listing succeeded (readiness); stays true while the last good list is served. */
  hasLoaded(): boolean {
    return this.snapshot !== undefined;
  }

  size(): number {
    return this.snapshot?.byClientId.size ?? 0;
  }

  /** Time since the last successful listing, or undefined before the first. */
  ageMs(): number | undefined {
    return this.snapshot ? this.now() - this.snapshot.loadedAt : undefined;
  }

  /**
   * What the inventory knows about `clientId`. A known ID answers from
   * memory; an unknown one may wait up to `lookupWaitMs` for a coalesced,
   * rate-limited refresh (see the class comment).
   */
  async lookupClientId(clientId: string): Promise<IdentityLookup> {
    const key = clientId.trim().toLowerCase();
    this.reportAge();
    if (!this.isUsable()) {
      const pending = this.requestRefresh();
      if (pending) await this.waitAtMost(pending, this.settings.lookupWaitMs);
      if (!this.isUsable()) return this.answer({ status: 'unavailable', reason: this.unavailableReason() });
    }
    const known = this.findInSnapshot(key);
    if (known) return this.answer(known);
    if (this.negative.has(key)) return this.answer({ status: 'unknown' }, 'negative_hit');

    const pending = this.requestRefresh();
    const completed = pending ? await this.waitAtMost(pending, this.settings.lookupWaitMs) : true;
    const found = this.findInSnapshot(key);
    if (found) return this.answer(found);
    if (!this.isUsable()) return this.answer({ status: 'unavailable', reason: this.unavailableReason() });
    // Still waiting on a slow listing: later callers join it rather than read a negative entry.
    if (completed) this.negative.set(key, true);
    return this.answer({ status: 'unknown' }, 'miss');
  }

  /**
   * The identity's federated credentials: given inline (file source), or
   * listed from its source on first use and then kept fresh in the
   * background every `refreshIntervalMs`, so steady-state admissions never
   * wait on ARM. Past `maxStalenessMs` without a successful listing the
   * answer is `unavailable`.
   */
  async federatedCredentials(identity: ManagedIdentity): Promise<CredentialLookup> {
    if (identity.federatedCredentials === 'unknown') return { status: 'unknown', reason: `the identity source gives no federated credentials for ${identity.name}` };
    if (identity.federatedCredentials) return { status: 'found', credentials: identity.federatedCredentials };
    const key = identityKey(identity);
    let entry = this.credentialCache.get(key);
    if (!entry) {
      entry = { nextAttemptAt: -Infinity, failures: 0 };
      this.credentialCache.set(key, entry);
    }
    if (entry.credentials && this.ageOf(entry) < this.settings.refreshIntervalMs) return { status: 'found', credentials: entry.credentials };
    const pending = this.fetchCredentials(identity, key, entry);
    // Stale but within bounds: answer now, the fetch above revalidates in the background.
    if (entry.credentials && this.ageOf(entry) <= this.settings.maxStalenessMs) return { status: 'found', credentials: entry.credentials };
    if (pending) await this.waitAtMost(pending, this.settings.lookupWaitMs);
    if (entry.credentials && this.ageOf(entry) <= this.settings.maxStalenessMs) return { status: 'found', credentials: entry.credentials };
    return { status: 'unavailable', reason: this.credentialsUnavailableReason(identity, entry) };
  }

  private async runSchedule(): Promise<void> {
    while (!this.stopped) {
      const wait = this.msUntilScheduledRefresh();
      if (wait > 0) {
        await this.delay(wait, this.stopController.signal);
        this.reportAge();
        continue;
      }
      const cycleStart = this.now();
      await this.refresh('scheduled');
      if (this.lastAttempt?.ok && !this.stopped) this.credentialSweep ??= this.sweepCredentials(cycleStart).finally(() => (this.credentialSweep = undefined));
    }
  }

  private msUntilScheduledRefresh(): number {
    const now = this.now();
    let due = now;
    if (this.lastAttempt?.ok) due = this.lastAttempt.at + this.settings.refreshIntervalMs;
    else if (this.lastAttempt) due = this.lastAttempt.at + this.backoffMs(this.failures);
    return Math.max(due, this.notBefore) - now;
  }

  private backoffMs(failures: number): number {
    const { initialMs, maxMs } = this.settings.errorBackoff;
    return Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
  }

  /** The listing in flight, or a new one: never two at once. */
  private refresh(trigger: RefreshTrigger): Promise<void> {
    this.inflight ??= this.list(trigger).finally(() => {
      this.inflight = undefined;
      if (this.changedDuringRefresh && !this.stopped) {
        // The listing may have read the file before the change.
        this.changedDuringRefresh = false;
        void this.refresh('source_change');
      }
    });
    return this.inflight;
  }

  /** For lookups: join the listing in flight, or start one unless throttled or rate-limited. */
  private requestRefresh(): Promise<void> | undefined {
    if (this.inflight) return this.inflight;
    const now = this.now();
    if (this.stopped || now < this.notBefore || now - this.lastUnknownRefreshAt < this.settings.minUnknownRefreshIntervalMs) return undefined;
    this.lastUnknownRefreshAt = now;
    return this.refresh('unknown_id');
  }

  private onSourceChange(source: IdentitySource): void {
    this.log.debug({ source: source.description }, 'identity source changed');
    if (this.inflight) this.changedDuringRefresh = true;
    else void this.refresh('source_change');
  }

  /** Lists every source; never rejects. */
  private async list(trigger: RefreshTrigger): Promise<void> {
    const results = await Promise.allSettled(this.sources.map((source) => this.withTimeout((signal) => source.listIdentities(signal))));
    if (this.stopped) return;
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ source: this.sources[i], err: r.reason as unknown }] : []));
    if (failed.length === 0) {
      this.install(results.map((r) => (r.status === 'fulfilled' ? r.value : [])));
      this.hooks.onRefresh?.(trigger, 'success');
      return;
    }
    const now = this.now();
    this.failures++;
    this.lastAttempt = { at: now, ok: false };
    const throttled = failed.filter((f) => isThrottled(f.err));
    let waitMs: number | undefined;
    if (throttled.length > 0) {
      // No Retry-After: treat it like any failure's backoff.
      waitMs = Math.max(...throttled.map((f) => retryAfterMs(f.err) ?? this.backoffMs(this.failures)));
      this.notBefore = Math.max(this.notBefore, now + waitMs);
    }
    this.lastError = failed.map((f) => `${f.source?.description ?? 'source'}: ${describeArmError(f.err)}`).join('; ');
    this.hooks.onRefresh?.(trigger, throttled.length > 0 ? 'throttled' : 'error');
    this.reportAge();
    this.log.warn(
      { err: failed[0]?.err, trigger, attempt: this.failures, reason: this.lastError, retryAfterMs: waitMs, ageMs: this.ageMs() },
      this.snapshot ? 'inventory refresh failed, serving the last good inventory' : 'inventory listing failed',
    );
  }

  private install(lists: readonly ManagedIdentity[][]): void {
    const byClientId = new Map<string, ManagedIdentity>();
    const byPrincipalId = new Map<string, ManagedIdentity>();
    const byKey = new Map<string, { identity: ManagedIdentity; source: IdentitySource }>();
    let duplicates = 0;
    lists.forEach((identities, index) => {
      const source = this.sources[index];
      for (const identity of identities) {
        const key = identity.clientId.toLowerCase();
        if (byClientId.has(key)) {
          duplicates++;
          continue;
        }
        byClientId.set(key, identity);
        byPrincipalId.set(identity.principalId.toLowerCase(), identity);
        if (source) byKey.set(identityKey(identity), { identity, source });
      }
    });
    const first = this.snapshot === undefined;
    const previousSize = this.size();
    const now = this.now();
    this.snapshot = { byClientId, byPrincipalId, byKey, loadedAt: now };
    this.lastAttempt = { at: now, ok: true };
    this.failures = 0;
    this.lastError = undefined;
    this.staleReported = false;
    this.hooks.onSize?.(byClientId.size);
    this.hooks.onAge?.(0);
    if (duplicates > 0) this.log.warn({ duplicates }, 'client IDs listed more than once; the first source listing them wins');
    const fields = { identities: byClientId.size, sources: this.sources.length };
    if (first) this.log.info(fields, 'inventory loaded');
    else if (byClientId.size !== previousSize) this.log.info({ ...fields, previous: previousSize }, 'inventory changed');
    else this.log.debug(fields, 'inventory refreshed');
  }

  private isUsable(): boolean {
    return this.snapshot !== undefined && this.now() - this.snapshot.loadedAt <= this.settings.maxStalenessMs;
  }

  private findInSnapshot(key: string): IdentityLookup | undefined {
    const identity = this.snapshot?.byClientId.get(key);
    if (identity) return { status: 'found', identity };
    const byPrincipal = this.snapshot?.byPrincipalId.get(key);
    if (byPrincipal) return { status: 'principalId', identity: byPrincipal };
    return undefined;
  }

  private answer(lookup: IdentityLookup, result?: LookupResult): IdentityLookup {
    const label: LookupResult = result ?? (lookup.status === 'found' ? 'hit' : lookup.status === 'principalId' ? 'principal_id' : lookup.status === 'unknown' ? 'miss' : 'unavailable');
    this.hooks.onLookup?.(label);
    return lookup;
  }

  private unavailableReason(): string {
    const failure = this.lastError ? `last listing failed: ${this.lastError}` : 'the first listing is still in progress';
    if (!this.snapshot) return `the identity inventory has not loaded yet (${failure})`;
    const reason = `the identity inventory is ${formatDuration(this.now() - this.snapshot.loadedAt)} old, older than the ${formatDuration(this.settings.maxStalenessMs)} allowed (${failure})`;
    if (!this.staleReported) {
      this.staleReported = true;
      this.log.error({ reason }, 'inventory too stale to use');
    }
    return reason;
  }

  /**
   * Runs a source call with an abort signal that fires on stop() or after
   * `requestTimeoutMs`. A source that ignores the signal is abandoned all the
   * same, so a hung connection can neither hold the single flight nor stop().
   */
  private async withTimeout<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ms = this.settings.requestTimeoutMs;
    const request = new AbortController();
    const timer = new AbortController();
    let onStop = (): void => undefined;
    const stopped = new Promise<never>((_resolve, reject) => {
      onStop = (): void => {
        request.abort(this.stopController.signal.reason);
        reject(new Error('the inventory is stopping'));
      };
    });
    this.stopController.signal.addEventListener('abort', onStop, { once: true });
    if (this.stopController.signal.aborted) onStop();
    const timedOut = this.delay(ms, timer.signal).then(() => {
      if (timer.signal.aborted) return new Promise<never>(() => undefined);
      const err = new Error(`no answer within ${formatDuration(ms)}`);
      request.abort(err);
      throw err;
    });
    try {
      return await Promise.race([run(request.signal), timedOut, stopped]);
    } finally {
      timer.abort();
      this.stopController.signal.removeEventListener('abort', onStop);
    }
  }

  /** Waits for `promise` at most `ms`; true when it settled in time. */
  private async waitAtMost(promise: Promise<void>, ms: number): Promise<boolean> {
    const timeout = new AbortController();
    const onStop = (): void => timeout.abort();
    this.stopController.signal.addEventListener('abort', onStop, { once: true });
    let settled = false;
    try {
      await Promise.race([promise.then(() => (settled = true)), this.delay(ms, timeout.signal)]);
    } finally {
      timeout.abort();
      this.stopController.signal.removeEventListener('abort', onStop);
    }
    return settled;
  }

  private ageOf(entry: CredentialEntry): number {
    return entry.fetchedAt === undefined ? Infinity : this.now() - entry.fetchedAt;
  }

  /** The fetch in flight for this identity, or a new one unless throttled or backing off. */
  private fetchCredentials(identity: ManagedIdentity, key: string, entry: CredentialEntry): Promise<void> | undefined {
    if (entry.inflight) return entry.inflight;
    const now = this.now();
    if (this.stopped || now < this.notBefore || now < entry.nextAttemptAt) return undefined;
    const source = this.snapshot?.byKey.get(key)?.source ?? (this.sources.length === 1 ? this.sources[0] : undefined);
    if (!source) {
      entry.lastError = 'the identity is not in the inventory';
      return undefined;
    }
    entry.inflight = this.loadCredentials(source, identity, entry).finally(() => (entry.inflight = undefined));
    return entry.inflight;
  }

  /** Never rejects. */
  private async loadCredentials(source: IdentitySource, identity: ManagedIdentity, entry: CredentialEntry): Promise<void> {
    try {
      const credentials = await this.withTimeout((signal) => source.listFederatedCredentials(identity, signal));
      this.storeCredentials(entry, credentials);
    } catch (err) {
      if (this.stopped) return;
      // Deleted since the last listing: it trusts nothing; the next listing drops it.
      if (isNotFound(err)) return this.storeCredentials(entry, []);
      const now = this.now();
      entry.failures++;
      entry.lastError = describeArmError(err);
      entry.nextAttemptAt = now + this.backoffMs(entry.failures);
      if (isThrottled(err)) this.notBefore = Math.max(this.notBefore, now + (retryAfterMs(err) ?? this.backoffMs(entry.failures)));
      this.log.warn({ err, identity: identity.name, clientId: identity.clientId, attempt: entry.failures, reason: entry.lastError }, 'federated credential listing failed');
    }
  }

  private storeCredentials(entry: CredentialEntry, credentials: readonly FederatedCredential[]): void {
    entry.credentials = credentials;
    entry.fetchedAt = this.now();
    entry.failures = 0;
    entry.nextAttemptAt = -Infinity;
    delete entry.lastError;
  }

  /**
   * After a scheduled listing: re-list the credentials of identities asked
   * about recently (still in the cache) that were fetched before this cycle,
   * one at a time so a large cache does not burst ARM.
   */
  private async sweepCredentials(cycleStart: number): Promise<void> {
    for (const [key, entry] of [...this.credentialCache.entries()]) {
      if (this.stopped) return;
      // has() is false for entries idle longer than credentialIdleMs, and does not refresh their age.
      if (!this.credentialCache.has(key) || (entry.fetchedAt !== undefined && entry.fetchedAt > cycleStart)) continue;
      const identity = this.snapshot?.byKey.get(key)?.identity;
      if (!identity) {
        this.credentialCache.delete(key);
        continue;
      }
      await this.fetchCredentials(identity, key, entry);
    }
  }

  private credentialsUnavailableReason(identity: ManagedIdentity, entry: CredentialEntry): string {
    const what = `the federated credentials of ${identity.name} (${identity.clientId})`;
    const why = entry.lastError ?? (entry.inflight ? `no answer within ${this.settings.lookupWaitMs} ms` : 'not listed yet');
    if (entry.credentials) return `${what} were last listed ${formatDuration(this.ageOf(entry))} ago, longer than the ${formatDuration(this.settings.maxStalenessMs)} allowed (${why})`;
    return `${what} could not be listed (${why})`;
  }

  private reportAge(): void {
    const age = this.ageMs();
    if (age !== undefined) this.hooks.onAge?.(age / 1000);
  }
}

function validateOptions(options: IdentityInventoryOptions): Settings {
  const fail = (message: string): never => {
    throw new AppError('WIA_ERR_INVENTORY_OPTIONS_INVALID', `identity inventory: ${message}`);
  };
  if (options.sources.length === 0) fail('at least one identity source is required');
  const settings = {
    refreshIntervalMs: options.refreshIntervalMs ?? DEFAULTS.refreshIntervalMs,
    maxStalenessMs: options.maxStalenessMs ?? DEFAULTS.maxStalenessMs,
    negativeCacheTtlMs: options.negativeCacheTtlMs ?? DEFAULTS.negativeCacheTtlMs,
    minUnknownRefreshIntervalMs: options.minUnknownRefreshIntervalMs ?? DEFAULTS.minUnknownRefreshIntervalMs,
    lookupWaitMs: options.lookupWaitMs ?? DEFAULTS.lookupWaitMs,
    maxNegativeEntries: options.maxNegativeEntries ?? DEFAULTS.maxNegativeEntries,
    maxCachedCredentials: options.maxCachedCredentials ?? DEFAULTS.maxCachedCredentials,
    credentialIdleMs: options.credentialIdleMs ?? DEFAULTS.credentialIdleMs,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
  };
  const errorBackoff = options.errorBackoff ?? { initialMs: Math.min(5_000, settings.refreshIntervalMs), maxMs: settings.refreshIntervalMs };
  for (const [name, value] of Object.entries({ ...settings, 'errorBackoff.initialMs': errorBackoff.initialMs, 'errorBackoff.maxMs': errorBackoff.maxMs })) {
    const positive = name === 'lookupWaitMs' ? value >= 0 : value > 0;
    if (!Number.isFinite(value) || !positive) fail(`${name} must be a ${name === 'lookupWaitMs' ? 'non-negative' : 'positive'} number, got ${value}`);
  }
  for (const name of ['maxNegativeEntries', 'maxCachedCredentials'] as const) {
    if (!Number.isInteger(settings[name])) fail(`${name} must be an integer, got ${settings[name]}`);
  }
  if (settings.maxStalenessMs < settings.refreshIntervalMs) {
    fail(`maxStalenessMs (${settings.maxStalenessMs}) must be at least refreshIntervalMs (${settings.refreshIntervalMs}), or the inventory would expire between refreshes`);
  }
  return { ...settings, errorBackoff };
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 2 * 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}
