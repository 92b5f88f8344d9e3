import type { Logger } from 'pino';
import { isResourceVersionUnavailable, WatchStalledError } from './api-error.js';

/** One page of a list call. */
export interface ListPage {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
  readonly continueToken: string | undefined;
}

export interface WatchHandle {
  abort(): void;
}

/** One list call: the first page at `resourceVersion`, or the page a continue token points to. */
export interface ListRequest {
  /** `0` (any version, from the API server's watch cache), `` (a consistent read from etcd) or a version not to go back before. */
  readonly resourceVersion: string;
  readonly continueToken: string | undefined;
  readonly signal: AbortSignal;
}

/** The API server side of an informer: paged list, and watch from a resourceVersion. */
export interface ListWatchSource {
  list(request: ListRequest): Promise<ListPage>;
  watch(
    resourceVersion: string,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle>;
}

export interface InformerHooks {
  /** Called after every change of the store (metrics). */
  onStoreChange?(size: number): void;
  /** Called when the watch restarts, with the cause (metrics). */
  onRestart?(cause: RestartCause): void;
  onSynced?(): void;
}

/**
 * Why a watch was restarted: `expired` (410 Gone: relist), `error` (the watch
 * request failed), `error_event` (the API server sent an ERROR event other
 * than 410: relist), `stalled` (nothing arrived within the watch's timeout:
 * a half-open connection), `closed` (the server ended it, as it does at
 * `timeoutSeconds`).
 */
export type RestartCause = 'expired' | 'error' | 'error_event' | 'stalled' | 'closed';

/** A store key (e.g. `namespace/name`) and what is kept for it. */
export type InformerEntry<T> = readonly [key: string, record: T];

/** What changed in the store: one key (added, modified or deleted), or all of it (a relist). */
export type StoreChange = { readonly kind: 'key'; readonly key: string } | { readonly kind: 'all' };

export interface InformerOptions<T> {
  readonly source: ListWatchSource;
  /** The key and slim record of an API object, or undefined to ignore it. */
  readonly toEntry: (object: unknown) => InformerEntry<T> | undefined;
  readonly log: Logger;
  readonly hooks?: InformerHooks;
  /** Waits `ms` or until the signal aborts; injectable so tests never sleep. */
  readonly delay?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Backoff after failures: initial and maximum wait. */
  readonly backoff?: { initialMs: number; maxMs: number };
}

type WatchOutcome =
  | { kind: 'expired' }
  | { kind: 'error_event'; status: unknown }
  | { kind: 'closed'; quick: boolean }
  | { kind: 'error'; err: unknown };

/**
 * List + watch into a map of slim records (informer/reflector in the
 * client-go sense, with the same contract as client-node's ListWatch but
 * keeping only what `toEntry` returns: 50,000 full ServiceAccounts would
 * otherwise be held for a few annotations).
 *
 * - A relist builds a new map and swaps it in whole, so no record deleted
 *   while the watch was down survives it.
 * - Lists ask for resourceVersion `0` first, which the API server answers
 *   from its watch cache instead of etcd; later relists ask for the last
 *   version seen (never going back in time), and after a 410 Gone, or when
 *   the cache cannot serve that version, for a consistent read (`""`), as
 *   client-go's reflector does.
 * - `410 Gone` (resourceVersion too old) relists at once; an ERROR event
 *   with any other status is logged, counted and followed by a relist after
 *   a backoff; other failures retry the watch with exponential backoff; a
 *   watch the server closes normally is resumed from the last
 *   resourceVersion seen.
 * - `hasSynced()` turns true after the first complete list and stays true:
 *   the last known state keeps answering while the watch recovers.
 */
export class Informer<T> {
  private store = new Map<string, T>();
  private synced = false;
  private stopped = false;
  private resourceVersion = '';
  /** The last resourceVersion is gone from the API server (410): the next list is a consistent read. */
  private versionUnavailable = false;
  private currentWatch: WatchHandle | undefined;
  private readonly stopController = new AbortController();
  private failures = 0;
  private running: Promise<void> | undefined;
  private readonly listeners = new Set<(change: StoreChange) => void>();

  constructor(private readonly options: InformerOptions<T>) {}

