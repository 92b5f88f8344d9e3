import type { Logger } from 'pino';
import { describeArmError, isThrottled, retryAfterMs } from './errors.js';
import { IdentityIndex } from './identity-index.js';
import type { IdentitySource, ManagedIdentity } from './identity-source.js';
import { backoffMs, callSource, formatDuration, type InventoryClock, type InventoryHooks, type InventorySettings, type RefreshTrigger, type ThrottleGate } from './inventory-options.js';

/** A source that can say when its data may have changed (the file source). */
interface ChangeNotifyingSource extends IdentitySource {
  watch(onChange: () => void): () => void;
}

function isChangeNotifying(source: IdentitySource): source is ChangeNotifyingSource {
  return typeof (source as Partial<ChangeNotifyingSource>).watch === 'function';
}

export interface IdentityListingDeps {
  readonly sources: readonly IdentitySource[];
  readonly log: Logger;
  readonly hooks: InventoryHooks;
  readonly settings: InventorySettings;
  readonly clock: InventoryClock;
  readonly throttle: ThrottleGate;
  /** Aborts on the inventory's stop(). */
  readonly stop: AbortSignal;
}

/** Whether the index may be used, and why not. */
export type Staleness = { readonly usable: true } | { readonly usable: false; readonly reason: string };

/**
 * The full listing of every source, kept in an `IdentityIndex`:
 *
 * - one listing at start and every `refreshIntervalMs`; a listing replaces
 *   the index whole, and only when every source answered (a partial list
 *   would turn real identities into "unknown");
 * - at most one listing in flight: scheduled, unknown-ID and source-change
 *   refreshes share it (single flight);
 * - failures retry with a doubling backoff and keep the last good index;
 *   429: nothing is sent to any source before its Retry-After.
 */
export class IdentityListing {
  private current: IdentityIndex | undefined;
  private inflight: Promise<void> | undefined;
  private lastAttempt: { readonly at: number; readonly ok: boolean } | undefined;
  private failures = 0;
  private lastError: string | undefined;
  private lastUnknownRefreshAt = -Infinity;
  private changedDuringRefresh = false;
  private readonly unwatch: (() => void)[] = [];

  constructor(private readonly deps: IdentityListingDeps) {}

  get index(): IdentityIndex | undefined {
    return this.current;
  }

  /** Watches the sources that can be watched. */
  watchSources(): void {
    for (const source of this.deps.sources) {
      if (isChangeNotifying(source)) this.unwatch.push(source.watch(() => this.onSourceChange(source)));
    }
  }

  /** Stops the watches and waits for the listing in flight (abandoned by the stop signal). */
  async stop(): Promise<void> {
    for (const unwatch of this.unwatch.splice(0)) unwatch();
    await this.inflight;
  }

  /** Lists on schedule until stopped; `afterScheduled` runs after each successful scheduled listing. */
  async runSchedule(afterScheduled: (cycleStart: number) => void, onTick: () => void): Promise<void> {
    const { clock, stop } = this.deps;
    while (!stop.aborted) {
      const wait = this.msUntilScheduledRefresh();
      if (wait > 0) {
        await clock.delay(wait, stop);
        onTick();
        continue;
      }
      const cycleStart = clock.now();
      await this.refresh('scheduled');
      if (this.lastAttempt?.ok && !stop.aborted) afterScheduled(cycleStart);
    }
  }

  /** For lookups: join the listing in flight, or start one unless throttled or rate-limited. */
  requestRefresh(): Promise<void> | undefined {
    if (this.inflight) return this.inflight;
    const now = this.deps.clock.now();
    if (this.deps.stop.aborted || !this.deps.throttle.isOpen(now) || now - this.lastUnknownRefreshAt < this.deps.settings.minUnknownRefreshIntervalMs) return undefined;
    this.lastUnknownRefreshAt = now;
    return this.refresh('unknown_id');
  }

