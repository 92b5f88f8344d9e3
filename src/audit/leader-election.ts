import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { isConflict, isNotFound } from '../kube/api-error.js';
import { abortableDelay } from '../kube/informer.js';
import { KUBE_PATHS } from '../kube/paths.js';
import type { KubeRestClient } from '../kube/rest-client.js';

/** client-go's defaults (tools/leaderelection): a holder unheard of for 15 s has lost the lease. */
export const LEASE_TIMINGS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } as const;
/** client-go's JitterFactor: candidates retry every retryPeriod × (1 + up to 1.2). */
const JITTER_FACTOR = 1.2;

export interface LeaderElectionOptions {
  readonly client: Pick<KubeRestClient, 'request' | 'getOrUndefined'>;
  readonly namespace: string;
  readonly name: string;
  /** This replica, unique among candidates (pod name and a random suffix). */
  readonly identity: string;
  readonly log: Logger;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly timings?: { readonly leaseDurationMs: number; readonly renewDeadlineMs: number; readonly retryPeriodMs: number };
  /** Monotonic milliseconds; default performance.now(). The Lease's own times are wall-clock. */
  readonly now?: () => number;
  readonly wallClock?: () => Date;
  readonly delay?: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly random?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface LeaseObject {
  metadata?: { resourceVersion?: string };
  spec?: LeaseSpec;
}

/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with client-go's
 * semantics and timings:
 *
 * - a candidate tries every retryPeriod (jittered); it takes the Lease when it
 *   does not exist, has no holder, or has not changed for leaseDuration as
 *   this candidate observed it (its own clock: no clock skew between
 *   replicas matters);
 * - the leader renews every retryPeriod; when no renewal succeeds within
 *   renewDeadline it stops leading, and becomes a candidate again;
 * - writes carry the resourceVersion read (optimistic concurrency), so two
 *   candidates can never both take it;
 * - on stop() the leader releases the Lease (no holder, a 1 s duration), so
 *   another replica takes over at once instead of after leaseDuration.
 */
export class LeaderElector {
  private readonly timings: NonNullable<LeaderElectionOptions['timings']>;
  private readonly now: () => number;
  private readonly wallClock: () => Date;
  private readonly delay: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly stopController = new AbortController();
  /** The Lease as last read or written, when this candidate saw it change, and its resourceVersion. */
  private observed: { spec: LeaseSpec; raw: string; at: number; resourceVersion: string } | undefined;
  private leading = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: LeaderElectionOptions) {
    this.timings = options.timings ?? LEASE_TIMINGS;
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.timings;
    if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > JITTER_FACTOR * retryPeriodMs && retryPeriodMs > 0)) {
      throw new RangeError(`lease timings must satisfy leaseDuration > renewDeadline > ${JITTER_FACTOR} × retryPeriod > 0, got ${leaseDurationMs}, ${renewDeadlineMs}, ${retryPeriodMs}`);
    }
    this.now = options.now ?? (() => performance.now());
    this.wallClock = options.wallClock ?? (() => new Date());
    this.delay = options.delay ?? abortableDelay;
    this.random = options.random ?? Math.random;
    setMaxListeners(0, this.stopController.signal);
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.running ??= this.run().catch((err: unknown) => this.options.log.error({ err }, 'leader election stopped by an unexpected error'));
  }

  /** Stops campaigning; a leader stops leading and releases the Lease. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.running;
    if (this.leading) {
      this.leading = false;
      this.options.onStoppedLeading();
      await this.release();
    }
  }

  private async run(): Promise<void> {
    const signal = this.stopController.signal;
    const { retryPeriodMs, renewDeadlineMs } = this.timings;
    while (!signal.aborted) {
      if (!this.leading) {
        if (await this.tryAcquireOrRenew()) {
          this.leading = true;
          this.options.log.info({ lease: this.describe(), identity: this.options.identity }, 'leader: this replica writes reports and events');
          this.options.onStartedLeading();
          continue;
        }
        await this.delay(retryPeriodMs * (1 + this.random() * JITTER_FACTOR), signal);
        continue;
      }
      await this.delay(retryPeriodMs, signal);
      if (signal.aborted) return;
      const deadline = this.now() + renewDeadlineMs;
      let renewed = await this.tryAcquireOrRenew();
      while (!renewed && !signal.aborted && this.now() + retryPeriodMs <= deadline) {
        await this.delay(retryPeriodMs, signal);
        renewed = await this.tryAcquireOrRenew();
      }
      if (!renewed && !signal.aborted) {
        this.leading = false;
        this.options.log.warn({ lease: this.describe(), renewDeadlineMs }, 'leader: could not renew the lease in time, no longer writing');
        this.options.onStoppedLeading();
      }
    }
  }

  /** One attempt: renew our Lease, or take one that is free or expired. Never rejects. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const nowIso = microTime(this.wallClock());
    const record: LeaseSpec = { holderIdentity: this.options.identity, leaseDurationSeconds: Math.round(this.timings.leaseDurationMs / 1000), acquireTime: nowIso, renewTime: nowIso };
    try {
      // The leader's fast path: the Lease as we last wrote it.
      if (this.leading && this.observed && this.isValid()) {
        const fast = { ...record, acquireTime: this.observed.spec.acquireTime ?? nowIso, leaseTransitions: this.observed.spec.leaseTransitions ?? 0 };
        if (await this.write(fast, this.observed.resourceVersion)) return true;
      }
      return await this.readThenTake(record);
    } catch (err) {
      if (!this.stopController.signal.aborted) this.options.log.warn({ err, lease: this.describe() }, 'leader election: lease request failed');
      return false;
    }
  }

  /** Reads the Lease; creates it, renews ours, or takes one nobody holds or nobody renewed within its duration. */
  private async readThenTake(record: LeaseSpec): Promise<boolean> {
    const { client, namespace, name, identity } = this.options;
    const current = (await client.getOrUndefined(KUBE_PATHS.lease(namespace, name), this.stopController.signal)) as LeaseObject | undefined;
    if (!current) return this.create({ ...record, leaseTransitions: 0 });
    const spec = current.spec ?? {};
    const raw = JSON.stringify(spec);
    const resourceVersion = current.metadata?.resourceVersion ?? '';
    // Expiry is judged by when this candidate saw the record change, on its own clock.
    if (this.observed?.raw !== raw) this.observed = { spec, raw, at: this.now(), resourceVersion };
    else this.observed.resourceVersion = resourceVersion;
    const ours = spec.holderIdentity === identity;
    if ((spec.holderIdentity ?? '') !== '' && !ours && this.isValid()) return false;
    const transitions = spec.leaseTransitions ?? 0;
    const next = ours ? { ...record, acquireTime: spec.acquireTime ?? record.acquireTime, leaseTransitions: transitions } : { ...record, leaseTransitions: transitions + 1 };
    return this.write(next, resourceVersion);
  }

  /** The observed record has not been seen changing for its leaseDuration. */
  private isValid(): boolean {
    if (!this.observed) return false;
    return this.observed.at + (this.observed.spec.leaseDurationSeconds ?? 0) * 1000 > this.now();
  }

  private async create(spec: LeaseSpec): Promise<boolean> {
    const { client, namespace, name } = this.options;
    try {
      const created = (await client.request('POST', KUBE_PATHS.leases(namespace), { body: leaseBody(namespace, name, spec, undefined), signal: this.stopController.signal })) as LeaseObject;
      this.remember(spec, created);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  /** PUT with the resourceVersion read: false when someone else wrote it meanwhile. */
  private async write(spec: LeaseSpec, resourceVersion: string): Promise<boolean> {
    const { client, namespace, name } = this.options;
    try {
      const written = (await client.request('PUT', KUBE_PATHS.lease(namespace, name), { body: leaseBody(namespace, name, spec, resourceVersion), signal: this.stopController.signal })) as LeaseObject;
      this.remember(spec, written);
      return true;
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) return false;
      throw err;
    }
  }

  private remember(spec: LeaseSpec, answer: LeaseObject): void {
    this.observed = { spec, raw: JSON.stringify(answer.spec ?? spec), at: this.now(), resourceVersion: answer.metadata?.resourceVersion ?? '' };
  }

  /** Gives the Lease up: no holder, and a 1 s duration, so a candidate takes it at its next try. */
  private async release(): Promise<void> {
    const { client, namespace, name, identity, log } = this.options;
    const signal = AbortSignal.timeout(this.timings.renewDeadlineMs);
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const current = (await client.getOrUndefined(KUBE_PATHS.lease(namespace, name), signal)) as LeaseObject | undefined;
        if (!current || current.spec?.holderIdentity !== identity) return;
        const now = microTime(this.wallClock());
        const spec: LeaseSpec = { leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current.spec.leaseTransitions ?? 0 };
        try {
          await client.request('PUT', KUBE_PATHS.lease(namespace, name), { body: leaseBody(namespace, name, spec, current.metadata?.resourceVersion), signal });
          log.info({ lease: this.describe() }, 'leader: lease released');
          return;
        } catch (err) {
          if (!isConflict(err)) throw err;
        }
      }
    } catch (err) {
      log.warn({ err, lease: this.describe() }, 'leader: could not release the lease; another replica takes it once it expires');
    }
  }

  private describe(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }
}

function leaseBody(namespace: string, name: string, spec: LeaseSpec, resourceVersion: string | undefined): unknown {
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) }, spec };
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
