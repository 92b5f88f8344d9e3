import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { CredentialResolution } from '../identity/managed-identity.js';
import { describeArmError, isNotFound, isThrottled, retryAfterMs } from './errors.js';
import type { IdentityIndex } from './identity-index.js';
import type { FederatedCredential, IdentitySource, ManagedIdentity } from './identity-source.js';
import { backoffMs, callSource, formatDuration, settleWithin, type InventoryClock, type InventorySettings, type ThrottleGate } from './inventory-options.js';
import { identityKey } from './resource-id.js';

interface Listed {
  readonly credentials: readonly FederatedCredential[];
  readonly fetchedAt: number;
  /** Last time an admission asked; the sweep drops lists idle longer than `credentialIdleMs`. */
  lastUsedAt: number;
}

interface Failures {
  count: number;
  nextAttemptAt: number;
  lastError: string;
}

/** Thrown by the fetch method instead of asking the source (backing off, throttled, stopping). */
class NotNow extends Error {}

export interface CredentialCacheDeps {
  readonly log: Logger;
  readonly settings: InventorySettings;
  readonly clock: InventoryClock;
  readonly throttle: ThrottleGate;
  readonly stop: AbortSignal;
  /** The current index: where each identity's source is, and whether it is still listed. */
  readonly index: () => IdentityIndex | undefined;
  /** With a single source, where to ask for an identity not (yet) in the index. */
  readonly onlySource: IdentitySource | undefined;
}

/**
 * Federated credentials of identities whose source lists them on request
 * (ARM), stale-while-revalidate through lru-cache's `fetchMethod`:
 *
 * - fetched on first use, one fetch per identity however many ask
 *   (lru-cache coalesces them); a caller waits at most `lookupWaitMs`;
 * - fresh for `refreshIntervalMs`; then the stale list answers at once while
 *   a background fetch revalidates it (`allowStale`), and a failed fetch
 *   keeps it (`allowStaleOnFetchRejection`) up to `maxStalenessMs`;
 * - failures back off per identity (no fetch per admission), and a 429
 *   closes the shared throttle gate; 404 means the identity is gone: it
 *   trusts nothing;
 * - `sweep()` re-lists, one at a time, the lists asked for recently, after
 *   each scheduled listing, so admissions rarely meet a stale one.
 */
export class CredentialCache {
  private readonly cache: LRUCache<string, Listed, ManagedIdentity>;
  private readonly failures: LRUCache<string, Failures>;

  constructor(private readonly deps: CredentialCacheDeps) {
    const { settings, clock } = deps;
    // ttlResolution 0: lru-cache would otherwise cache now() behind a real timer, which a fake clock cannot move.
    const perf = { now: () => clock.now() };
    this.cache = new LRUCache<string, Listed, ManagedIdentity>({
      max: settings.maxCachedCredentials,
      ttl: settings.refreshIntervalMs,
      // Stale lists stay until replaced or dropped by the sweep; keys() includes them.
      allowStale: true,
      noDeleteOnStaleGet: true,
      allowStaleOnFetchRejection: true,
      perf,
      ttlResolution: 0,
      fetchMethod: (key, stale, { context }) => this.fetch(key, stale, context),
    });
    this.failures = new LRUCache<string, Failures>({ max: settings.maxCachedCredentials });
  }

  /** The identity's credentials (see the class comment); never rejects. */
  async lookup(identity: ManagedIdentity): Promise<CredentialResolution> {
    const key = identityKey(identity);
    const now = this.deps.clock.now();
    const held = this.cache.peek(key);
    // A list older than maxStaleness is no answer: wait for the refetch instead of serving it.
    const usable = held !== undefined && now - held.fetchedAt <= this.deps.settings.maxStalenessMs;
    const pending = this.cache.fetch(key, { allowStale: usable, context: identity });
    const waited = await settleWithin(this.deps.clock, this.deps.stop, pending, this.deps.settings.lookupWaitMs);
    const answer = waited.settled ? waited.value : this.cache.peek(key);
    if (answer && this.deps.clock.now() - answer.fetchedAt <= this.deps.settings.maxStalenessMs) {
      answer.lastUsedAt = this.deps.clock.now();
      return { status: 'found', credentials: answer.credentials };
    }
    return { status: 'unavailable', reason: this.unavailableReason(identity, answer, !waited.settled) };
  }

