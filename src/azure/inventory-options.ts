import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { abortableDelay } from '../kube/informer.js';
import type { IdentitySource } from './identity-source.js';
import type { IndexSummary } from './identity-index.js';

/** Metric label values (bounded). */
export type RefreshTrigger = 'scheduled' | 'unknown_id' | 'source_change';
export type RefreshResult = 'success' | 'error' | 'throttled';
export type LookupResult = 'hit' | 'principal_id' | 'miss' | 'negative_hit' | 'unavailable';

/** Metrics and start-up notes, injected so the inventory does not import src/metrics.ts. */
export interface InventoryHooks {
  onRefresh?(trigger: RefreshTrigger, result: RefreshResult): void;
  onLookup?(result: LookupResult): void;
  onSize?(size: number): void;
  /** Seconds since the last successful full refresh; updated on refreshes and lookups. */
  onAge?(seconds: number): void;
  /** After every successful listing, what the new index holds. */
  onListed?(summary: IndexSummary): void;
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
  /**
   * Waits `ms` or until the signal aborts; injectable so tests never sleep.
   * When given, it also times out source calls (tests move one clock);
   * otherwise they get `AbortSignal.timeout`.
   */
  readonly delay?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export type InventorySettings = Required<Omit<IdentityInventoryOptions, 'sources' | 'log' | 'hooks' | 'now' | 'delay'>>;

/** Time as the inventory sees it: one clock for waits, ages and request deadlines. */
export interface InventoryClock {
  now(): number;
  delay(ms: number, signal: AbortSignal): Promise<void>;
  /** A signal that aborts with a TimeoutError after `ms`, or when `stop` aborts (which also ends its timer). */
  timeout(ms: number, stop: AbortSignal): AbortSignal;
}

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

export function createClock(options: Pick<IdentityInventoryOptions, 'now' | 'delay'>): InventoryClock {
  const delay = options.delay;
  return {
    now: options.now ?? (() => performance.now()),
    delay: delay ?? abortableDelay,
    timeout: delay
      ? (ms, stop) => {
          const controller = new AbortController();
          void delay(ms, stop).then(() => {
            if (!stop.aborted) controller.abort(new DOMException('the operation timed out', 'TimeoutError'));
          });
          return AbortSignal.any([stop, controller.signal]);
        }
      : (ms, stop) => AbortSignal.any([stop, AbortSignal.timeout(ms)]),
  };
}

/** Options checked where they enter: every failure names the option and the value. */
export function validateOptions(options: IdentityInventoryOptions): InventorySettings {
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

/** Retry delay after `failures` consecutive failures: doubling from initialMs, capped at maxMs. */
export function backoffMs(settings: Pick<InventorySettings, 'errorBackoff'>, failures: number): number {
  const { initialMs, maxMs } = settings.errorBackoff;
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
}

/**
 * ARM's Retry-After, shared by listings and credential fetches: nothing is
 * sent to any source before `notBefore`.
 */
export class ThrottleGate {
  private notBefore = -Infinity;

  /** The first time a request may be sent. */
  get opensAt(): number {
    return this.notBefore;
  }

  isOpen(now: number): boolean {
    return now >= this.notBefore;
  }

  closeUntil(time: number): void {
    this.notBefore = Math.max(this.notBefore, time);
  }
}

/**
 * One call to a source, with a signal that aborts on `stop` or after
 * `timeoutMs`. The call is abandoned when the signal aborts even if the
 * source ignores it, so a hung connection can hold neither the single flight
 * nor stop(). A timeout rejects with `no answer within …`.
 */
export async function callSource<T>(clock: InventoryClock, stop: AbortSignal, timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const signal = clock.timeout(timeoutMs, stop);
  try {
    return await untilAborted(work, signal);
  } catch (err) {
    if (stop.aborted) throw new Error('the inventory is stopping', { cause: err });
    if (signal.aborted) throw new Error(`no answer within ${formatDuration(timeoutMs)}`, { cause: err });
    throw err;
  }
}

/** Waits for `promise` at most `ms` on the clock (and never past `stop`). */
export async function settleWithin<T>(clock: InventoryClock, stop: AbortSignal, promise: Promise<T>, ms: number): Promise<{ settled: true; value: T } | { settled: false }> {
  const timer = new AbortController();
  const onStop = (): void => timer.abort();
  stop.addEventListener('abort', onStop, { once: true });
  try {
    return await Promise.race([promise.then((value) => ({ settled: true as const, value })), clock.delay(ms, timer.signal).then(() => ({ settled: false as const }))]);
  } finally {
    timer.abort();
    stop.removeEventListener('abort', onStop);
  }
}

function untilAborted<T>(work: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work(signal).then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 2 * 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}
