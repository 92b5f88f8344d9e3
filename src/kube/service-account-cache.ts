import type { Logger } from 'pino';
import { pickIdentityAnnotations, type ServiceAccountRecord } from '../identity/service-account.js';
import { Informer, type InformerEntry, type InformerHooks, type ListWatchSource, type StoreChange } from './informer.js';
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

type IdentityAnnotations = Readonly<Record<string, string>>;

/** Shared by every ServiceAccount without azure.workload.identity/* annotations (most of a cluster's). */
const NO_IDENTITY_ANNOTATIONS: IdentityAnnotations = Object.freeze({});

/**
 * What the cache keeps per ServiceAccount: its key and identity annotations
 * only. Namespace and name are in the key and the record is rebuilt on
 * lookup, so 50,000 ServiceAccounts cost one Map entry and (when annotated)
 * one small object each.
 */
export function toServiceAccountEntry(object: unknown): InformerEntry<IdentityAnnotations> | undefined {
  const record = toServiceAccountRecord(object);
  if (!record) return undefined;
  let annotations = NO_IDENTITY_ANNOTATIONS;
  for (const _ in record.annotations) {
    annotations = record.annotations;
    break;
  }
  return [serviceAccountKey(record.namespace, record.name), annotations];
}

/** ServiceAccounts from the API server: an informer cache plus the live GET fallback. */
export class ServiceAccountCache implements ServiceAccountLookup {
  private readonly informer: Informer<IdentityAnnotations>;

  constructor(
    source: ListWatchSource,
    private readonly client: Pick<KubeRestClient, 'getOrUndefined'>,
    log: Logger,
    hooks?: InformerHooks,
    delay?: (ms: number, signal: AbortSignal) => Promise<void>,
  ) {
    this.informer = new Informer({
      source,
      toEntry: toServiceAccountEntry,
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
    const annotations = this.informer.get(serviceAccountKey(namespace, name));
    return annotations && { namespace, name, annotations };
  }

  /** The cached ServiceAccounts that have identity annotations, by key (`namespace/name`), read lazily. */
  *annotated(): Generator<readonly [string, IdentityAnnotations]> {
    for (const entry of this.informer.entries()) if (entry[1] !== NO_IDENTITY_ANNOTATIONS) yield entry;
  }

  /** Changes of the cache: a ServiceAccount by key, or all of them after a relist. */
  subscribe(listener: (change: StoreChange) => void): () => void {
    return this.informer.subscribe(listener);
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