  /**
   * After a scheduled listing that began at `cycleStart`: re-list the lists
   * fetched before it that were asked for within `credentialIdleMs` and whose
   * identity is still listed, one at a time so a large cache does not burst
   * ARM; drop the others.
   */
  async sweep(cycleStart: number): Promise<void> {
    for (const key of [...this.cache.keys()]) {
      if (this.deps.stop.aborted) return;
      const listed = this.cache.peek(key);
      const identity = this.deps.index()?.entry(key)?.identity;
      if (!listed || !identity || this.deps.clock.now() - listed.lastUsedAt > this.deps.settings.credentialIdleMs) {
        if (listed) this.cache.delete(key);
        continue;
      }
      if (listed.fetchedAt > cycleStart) continue;
      await this.cache.fetch(key, { forceRefresh: true, allowStale: false, context: identity });
    }
  }

  /** lru-cache's fetchMethod: the source's answer, or a rejection (the stale list, if any, stays). */
  private async fetch(key: string, stale: Listed | undefined, identity: ManagedIdentity): Promise<Listed> {
    const { clock, throttle, stop, settings, log } = this.deps;
    const now = clock.now();
    const failures = this.failures.get(key);
    if (stop.aborted || !throttle.isOpen(now) || (failures && now < failures.nextAttemptAt)) throw new NotNow();
    const source = this.deps.index()?.entry(key)?.source ?? this.deps.onlySource;
    if (!source) {
      this.failures.set(key, { count: 0, nextAttemptAt: -Infinity, lastError: 'the identity is not in the inventory' });
      throw new NotNow();
    }
    try {
      const credentials = await callSource(clock, stop, settings.requestTimeoutMs, (signal) => source.listFederatedCredentials(identity, signal));
      return this.listed(key, credentials, stale);
    } catch (err) {
      if (stop.aborted) throw err;
      // Deleted since the last listing: it trusts nothing; the next listing drops it.
      if (isNotFound(err)) return this.listed(key, [], stale);
      const at = clock.now();
      const count = (failures?.count ?? 0) + 1;
      const lastError = describeArmError(err);
      this.failures.set(key, { count, nextAttemptAt: at + backoffMs(settings, count), lastError });
      if (isThrottled(err)) throttle.closeUntil(at + (retryAfterMs(err) ?? backoffMs(settings, count)));
      log.warn({ err, identity: identity.name, clientId: identity.clientId, attempt: count, reason: lastError }, 'federated credential listing failed');
      throw err;
    }
  }

  private listed(key: string, credentials: readonly FederatedCredential[], stale: Listed | undefined): Listed {
    this.failures.delete(key);
    const now = this.deps.clock.now();
    return { credentials, fetchedAt: now, lastUsedAt: stale?.lastUsedAt ?? now };
  }

  private unavailableReason(identity: ManagedIdentity, listed: Listed | undefined, timedOut: boolean): string {
    const what = `the federated credentials of ${identity.name} (${identity.clientId})`;
    const why = this.failures.get(identityKey(identity))?.lastError ?? (timedOut ? `no answer within ${this.deps.settings.lookupWaitMs} ms` : 'not listed yet');
    if (!listed) return `${what} could not be listed (${why})`;
    const age = this.deps.clock.now() - listed.fetchedAt;
    return `${what} were last listed ${formatDuration(age)} ago, longer than the ${formatDuration(this.deps.settings.maxStalenessMs)} allowed (${why})`;
  }
}