  /** Pure: whether the index may be used now (loaded, and no older than `maxStalenessMs`), and why not. */
  staleness(): Staleness {
    const { settings, clock } = this.deps;
    const failure = this.lastError ? `last listing failed: ${this.lastError}` : 'the first listing is still in progress';
    if (!this.current) return { usable: false, reason: `the identity inventory has not loaded yet (${failure})` };
    const age = clock.now() - this.current.loadedAt;
    if (age <= settings.maxStalenessMs) return { usable: true };
    return { usable: false, reason: `the identity inventory is ${formatDuration(age)} old, older than the ${formatDuration(settings.maxStalenessMs)} allowed (${failure})` };
  }

  ageMs(): number | undefined {
    return this.current ? this.deps.clock.now() - this.current.loadedAt : undefined;
  }

  private msUntilScheduledRefresh(): number {
    const now = this.deps.clock.now();
    let due = now;
    if (this.lastAttempt?.ok) due = this.lastAttempt.at + this.deps.settings.refreshIntervalMs;
    else if (this.lastAttempt) due = this.lastAttempt.at + backoffMs(this.deps.settings, this.failures);
    return Math.max(due, this.deps.throttle.opensAt) - now;
  }

  /** The listing in flight, or a new one: never two at once. */
  private refresh(trigger: RefreshTrigger): Promise<void> {
    this.inflight ??= this.list(trigger).finally(() => {
      this.inflight = undefined;
      if (this.changedDuringRefresh && !this.deps.stop.aborted) {
        // The listing may have read the file before the change.
        this.changedDuringRefresh = false;
        void this.refresh('source_change');
      }
    });
    return this.inflight;
  }

  private onSourceChange(source: IdentitySource): void {
    this.deps.log.debug({ source: source.description }, 'identity source changed');
    if (this.inflight) this.changedDuringRefresh = true;
    else void this.refresh('source_change');
  }

  /** Lists every source; never rejects. */
  private async list(trigger: RefreshTrigger): Promise<void> {
    const { sources, clock, stop, settings, hooks, log, throttle } = this.deps;
    const results = await Promise.allSettled(sources.map((source) => callSource(clock, stop, settings.requestTimeoutMs, (signal) => source.listIdentities(signal))));
    if (stop.aborted) return;
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ source: sources[i], err: r.reason as unknown }] : []));
    if (failed.length === 0) {
      this.install(results.map((r) => (r.status === 'fulfilled' ? r.value : [])));
      hooks.onRefresh?.(trigger, 'success');
      return;
    }
    const now = clock.now();
    this.failures++;
    this.lastAttempt = { at: now, ok: false };
    const throttled = failed.filter((f) => isThrottled(f.err));
    let waitMs: number | undefined;
    if (throttled.length > 0) {
      // No Retry-After: treat it like any failure's backoff.
      waitMs = Math.max(...throttled.map((f) => retryAfterMs(f.err) ?? backoffMs(settings, this.failures)));
      throttle.closeUntil(now + waitMs);
    }
    this.lastError = failed.map((f) => `${f.source?.description ?? 'source'}: ${describeArmError(f.err)}`).join('; ');
    hooks.onRefresh?.(trigger, throttled.length > 0 ? 'throttled' : 'error');
    const age = this.ageMs();
    if (age !== undefined) hooks.onAge?.(age / 1000);
    log.warn(
      { err: failed[0]?.err, trigger, attempt: this.failures, reason: this.lastError, retryAfterMs: waitMs, ageMs: age },
      this.current ? 'inventory refresh failed, serving the last good inventory' : 'inventory listing failed',
    );
  }

  private install(lists: readonly (readonly ManagedIdentity[])[]): void {
    const { clock, hooks, log, sources } = this.deps;
    const previous = this.current;
    const now = clock.now();
    const index = new IdentityIndex(sources, lists, now);
    this.current = index;
    this.lastAttempt = { at: now, ok: true };
    this.failures = 0;
    this.lastError = undefined;
    hooks.onSize?.(index.size);
    hooks.onAge?.(0);
    hooks.onListed?.(index.summary);
    const { duplicates } = index.summary;
    if (duplicates > 0) log.warn({ duplicates }, 'client IDs listed more than once; the first source listing them wins');
    const fields = { identities: index.size, sources: sources.length };
    if (!previous) log.info(fields, 'inventory loaded');
    else if (index.size !== previous.size) log.info({ ...fields, previous: previous.size }, 'inventory changed');
    else log.debug(fields, 'inventory refreshed');
  }
}