  /** Calls `listener` after each change of the store (after the first sync too); returns the unsubscribe. */
  subscribe(listener: (change: StoreChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The entries, in store order, read lazily: changes made while a caller
   * pauses are seen as a Map iterator sees them (a relist swaps the store:
   * the iteration goes on over the old one, and `subscribe` says `all`).
   */
  entries(): IterableIterator<[string, T]> {
    return this.store.entries();
  }

  start(): void {
    this.running ??= this.run().catch((err: unknown) => {
      this.options.log.error({ err }, 'informer stopped by an unexpected error');
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    this.currentWatch?.abort();
    await this.running;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  size(): number {
    return this.store.size;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.relist();
      } catch (err) {
        if (this.stopped) return;
        this.options.log.warn({ err, attempt: this.failures + 1 }, 'list failed, retrying');
        await this.backoff();
        continue;
      }
      await this.watchUntilExpired();
    }
  }

  /** client-go's relistResourceVersion. */
  private relistVersion(): string {
    if (this.versionUnavailable) return '';
    return this.resourceVersion === '' ? '0' : this.resourceVersion;
  }

  private async relist(): Promise<void> {
    try {
      await this.listInto(this.relistVersion());
    } catch (err) {
      if (!isResourceVersionUnavailable(err) || this.stopped) throw err;
      // The watch cache cannot serve that version: read from etcd instead, at once.
      this.options.log.info({ resourceVersion: this.relistVersion() }, 'list at that resourceVersion unavailable, listing consistently');
      this.versionUnavailable = true;
      await this.listInto('');
    }
  }

  private async listInto(listVersion: string): Promise<void> {
    const next = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion: string;
    do {
      const page = await this.options.source.list({ resourceVersion: listVersion, continueToken, signal: this.stopController.signal });
      for (const item of page.items) {
        const entry = this.options.toEntry(item);
        if (entry !== undefined) next.set(entry[0], entry[1]);
      }
      resourceVersion = page.resourceVersion;
      continueToken = page.continueToken;
    } while (continueToken && !this.stopped);
    if (this.stopped) return;
    this.store = next;
    this.resourceVersion = resourceVersion;
    this.versionUnavailable = false;
    this.failures = 0;
    this.options.hooks?.onStoreChange?.(next.size);
    if (!this.synced) {
      this.synced = true;
      this.options.log.info({ size: next.size }, 'cache synced');
      this.options.hooks?.onSynced?.();
    }
    this.notify({ kind: 'all' });
  }

  private notify(change: StoreChange): void {
    for (const listener of this.listeners) listener(change);
  }

  private async watchUntilExpired(): Promise<void> {
    while (!this.stopped) {
      const outcome = await this.watchOnce();
      if (this.stopped) return;
      if (outcome.kind === 'expired') {
        this.options.log.info({ resourceVersion: this.resourceVersion }, 'watch expired (410 Gone), relisting');
        this.options.hooks?.onRestart?.('expired');
        this.versionUnavailable = true;
        return;
      }
      if (outcome.kind === 'error_event') {
        // client-go ends the watch on any ERROR event and lists again after a backoff.
        this.options.log.warn({ status: summarizeStatus(outcome.status), attempt: this.failures + 1 }, 'watch error event, relisting');
        this.options.hooks?.onRestart?.('error_event');
        await this.backoff();
        return;
      }
      if (outcome.kind === 'error') {
        const stalled = outcome.err instanceof WatchStalledError;
        this.options.log.warn({ err: outcome.err, attempt: this.failures + 1 }, stalled ? 'watch connection silent past its timeout, reconnecting' : 'watch failed, retrying');
        this.options.hooks?.onRestart?.(stalled ? 'stalled' : 'error');
        await this.backoff();
        // After repeated failures, relist: the resourceVersion may be gone too.
        if (this.failures >= 3) return;
        continue;
      }
      this.options.hooks?.onRestart?.('closed');
      // A server that closes watches at once would otherwise make us spin.
      if (outcome.quick) await this.backoff();
      else this.failures = 0;
    }
  }

  private watchOnce(): Promise<WatchOutcome> {
    const startedAt = Date.now();
    return new Promise<WatchOutcome>((resolve) => {
      let sawError = false;
      let settled = false;
      const onStop = (): void => finish({ kind: 'closed', quick: false });
      const finish = (outcome: WatchOutcome): void => {
        if (settled) return;
        settled = true;
        this.stopController.signal.removeEventListener('abort', onStop);
        this.currentWatch?.abort();
        this.currentWatch = undefined;
        resolve(outcome);
      };
      const onEvent = (type: string, object: unknown): void => {
        if (settled) return;
        if (type === 'ERROR') {
          sawError = true;
          this.currentWatch?.abort();
          finish(isGone(object) ? { kind: 'expired' } : { kind: 'error_event', status: object });
          return;
        }
        this.applyEvent(type, object);
      };
      const onDone = (err: unknown): void => {
        if (sawError) return;
        if (err && !this.stopped) finish({ kind: 'error', err });
        else finish({ kind: 'closed', quick: Date.now() - startedAt < 1000 });
      };
      // Stopping must not wait for a watch whose response has not started.
      this.stopController.signal.addEventListener('abort', onStop, { once: true });
      // A watch request that never gets response headers would stall the informer.
      const startTimer = setTimeout(() => finish({ kind: 'error', err: new Error('watch did not start within 30 s') }), 30_000);
      startTimer.unref();
      this.options.source.watch(this.resourceVersion, onEvent, onDone).then(
        (handle) => {
          clearTimeout(startTimer);
          if (settled || this.stopped) handle.abort();
          else this.currentWatch = handle;
        },
        (err: unknown) => {
          clearTimeout(startTimer);
          finish(isGone(err) ? { kind: 'expired' } : { kind: 'error', err });
        },
      );
    });
  }

  private applyEvent(type: string, object: unknown): void {
    const rv = resourceVersionOf(object);
    if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
      const entry = this.options.toEntry(object);
      if (entry !== undefined) {
        if (type === 'DELETED') this.store.delete(entry[0]);
        else this.store.set(entry[0], entry[1]);
        this.options.hooks?.onStoreChange?.(this.store.size);
        this.notify({ kind: 'key', key: entry[0] });
      }
    }
    if (rv) this.resourceVersion = rv;
  }

  private async backoff(): Promise<void> {
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 500, maxMs: 30_000 };
    const wait = Math.min(maxMs, initialMs * 2 ** this.failures);
    this.failures++;
    // Full jitter keeps replicas from reconnecting in lockstep.
    const jittered = wait / 2 + Math.random() * (wait / 2);
    await (this.options.delay ?? abortableDelay)(jittered, this.stopController.signal);
  }
}

function resourceVersionOf(object: unknown): string | undefined {
  const rv = (object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

/** A 410 Gone, as a watch ERROR Status object or as a failed watch request. */
function isGone(value: unknown): boolean {
  const v = value as { code?: unknown; statusCode?: unknown } | null;
  return v?.code === 410 || v?.statusCode === 410;
}

function summarizeStatus(object: unknown): { code?: unknown; reason?: unknown; message?: unknown } {
  const s = object as { code?: unknown; reason?: unknown; message?: unknown } | null;
  return { code: s?.code, reason: s?.reason, message: typeof s?.message === 'string' ? s.message.slice(0, 300) : undefined };
}

export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
