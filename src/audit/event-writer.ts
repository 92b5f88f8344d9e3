import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { KUBE_PATHS } from '../kube/paths.js';
import type { KubeRestClient } from '../kube/rest-client.js';
import type { BindingAudit } from './binding-audit.js';
import { microTime } from './leader-election.js';

export type EventResult = 'written' | 'rate_limited' | 'error';

export interface EventWriterOptions {
  readonly client: Pick<KubeRestClient, 'request' | 'getOrUndefined'>;
  /** This replica (the Lease holder identity), as the Event's reportingInstance. */
  readonly reportingInstance: string;
  readonly log: Logger;
  readonly onResult?: (result: EventResult) => void;
  /** Events written at once before the rate applies. Default 25. */
  readonly burst?: number;
  /** One more Event allowed per this many milliseconds. Default 5 s. */
  readonly refillMs?: number;
  /** At most one Event per ServiceAccount within this many milliseconds. Default 10 min. */
  readonly perServiceAccountMs?: number;
  /** Monotonic milliseconds. Default performance.now(). */
  readonly now?: () => number;
  readonly wallClock?: () => Date;
}

/** `events.k8s.io/v1` validation: a note of at most 1 KiB. */
const MAX_NOTE = 1024;

/**
 * An `events.k8s.io/v1` Event on a ServiceAccount whose binding started to
 * fail, so `kubectl describe sa` says why. Rate-limited like client-go's
 * event spam filter: a token bucket over all Events (a tag edit in Azure may
 * break thousands of bindings at once; the PolicyReports carry them all),
 * and at most one per ServiceAccount per `perServiceAccountMs`.
 */
export class EventWriter {
  private tokens: number;
  private refilledAt: number;
  private readonly lastByServiceAccount = new Map<string, number>();
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly perServiceAccountMs: number;
  private readonly now: () => number;
  private readonly wallClock: () => Date;

  constructor(private readonly options: EventWriterOptions) {
    this.burst = options.burst ?? 25;
    this.refillMs = options.refillMs ?? 5_000;
    this.perServiceAccountMs = options.perServiceAccountMs ?? 10 * 60_000;
    this.now = options.now ?? (() => performance.now());
    this.wallClock = options.wallClock ?? (() => new Date());
    this.tokens = this.burst;
    this.refilledAt = this.now();
  }

  /** Writes the Event unless rate-limited; never rejects (failures are logged and counted). */
  async bindingFailed(namespace: string, audit: BindingAudit): Promise<void> {
    const key = `${namespace}/${audit.name}`;
    if (!this.take(key)) {
      this.options.onResult?.('rate_limited');
      return;
    }
    try {
      // The Event names the object by uid too (kubectl describe finds it so); the cache keeps no uids.
      const serviceAccount = (await this.options.client.getOrUndefined(KUBE_PATHS.serviceAccount(namespace, audit.name))) as { metadata?: { uid?: string; resourceVersion?: string } } | undefined;
      if (!serviceAccount) return;
      await this.options.client.request('POST', KUBE_PATHS.events(namespace), { body: this.event(namespace, audit, serviceAccount.metadata ?? {}) });
      this.options.onResult?.('written');
    } catch (err) {
      this.options.onResult?.('error');
      this.options.log.warn({ err, namespace, serviceAccount: audit.name }, 'audit event not written');
    }
  }

  private take(key: string): boolean {
    const now = this.now();
    const refills = Math.floor((now - this.refilledAt) / this.refillMs);
    if (refills > 0) {
      this.tokens = Math.min(this.burst, this.tokens + refills);
      this.refilledAt += refills * this.refillMs;
    }
    const last = this.lastByServiceAccount.get(key);
    if (this.tokens < 1 || (last !== undefined && now - last < this.perServiceAccountMs)) return false;
    this.tokens--;
    this.lastByServiceAccount.set(key, now);
    if (this.lastByServiceAccount.size > 10_000) this.forgetOlderThan(now - this.perServiceAccountMs);
    return true;
  }

  private forgetOlderThan(time: number): void {
    for (const [key, at] of this.lastByServiceAccount) if (at < time) this.lastByServiceAccount.delete(key);
  }

  private event(namespace: string, audit: BindingAudit, metadata: { uid?: string; resourceVersion?: string }): unknown {
    const note = audit.message ?? '';
    return {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      // As client-go names them: the object's name and a unique suffix.
      metadata: { name: `${audit.name.slice(0, 200)}.${Date.now().toString(16)}${randomBytes(4).toString('hex')}`, namespace },
      eventTime: microTime(this.wallClock()),
      reportingController: 'wi-admission.io/audit',
      reportingInstance: this.options.reportingInstance.slice(0, 128),
      action: 'Audit',
      reason: audit.reason,
      type: 'Warning',
      regarding: {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        namespace,
        name: audit.name,
        ...(typeof metadata.uid === 'string' ? { uid: metadata.uid } : {}),
        ...(typeof metadata.resourceVersion === 'string' ? { resourceVersion: metadata.resourceVersion } : {}),
      },
      note: truncateBytes(note, MAX_NOTE),
    };
  }
}

/** At most `max` bytes of UTF-8, cut at a character and marked with an ellipsis. */
function truncateBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let cut = text.slice(0, max - 3);
  while (Buffer.byteLength(cut) > max - 3) cut = cut.slice(0, -1);
  return `${cut}…`;
}
