import { setMaxListeners } from 'node:events';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { CredentialResolution, IdentityResolution } from '../identity/managed-identity.js';
import { CredentialCache } from './credential-cache.js';
import type { IndexSummary } from './identity-index.js';
import { IdentityListing } from './identity-listing.js';
import type { IdentitySource, ManagedIdentity } from './identity-source.js';
import { createClock, settleWithin, ThrottleGate, validateOptions, type IdentityInventoryOptions, type InventoryClock, type InventoryHooks, type InventorySettings, type LookupResult } from './inventory-options.js';

export type { IdentityInventoryOptions, InventoryHooks, LookupResult, RefreshResult, RefreshTrigger } from './inventory-options.js';
export type { IndexSummary, UnknownCredentials } from './identity-index.js';

/** The inventory answers in the domain's terms (identity/managed-identity.ts). */
export type IdentityLookup = IdentityResolution;
export type CredentialLookup = CredentialResolution;

/**
 * The user-assigned managed identities the webhook knows, and their
 * federated credentials. Three parts, each in its own file:
 *
 * - `IdentityListing` (identity-listing.ts): the full listing of every source
 *   on a schedule, single-flight, with backoff and Retry-After, kept as an
 *   `IdentityIndex` (identity-index.ts) replaced whole on each listing;
 * - a negative cache here: an unknown client ID joins the listing in
 *   flight, or starts one at most every `minUnknownRefreshIntervalMs`, waits
 *   for it at most `lookupWaitMs`, then is remembered for
 *   `negativeCacheTtlMs`: a flood of bad IDs costs at most one listing per
 *   interval;
 * - `CredentialCache` (credential-cache.ts): credentials fetched per identity
 *   on first use, stale-while-revalidate.
 *
 * Failures keep the last good index for up to `maxStalenessMs`; after that,
 * and before the first listing, lookups answer `unavailable` and the
 * policy's `onInventoryUnavailable` decides. The index is two Maps, not an
 * LRU: evicting a known identity would make it look unknown.
 */
export class IdentityInventory {
  private readonly log: Logger;
  private readonly hooks: InventoryHooks;
  private readonly settings: InventorySettings;
  private readonly clock: InventoryClock;
  private readonly stopController = new AbortController();
  private readonly listing: IdentityListing;
  private readonly credentials: CredentialCache;
  private readonly negative: LRUCache<string, true>;
  /** The index last reported too stale to use: reported once per index. */
  private staleReported: IndexSummary | undefined;
  private running: Promise<void> | undefined;
  private credentialSweep: Promise<void> | undefined;

  constructor(options: IdentityInventoryOptions) {
    this.settings = validateOptions(options);
    this.log = options.log;
    this.hooks = options.hooks ?? {};
    this.clock = createClock(options);
    const stop = this.stopController.signal;
    // Every lookup waiting on a refresh, and every source call, listens for stop; a burst of them is normal, not a leak.
    setMaxListeners(0, stop);
    const throttle = new ThrottleGate();
    const sources = [...options.sources];
    const common = { log: this.log, settings: this.settings, clock: this.clock, throttle, stop };
    this.listing = new IdentityListing({ ...common, sources, hooks: this.hooks });
    this.credentials = new CredentialCache({ ...common, index: () => this.listing.index, onlySource: sources.length === 1 ? sources[0] : undefined });
    // ttlResolution 0: lru-cache would otherwise cache now() behind a real timer, which a fake clock cannot move.
    this.negative = new LRUCache<string, true>({
      max: this.settings.maxNegativeEntries,
      ttl: this.settings.negativeCacheTtlMs,
      perf: { now: () => this.clock.now() },
      ttlResolution: 0,
    });
  }

  /** Starts the first listing and the refresh schedule, and watches sources that can be watched. */
  start(): void {
    if (this.running || this.stopController.signal.aborted) return;
    this.listing.watchSources();
    const afterScheduled = (cycleStart: number): void => {
      this.credentialSweep ??= this.credentials.sweep(cycleStart).finally(() => (this.credentialSweep = undefined));
    };
    this.running = this.listing.runSchedule(afterScheduled, () => this.reportAge()).catch((err: unknown) => {
      this.log.error({ err }, 'inventory schedule stopped by an unexpected error');
    });
  }

