import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { AppError } from '../errors.js';
import type { NamespaceRecord } from '../identity/managed-identity.js';
import type { ServiceAccountRecord } from '../identity/service-account.js';
import { toServiceAccountRecord } from './service-account-cache.js';
import type { NamespaceLookup } from './namespace-lookup.js';
import { serviceAccountKey, type ServiceAccountLookup } from './service-account-lookup.js';

export type { NamespaceRecord };

export interface ObjectSet {
  readonly serviceAccounts: readonly ServiceAccountRecord[];
  readonly namespaces: readonly NamespaceRecord[];
}

/**
 * Parses multi-document YAML (or JSON) of ServiceAccounts and Namespaces;
 * `List` kinds are unpacked, other kinds ignored. Errors name the document.
 */
export function parseObjects(text: string, source: string): ObjectSet {
  const serviceAccounts: ServiceAccountRecord[] = [];
  const namespaces: NamespaceRecord[] = [];
  const documents = parseAllDocuments(text);
  const list = Array.isArray(documents) ? documents : [documents];
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      throw new AppError('WIA_ERR_OBJECTS_INVALID', `${source}: document ${index + 1}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
    }
    collect(doc.toJSON(), `${source}: document ${index + 1}`);
  });
  return { serviceAccounts, namespaces };

  function collect(object: unknown, where: string): void {
    if (object === null || object === undefined) return;
    const kind = (object as { kind?: unknown }).kind;
    if (typeof object !== 'object' || typeof kind !== 'string') {
      throw new AppError('WIA_ERR_OBJECTS_INVALID', `${where}: expected a Kubernetes object with a kind`);
    }
    if (kind === 'List' || kind.endsWith('List')) {
      const items = (object as { items?: unknown }).items;
      if (!Array.isArray(items)) throw new AppError('WIA_ERR_OBJECTS_INVALID', `${where}: ${kind} without items`);
      items.forEach((item, i) => collect(item, `${where} item ${i + 1}`));
    } else if (kind === 'ServiceAccount') {
      const record = toServiceAccountRecord(withDefaultNamespace(object));
      if (!record) throw new AppError('WIA_ERR_OBJECTS_INVALID', `${where}: ServiceAccount without metadata.name`);
      serviceAccounts.push(record);
    } else if (kind === 'Namespace') {
      const metadata = (object as { metadata?: { name?: unknown; labels?: unknown } }).metadata;
      if (typeof metadata?.name !== 'string') throw new AppError('WIA_ERR_OBJECTS_INVALID', `${where}: Namespace without metadata.name`);
      namespaces.push({ name: metadata.name, labels: stringRecord(metadata.labels) });
    }
  }
}

function withDefaultNamespace(object: object): unknown {
  const metadata = (object as { metadata?: Record<string, unknown> }).metadata;
  if (!metadata || typeof metadata.namespace === 'string') return object;
  return { ...object, metadata: { ...metadata, namespace: 'default' } };
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

/** `--objects FILE`: a fixed set of ServiceAccounts instead of the API server (local runs). */
export class ObjectsFileLookup implements ServiceAccountLookup {
  private readonly serviceAccounts: ReadonlyMap<string, ServiceAccountRecord>;
  /** The file's Namespaces, for policy rules that select on labels. */
  readonly namespaces: NamespaceLookup;

  constructor(objects: ObjectSet) {
    this.serviceAccounts = new Map(objects.serviceAccounts.map((sa) => [serviceAccountKey(sa.namespace, sa.name), sa]));
    const namespaces = new Map(objects.namespaces.map((ns) => [ns.name, ns]));
    this.namespaces = {
      getCached: (name) => namespaces.get(name),
      getLive: (name) => Promise.resolve(namespaces.get(name)),
      hasSynced: () => true,
      size: () => namespaces.size,
    };
  }

  static fromFile(path: string): ObjectsFileLookup {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new AppError('WIA_ERR_OBJECTS_INVALID', `--objects ${path}: ${(err as Error).message}`, { cause: err });
    }
    return new ObjectsFileLookup(parseObjects(text, path));
  }

  getCached(namespace: string, name: string): ServiceAccountRecord | undefined {
    return this.serviceAccounts.get(serviceAccountKey(namespace, name));
  }

  /** The ServiceAccounts of the file that have identity annotations, by key (`namespace/name`). */
  *annotated(): Generator<readonly [string, Readonly<Record<string, string>>]> {
    for (const [key, sa] of this.serviceAccounts) if (Object.keys(sa.annotations).length > 0) yield [key, sa.annotations];
  }

  /** There is no API server behind a file: a miss is final. */
  getLive(namespace: string, name: string): Promise<ServiceAccountRecord | undefined> {
    return Promise.resolve(this.getCached(namespace, name));
  }

  hasSynced(): boolean {
    return true;
  }

  size(): number {
    return this.serviceAccounts.size;
  }
}
