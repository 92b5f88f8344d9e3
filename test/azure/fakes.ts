import { Clock } from '@tapjs/clock';
import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import type { FederatedCredential, IdentitySource, ManagedIdentity } from '../../src/azure/identity-source.js';

/** A managed identity record; `n` makes distinct GUIDs. */
export function identity(n: number, overrides: Partial<ManagedIdentity> = {}): ManagedIdentity {
  const hex = n.toString(16).padStart(12, '0');
  const name = overrides.name ?? `id-${n}`;
  return {
    clientId: `c11e0000-0000-0000-0000-${hex}`,
    principalId: `9a1c0000-0000-0000-0000-${hex}`,
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    name,
    id: `/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
    resourceGroup: 'rg-1',
    subscriptionId: '00000000-0000-0000-0000-000000000001',
    tags: {},
    ...overrides,
  };
}

export function credential(subject: string): FederatedCredential {
  return { name: subject.replace(/\W+/g, '-'), issuer: 'https://oidc.example/issuer', subject, audiences: ['api://AzureADTokenExchange'] };
}

interface Gate {
  readonly promise: Promise<void>;
  release(): void;
}

function gate(): Gate {
  let release = (): void => undefined;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

/**
 * A scripted identity source: counts calls, can fail, and can hold calls
 * until the test releases them (a slow ARM).
 */
export class FakeIdentitySource implements IdentitySource {
  readonly description = 'fake:identities';
  identities: ManagedIdentity[] = [];
  /** Federated credentials by clientId. */
  readonly credentials = new Map<string, FederatedCredential[]>();
  listCalls = 0;
  credentialCalls = 0;
  /** Thrown by the next listings while set. */
  listError: unknown;
  credentialError: unknown;
  /** While true, calls wait until release(). */
  hold = false;
  readonly signals: AbortSignal[] = [];
  private gates: Gate[] = [];

  async listIdentities(signal?: AbortSignal): Promise<ManagedIdentity[]> {
    this.listCalls++;
    if (signal) this.signals.push(signal);
    await this.wait();
    if (this.listError !== undefined) throw this.listError;
    return [...this.identities];
  }

  async listFederatedCredentials(identity: ManagedIdentity): Promise<FederatedCredential[]> {
    this.credentialCalls++;
    await this.wait();
    if (this.credentialError !== undefined) throw this.credentialError;
    return [...(this.credentials.get(identity.clientId) ?? [])];
  }

  /** Lets every held call go on. */
  release(): void {
    this.hold = false;
    for (const g of this.gates.splice(0)) g.release();
  }

  private async wait(): Promise<void> {
    if (!this.hold) return;
    const g = gate();
    this.gates.push(g);
    await g.promise;
  }
}

/** A source that can report changes, as the file source does. */
export class FakeWatchableSource extends FakeIdentitySource {
  onChange: (() => void) | undefined;
  unwatched = false;

  watch(onChange: () => void): () => void {
    this.onChange = onChange;
    return () => {
      this.unwatched = true;
    };
  }
}

/** A 429 as the Azure SDK throws it. */
export function throttledError(retryAfter: string): RestError {
  const request = createPipelineRequest({ url: 'https://management.azure.com/subscriptions/x' });
  const headers = createHttpHeaders({ 'retry-after': retryAfter });
  return new RestError('Too many requests', { statusCode: 429, code: 'TooManyRequests', request, response: { status: 429, headers, request } });
}

export function restError(statusCode: number, code = 'InternalServerError'): RestError {
  const request = createPipelineRequest({ url: 'https://management.azure.com/subscriptions/x' });
  return new RestError(`ARM said ${statusCode}`, { statusCode, code, request, response: { status: statusCode, headers: createHttpHeaders(), request } });
}

/** Settles pending promise chains (real event-loop turns; no timers involved). */
export async function flush(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Fake time for code that takes `now()` and `delay(ms, signal)`: a
 * @tapjs/clock Clock that only moves when the test advances it.
 */
export function fakeTime(): {
  clock: Clock;
  now: () => number;
  delay: (ms: number, signal: AbortSignal) => Promise<void>;
  advance: (ms: number) => Promise<void>;
  pendingTimers: () => number;
} {
  const clock = new Clock();
  // lru-cache treats a start time of 0 as "no TTL", so start well past it.
  clock.travel(1_000_000);
  const delay = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      function done(): void {
        clock.clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
    });
  return {
    clock,
    now: () => clock.now(),
    delay,
    /** Moves time in 1 s steps, letting the code react between steps (as real time would). */
    async advance(ms: number): Promise<void> {
      await flush();
      for (let left = ms; left > 0; left -= 1000) {
        clock.advance(Math.min(1000, left));
        await flush();
      }
    },
    pendingTimers: () => [...clock.timers.values()].reduce((n, list) => n + list.length, 0),
  };
}