  /** Stops the schedule and watches, aborts requests in flight, clears every timer. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.listing.stop();
    await this.running;
    await this.credentialSweep;
  }

  /** True once a full listing succeeded (readiness); stays true while the last good list is served. */
  hasLoaded(): boolean {
    return this.listing.index !== undefined;
  }

  size(): number {
    return this.listing.index?.size ?? 0;
  }

  /** Time since the last successful listing, or undefined before the first. */
  ageMs(): number | undefined {
    return this.listing.ageMs();
  }

  /**
   * What the last listing holds: its size, and the identities whose
   * federated credentials their source did not give (an identities file
   * without them), for which the credential check is skipped. Undefined
   * before the first listing.
   */
  summary(): IndexSummary | undefined {
    return this.listing.index?.summary;
  }

  /**
   * What the inventory knows about `clientId`. A known ID answers from
   * memory; an unknown one may wait up to `lookupWaitMs` for a coalesced,
   * rate-limited refresh (see the class comment).
   */
  async lookupClientId(clientId: string): Promise<IdentityLookup> {
    const key = clientId.trim().toLowerCase();
    this.reportAge();
    if (!this.listing.staleness().usable) {
      const pending = this.listing.requestRefresh();
      if (pending) await this.waitAtMost(pending);
      const after = this.listing.staleness();
      if (!after.usable) return this.answer(this.unavailable(after.reason));
    }
    const known = this.listing.index?.find(key);
    if (known) return this.answer(known);
    if (this.negative.has(key)) return this.answer({ status: 'unknown' }, 'negative_hit');

    const pending = this.listing.requestRefresh();
    const completed = pending ? await this.waitAtMost(pending) : true;
    const found = this.listing.index?.find(key);
    if (found) return this.answer(found);
    const staleness = this.listing.staleness();
    if (!staleness.usable) return this.answer(this.unavailable(staleness.reason));
    // Still waiting on a slow listing: later callers join it rather than read a negative entry.
    if (completed) this.negative.set(key, true);
    return this.answer({ status: 'unknown' }, 'miss');
  }

  /**
   * The identity's federated credentials: given inline (file source), unknown
   * when the file does not give them, or listed from its source on first use
   * and then kept fresh in the background, so steady-state admissions never
   * wait on ARM. Past `maxStalenessMs` without a successful listing the
   * answer is `unavailable`.
   */
  async federatedCredentials(identity: ManagedIdentity): Promise<CredentialLookup> {
    const inline = identity.federatedCredentials;
    if (inline === 'unknown') return { status: 'unknown', reason: `${this.sourceOf(identity)} gives no federatedCredentials for ${identity.name}` };
    if (inline) return { status: 'found', credentials: inline };
    return this.credentials.lookup(identity);
  }

  private sourceOf(identity: ManagedIdentity): string {
    return this.listing.index?.entry(identity.clientId.toLowerCase())?.source.description ?? 'the identity source';
  }

  /** Logs once per index grown too stale (the reason itself is computed without side effects). */
  private unavailable(reason: string): IdentityLookup {
    const index = this.listing.index;
    if (index && this.staleReported !== index.summary) {
      this.staleReported = index.summary;
      this.log.error({ reason }, 'inventory too stale to use');
    }
    return { status: 'unavailable', reason };
  }

  private answer(lookup: IdentityLookup, result?: LookupResult): IdentityLookup {
    const label: LookupResult = result ?? (lookup.status === 'found' ? 'hit' : lookup.status === 'principalId' ? 'principal_id' : lookup.status === 'unknown' ? 'miss' : 'unavailable');
    this.hooks.onLookup?.(label);
    return lookup;
  }

  /** Waits for `promise` at most `lookupWaitMs`; true when it settled in time. */
  private async waitAtMost(promise: Promise<void>): Promise<boolean> {
    return (await settleWithin(this.clock, this.stopController.signal, promise, this.settings.lookupWaitMs)).settled;
  }

  private reportAge(): void {
    const age = this.ageMs();
    if (age !== undefined) this.hooks.onAge?.(age / 1000);
  }
}

export type { IdentitySource };
