import type { Logger } from 'pino';

/** One page of a list call. */
export interface ListPage {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
  readonly continueToken: string | undefined;
}

export interface WatchHandle {
  abort(): void;
}

/** The API server side of an informer: paged list, and watch from a resourceVersion. */
export interface ListWatchSource {
  list(continueToken: string | undefined): Promise<ListPage>;
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
  onRestart?(cause: 'expired' | 'error' | 'closed'): void;
  onSynced?(): void;
}

/** A store key (e.g. `namespace/name`) and what is kept for it. */
export type InformerEntry<T> = readonly [key: string, record: T];

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

type WatchOutcome = { kind: 'expired' } | { kind: 'closed'; quick: boolean } | { kind: 'error'; err: unknown };

/**
 * List + watch into a map of slim records (informer/reflector in the
 * client-go sense, with the same contract as client-node's ListWatch but
 * keeping only what `toEntry` returns: 50,000 full ServiceAccounts would
 * otherwise be held for a few annotations).
 *
 * - A relist builds a new map and swaps it in whole, so no record deleted
 *   while the watch was down survives it.
 * - `410 Gone` (resourceVersion too old) relists at once; other failures
 *   retry with exponential backoff; a watch the server closes normally is
 *   resumed from the last resourceVersion seen.
 * - `hasSynced()` turns true after the first complete list and stays true:
 *   the last known state keeps answering while the watch recovers.
 */
export class Informer<T> {
  private store = new Map<string, T>();
  private synced = false;
  private stopped = false;
  private resourceVersion = '';
  private currentWatch: WatchHandle | undefined;
  private readonly stopController = new AbortController();
  private failures = 0;
  private running: Promise<void> | undefined;

  constructor(private readonly options: InformerOptions<T>) {}

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
        this.options.log.warn({ err, attempt: this.failures + 1 }, 'list failed, retrying');
        await this.backoff();
        continue;
      }
      await this.watchUntilExpired();
    }
  }

  private async relist(): Promise<void> {
    const next = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion: string;
    do {
      const page = await this.options.source.list(continueToken);
      for (const item of page.items) {
        const entry = this.options.toEntry(item);
        if (entry !== undefined) next.set(entry[0], entry[1]);
      }
      resourceVersion = page.resourceVersion;
      continueToken = page.continueToken;
    } while (continueToken && !this.stopped);
    this.store = next;
    this.resourceVersion = resourceVersion;
    this.failures = 0;
    this.options.hooks?.onStoreChange?.(next.size);
    if (!this.synced) {
      this.synced = true;
      this.options.log.info({ size: next.size }, 'cache synced');
      this.options.hooks?.onSynced?.();
    }
  }

  private async watchUntilExpired(): Promise<void> {
    while (!this.stopped) {
      const outcome = await this.watchOnce();
      if (this.stopped) return;
      if (outcome.kind === 'expired') {
        this.options.log.info({ resourceVersion: this.resourceVersion }, 'watch expired (410 Gone), relisting');
        this.options.hooks?.onRestart?.('expired');
        return;
      }
      if (outcome.kind === 'error') {
        this.options.log.warn({ err: outcome.err, attempt: this.failures + 1 }, 'watch failed, retrying');
        this.options.hooks?.onRestart?.('error');
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
      let expired = false;
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
        if (this.applyEvent(type, object) === 'expired') {
          expired = true;
          this.currentWatch?.abort();
          finish({ kind: 'expired' });
        }
      };
      const onDone = (err: unknown): void => {
        if (expired) return;
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

  private applyEvent(type: string, object: unknown): 'expired' | undefined {
    if (type === 'ERROR') {
      if (isGone(object)) return 'expired';
      this.options.log.warn({ status: summarizeStatus(object) }, 'watch error event');
      return undefined;
    }
    const rv = resourceVersionOf(object);
    if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
      const entry = this.options.toEntry(object);
      if (entry !== undefined) {
        if (type === 'DELETED') this.store.delete(entry[0]);
        else this.store.set(entry[0], entry[1]);
        this.options.hooks?.onStoreChange?.(this.store.size);
      }
    }
    if (rv) this.resourceVersion = rv;
    return undefined;
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

function summarizeStatus(object: unknown): { code?: unknown; reason?: unknown } {
  const s = object as { code?: unknown; reason?: unknown } | null;
  return { code: s?.code, reason: s?.reason };
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
