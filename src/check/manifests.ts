import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isMap, isSeq, LineCounter, parseAllDocuments, type Node } from 'yaml';
import { toNamespaceRecord } from '../kube/namespace-lookup.js';
import type { ObjectSet } from '../kube/objects-file.js';
import { toServiceAccountRecord } from '../kube/service-account-cache.js';
import { describeFsError } from '../util/fs-error.js';

/** One Kubernetes object from a manifest, with where it starts. */
export interface ManifestObject {
  readonly file: string;
  /** 1-based line where the object starts. */
  readonly line: number;
  readonly object: Record<string, unknown>;
}

/** Unreadable input: the message names the file and line; `wi-admission check` exits 2. */
export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

const MANIFEST_EXTENSIONS = /\.(ya?ml|json)$/i;

/**
 * Reads files, directories (recursively, *.yaml, *.yml, *.json, in name
 * order) and `-` (stdin): multi-document YAML or JSON, `List` kinds unpacked,
 * empty documents (`---` runs, comment-only documents from `helm template`)
 * skipped. Paths are reported relative to `cwd` so findings read like a
 * compiler's.
 */
export function readManifests(paths: readonly string[], options: { cwd: string; readStdin: () => string }): ManifestObject[] {
  const objects: ManifestObject[] = [];
  for (const path of paths) {
    // One push per object, not a spread: a List may hold more items than a call has room for arguments.
    if (path === '-') {
      for (const object of parseManifest(options.readStdin(), '<stdin>')) objects.push(object);
      continue;
    }
    for (const file of expand(path)) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new ManifestError(`${file}: cannot read: ${describeFsError(err)}`);
      }
      for (const object of parseManifest(text, relative(options.cwd, file) || file)) objects.push(object);
    }
  }
  return objects;
}

function expand(path: string): string[] {
  let stat;
  try {
    stat = statSync(path);
  } catch (err) {
    throw new ManifestError(`${path}: cannot read: ${describeFsError(err)}`);
  }
  if (!stat.isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const full = join(path, entry.name);
      if (entry.isDirectory()) return expand(full);
      return MANIFEST_EXTENSIONS.test(entry.name) ? [full] : [];
    });
}

/** Parses one file's text; errors carry `file:line`. */
export function parseManifest(text: string, file: string): ManifestObject[] {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const list = Array.isArray(documents) ? documents : [documents];
  const objects: ManifestObject[] = [];
  for (const doc of list) {
    const error = doc.errors[0];
    if (error) {
      const line = error.linePos?.[0]?.line ?? lineCounter.linePos(error.pos[0]).line;
      throw new ManifestError(`${file}:${line}: invalid YAML: ${error.message.split('\n')[0]}`);
    }
    const contents = doc.contents;
    if (contents === null) continue;
    const value: unknown = doc.toJS({ maxAliasCount: 1000 });
    if (value === null || value === undefined) continue;
    collect(value, contents, file, lineCounter, objects);
  }
  return objects;
}

function collect(value: unknown, node: Node | null, file: string, lineCounter: LineCounter, out: ManifestObject[]): void {
  const line = node?.range ? lineCounter.linePos(node.range[0]).line : 1;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ManifestError(`${file}:${line}: expected a Kubernetes object (a mapping with apiVersion and kind)`);
  }
  const object = value as Record<string, unknown>;
  const kind = object.kind;
  if (typeof kind !== 'string' || kind === '') {
    throw new ManifestError(`${file}:${line}: the object has no kind`);
  }
  if (kind === 'List' || (kind.endsWith('List') && Array.isArray(object.items))) {
    const items = object.items;
    if (!Array.isArray(items)) throw new ManifestError(`${file}:${line}: ${kind} without items`);
    const itemNodes = node && isMap(node) ? node.get('items', true) : undefined;
    items.forEach((item, i) => {
      const itemNode = itemNodes && isSeq(itemNodes) ? (itemNodes.items[i] as Node | undefined) : undefined;
      collect(item, itemNode ?? node, file, lineCounter, out);
    });
    return;
  }
  out.push({ file, line, object });
}

/** The ServiceAccounts (namespace defaulted, like `kubectl apply -n`) and Namespaces among the manifests. */
export function collectObjects(manifests: readonly ManifestObject[], defaultNamespace: string): ObjectSet {
  const serviceAccounts = [];
  const namespaces = [];
  for (const { object } of manifests) {
    if (object.kind === 'ServiceAccount') {
      const metadata = (object.metadata ?? {}) as Record<string, unknown>;
      const namespace = typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : defaultNamespace;
      const record = toServiceAccountRecord({ ...object, metadata: { ...metadata, namespace } });
      if (record) serviceAccounts.push(record);
    } else if (object.kind === 'Namespace') {
      const record = toNamespaceRecord(object);
      if (record) namespaces.push(record);
    }
  }
  return { serviceAccounts, namespaces };
}
