import type { Logger } from 'pino';
import { MAX_NAMESPACE_NAME_LENGTH } from '../identity/constants.js';
import { namespaceWithUnknownLabels, type NamespaceFacts, type NamespaceRecord } from '../identity/managed-identity.js';
import { KUBE_PATHS } from './paths.js';
import { Informer, type InformerHooks, type ListWatchSource, type StoreChange } from './informer.js';
import type { KubeRestClient } from './rest-client.js';

/** Namespaces with their labels, for policy rules that select on them. */
export interface NamespaceLookup {
  getCached(name: string): NamespaceRecord | undefined;
  /**
   * Resolves undefined on NotFound (the namespace does not exist: no labels);
   * facts with unknown labels when the lookup knows it cannot tell, and says
   * why (`namespaceWithUnknownLabels`); rejects on any other failure.
   */
  getLive(name: string, signal: AbortSignal): Promise<NamespaceFacts | undefined>;
  hasSynced(): boolean;
  size(): number;
}

/** The slim record: name and labels only (annotations and status are never read). */
export function toNamespaceRecord(object: unknown): NamespaceRecord | undefined {
  const metadata = (object as { metadata?: { name?: unknown; labels?: unknown } } | null)?.metadata;
  if (typeof metadata?.name !== 'string') return undefined;
  const labels: Record<string, string> = {};
  if (metadata.labels && typeof metadata.labels === 'object') {
    for (const [k, v] of Object.entries(metadata.labels)) if (typeof v === 'string') labels[k] = v;
  }
  return { name: metadata.name, labels };
}

/** Namespaces from the API server: an informer plus a live GET on a miss. */
export class NamespaceCache implements NamespaceLookup {
  private readonly informer: Informer<NamespaceRecord>;

  constructor(
    source: ListWatchSource,
    private readonly client: Pick<KubeRestClient, 'getOrUndefined'>,
    log: Logger,
    hooks?: InformerHooks,
  ) {
    this.informer = new Informer({
      source,
      toEntry: (object) => {
        const record = toNamespaceRecord(object);
        return record && [record.name, record];
      },
      log,
      ...(hooks ? { hooks } : {}),
    });
  }

  start(): void {
    this.informer.start();
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  getCached(name: string): NamespaceRecord | undefined {
    return this.informer.get(name);
  }

  /** Changes of the cache: a Namespace by name, or all of them after a relist. */
  subscribe(listener: (change: StoreChange) => void): () => void {
    return this.informer.subscribe(listener);
  }

  async getLive(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    const object = await this.client.getOrUndefined(KUBE_PATHS.namespace(name), signal);
    return object === undefined ? undefined : toNamespaceRecord(object);
  }

  hasSynced(): boolean {
    return this.informer.hasSynced();
  }

  size(): number {
    return this.informer.size();
  }
}

/**
 * Cache first, then one bounded live read. A namespace the API server says
 * does not exist has no labels, nor one whose name is longer than Kubernetes
 * allows (it cannot exist; never read); one that cannot be read (an error, no
 * answer within `timeoutMs`) has unknown labels, never empty ones.
 */
export async function lookupNamespace(lookup: NamespaceLookup, name: string, timeoutMs: number): Promise<NamespaceFacts> {
  if (name.length > MAX_NAMESPACE_NAME_LENGTH) return { name, labels: {} };
  const cached = lookup.getCached(name);
  if (cached) return cached;
  try {
    return (await lookup.getLive(name, AbortSignal.timeout(timeoutMs))) ?? { name, labels: {} };
  } catch (err) {
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err as Error).message;
    return namespaceWithUnknownLabels(name, `it could not be read from the API server (${why}); retry in a moment, and if it persists check the webhook's access to the API server`);
  }
}
