import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { NamespaceRecord } from '../identity/managed-identity.js';
import { createListWatchSource, readOrUndefined } from './client.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { Informer, type InformerHooks } from './informer.js';

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
    kc: KubeConfig,
    private readonly core: Pick<CoreV1Api, 'readNamespace' | 'listNamespace'>,
    log: Logger,
    hooks?: InformerHooks,
  ) {
    const source = createListWatchSource(kc, '/api/v1/namespaces', (continueToken, limit) => core.listNamespace({ _continue: continueToken, limit }));
    this.informer = new Informer({ source, toRecord: toNamespaceRecord, keyOf: (ns) => ns.name, log, ...(hooks ? { hooks } : {}) });
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

  getLive(name: string, signal: AbortSignal): Promise<NamespaceRecord | undefined> {
    return readOrUndefined(this.core.readNamespace({ name }), signal, toNamespaceRecord);
  }

  hasSynced(): boolean {
    return this.informer.hasSynced();
  }

  size(): number {
    return this.informer.size();
  }
}

/** Cache first, then one bounded live read; a namespace that cannot be read has no labels. */
export async function lookupNamespace(lookup: NamespaceLookup, name: string, timeoutMs: number): Promise<NamespaceRecord> {
  const cached = lookup.getCached(name);
  if (cached) return cached;
  try {
    return (await lookup.getLive(name, AbortSignal.timeout(timeoutMs))) ?? { name, labels: {} };
  } catch {
    return { name, labels: {} };
  }
}
