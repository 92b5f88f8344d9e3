import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { pickIdentityAnnotations, type ServiceAccountRecord } from '../identity/service-account.js';
import { Informer, type InformerHooks, type ListWatchSource } from './informer.js';
import { readOrUndefined } from './client.js';
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
    private readonly core: Pick<CoreV1Api, 'readNamespacedServiceAccount'>,
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

  getLive(namespace: string, name: string, signal: AbortSignal): Promise<ServiceAccountRecord | undefined> {
    return readOrUndefined(this.core.readNamespacedServiceAccount({ namespace, name }), signal, toServiceAccountRecord);
  }

  hasSynced(): boolean {
    return this.informer.hasSynced();
  }

  size(): number {
    return this.informer.size();
  }
}
