import type { ServiceAccountRecord } from '../../src/identity/service-account.js';
import { serviceAccountKey, type ServiceAccountLookup } from '../../src/kube/service-account-lookup.js';

/** In-memory ServiceAccounts; `live` holds those only a live GET finds (created after the cache synced). */
export class FakeServiceAccountLookup implements ServiceAccountLookup {
  readonly cached = new Map<string, ServiceAccountRecord>();
  readonly live = new Map<string, ServiceAccountRecord>();
  liveCalls = 0;
  liveError: Error | undefined;

  constructor(serviceAccounts: readonly ServiceAccountRecord[] = []) {
    for (const sa of serviceAccounts) this.cached.set(serviceAccountKey(sa.namespace, sa.name), sa);
  }

  getCached(namespace: string, name: string): ServiceAccountRecord | undefined {
    return this.cached.get(serviceAccountKey(namespace, name));
  }

  async getLive(namespace: string, name: string): Promise<ServiceAccountRecord | undefined> {
    this.liveCalls++;
    if (this.liveError) throw this.liveError;
    return this.live.get(serviceAccountKey(namespace, name));
  }

  hasSynced(): boolean {
    return true;
  }

  size(): number {
    return this.cached.size;
  }
}
