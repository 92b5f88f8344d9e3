import type { Logger } from 'pino';
import { pickIdentityAnnotations, type ServiceAccountRecord } from '../identity/service-account.js';
import { Informer, type InformerHooks, type ListWatchSource } from './informer.js';
import { KUBE_PATHS } from './paths.js';
import type { KubeRestClient } from './rest-client.js';
import { serviceAccountKey, type ServiceAccountLookup } from './service-account-lookup.js';

/** The slim record: namespace, name and only the azure.workload.identity/* annotations. */
export function toServiceAccountRecord(object: unknown): ServiceAccountRecord | undefined {
  const metadata = (object as { metadata?: { name?: unknown; namespace?: unknown; annotations?: unknown } } | null)?.metadata;
  if (typeof metadata?.name !== 'string' || typeof metadata.namespace !== 'string') return undefined;
  return {
    namespace: metadata.namespace,
    name: metadata.name,
    annotations: pickIdentityAnnotations(metadata.annotations as Record<string, unknown> | undefined),
  };
}

/** ServiceAccounts from the API server: an informer cache plus the live GET fallback. */
export class ServiceAccountCache implements ServiceAccountLookup {
  private readonly informer: Informer<ServiceAccountRecord>;

  constructor(
    source: ListWatchSource,
    private readonly client: Pick<KubeRestClient, 'getOrUndefined'>,
    log: Logger,
    hooks?: InformerHooks,
    delay?: (ms: number, signal: AbortSignal) => Promise<void>,
  ) {
    this.informer = new Informer({
      source,
      toRecord: toServiceAccountRecord,
      keyOf: (sa) => serviceAccountKey(sa.namespace, sa.name),
      log,
      ...(hooks ? { hooks } : {}),
      ...(delay ? { delay } : {}),
    });
  }

  start(): void {
    this.informer.start();
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  getCached(namespace: string, name: string): ServiceAccountRecord | undefined {
    return this.informer.get(serviceAccountKey(namespace, name));
  }

  async getLive(namespace: string, name: string, signal: AbortSignal): Promise<ServiceAccountRecord | undefined> {
    const object = await this.client.getOrUndefined(KUBE_PATHS.serviceAccount(namespace, name), signal);
    return object === undefined ? undefined : toServiceAccountRecord(object);
  }

  hasSynced(): boolean {
    return this.informer.hasSynced();
  }

  size(): number {
    return this.informer.size();
  }
}
