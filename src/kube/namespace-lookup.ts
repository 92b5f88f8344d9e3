import type { Logger } from 'pino';
import { MAX_NAMESPACE_NAME_LENGTH } from '../identity/constants.js';
import type { NamespaceRecord } from '../identity/managed-identity.js';
import { KUBE_PATHS } from './paths.js';
import { Informer, type InformerHooks, type ListWatchSource } from './informer.js';
import type { KubeRestClient } from './rest-client.js';

/** Namespaces with their labels, for policy rules that select on them. */
export interface NamespaceLookup {
  getCached(name: string): NamespaceRecord | undefined;
  /** Resolves undefined on NotFound; rejects on other failures. */
  getLive(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined>;
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
 * Cache first, then one bounded live read; a namespace that cannot be read
 * has no labels, nor one whose name is longer than Kubernetes allows (never read).
 */
export async function lookupNamespace(lookup: NamespaceLookup, name: string, timeoutMs: number): Promise<NamespaceRecord> {
  if (name.length > MAX_NAMESPACE_NAME_LENGTH) return { name, labels: {} };
  const cached = lookup.getCached(name);
  if (cached) return cached;
  try {
    return (await lookup.getLive(name, AbortSignal.timeout(timeoutMs))) ?? { name, labels: {} };
  } catch {
    return { name, labels: {} };
  }
}
