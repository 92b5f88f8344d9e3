import { watch as watchFs, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { describeFsError } from '../util/fs-error.js';
import { createInterner, type Interner } from '../util/intern.js';
import { locateJsonSyntaxError } from '../util/json-syntax.js';
import { describeYamlError } from '../util/yaml-error.js';
import type { FederatedCredential, IdentitySource, ManagedIdentity } from './identity-source.js';
import { parseIdentityResourceId } from './resource-id.js';

/** What `az identity federated-credential create` uses when `--audiences` is not given. */
export const DEFAULT_FEDERATED_AUDIENCE = 'api://AzureADTokenExchange';

const MAX_REPORTED_PROBLEMS = 10;

// Field names and shapes are those of `az identity federated-credential list -o json`; other fields are ignored.
const CredentialSchema = z.looseObject({
  name: z.string().min(1),
  issuer: z.string().min(1),
  subject: z.string().min(1),
  audiences: z.array(z.string().min(1)).min(1).default([DEFAULT_FEDERATED_AUDIENCE]),
});

// YAML reads `cost-center: 1234` as a number; ARM tag values are always strings.
const TagValueSchema = z.union([z.string(), z.number(), z.boolean()], { error: 'tag values must be strings' }).transform(String);

// Field names and shapes are those of `az identity list -o json`; other fields (location, systemData, …) are ignored.
const IdentitySchema = z.looseObject({
  id: z.string().refine((id) => parseIdentityResourceId(id) !== undefined, {
    error: 'expected /subscriptions/<subscription>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>',
  }),
  name: z.string().min(1).optional(),
  clientId: z.guid(),
  principalId: z.guid(),
  tenantId: z.guid(),
  subscriptionId: z.string().min(1).optional(),
  resourceGroup: z.string().min(1).optional(),
  tags: z.record(z.string(), TagValueSchema).nullish(),
  federatedCredentials: z.array(CredentialSchema).nullish(),
});

type IdentityInput = z.infer<typeof IdentitySchema>;

/**
 * Parses an identities file: the output of `az identity list -o json` as it
 * is (a JSON array), or `{identities: [...]}`, in JSON or YAML. Each identity
 * may carry `federatedCredentials` as printed by
 * `az identity federated-credential list -o json`. Errors name the file, the
 * item (counted from 0) and the field.
 */
export function parseIdentities(text: string, file: string): ManagedIdentity[] {
  const document = parseDocument(text, file);
  const items = itemsOf(document);
  if (!items) {
    throw new AppError(
      'WIA_ERR_IDENTITIES_FILE_INVALID',
      `${file}: expected a list of identities (the output of az identity list -o json) or an object with an identities list, not ${describeValue(document)}`,
    );
  }
  const problems: string[] = [];
  const identities: ManagedIdentity[] = [];
  const seen = new Map<string, number>();
  const intern = createInterner();
  items.forEach((item, index) => {
    const label = `item ${index}${nameOf(item)}`;
    const plain = asPlainIdentity(item);
    const result = plain ? { success: true as const, data: plain } : IdentitySchema.safeParse(item, { reportInput: true });
    if (!result.success) {
      problems.push(`${label}: ${result.error.issues.map((issue) => `field ${formatPath(issue.path)}: ${describeIssue(issue)}`).join(', ')}`);
      return;
    }
    const key = result.data.clientId.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) problems.push(`${label}: field clientId: ${result.data.clientId} is also the clientId of item ${first}`);
    else seen.set(key, index);
    identities.push(toManagedIdentity(result.data, intern));
  });
  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_REPORTED_PROBLEMS);
    if (problems.length > shown.length) shown.push(`… and ${problems.length - shown.length} more`);
    throw new AppError('WIA_ERR_IDENTITIES_FILE_INVALID', `${file}: ${shown.join('; ')}`);
  }
  return identities;
}

// z.guid()'s pattern, so the fast path accepts exactly what the schema does.
const GUID = /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;

/**
 * The item as it is when it is plainly valid (every field present has the
 * type the schema wants, tag values are strings, audiences are given), else
 * undefined and the schema decides, with its messages. zod's safeParse
 * allocates a few kilobytes per item; for 10,000 identities at start that
 * churn alone cost about 8 MiB of resident memory.
 */
function asPlainIdentity(item: unknown): IdentityInput | undefined {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return undefined;
  const i = item as Record<string, unknown>;
  const isText = (v: unknown): v is string => typeof v === 'string' && v !== '';
  const isOptionalText = (v: unknown): boolean => v === undefined || isText(v);
  if (typeof i.id !== 'string' || parseIdentityResourceId(i.id) === undefined) return undefined;
  if (![i.clientId, i.principalId, i.tenantId].every((v) => typeof v === 'string' && GUID.test(v))) return undefined;
  if (!isOptionalText(i.name) || !isOptionalText(i.subscriptionId) || !isOptionalText(i.resourceGroup)) return undefined;
  if (i.tags != null && !(typeof i.tags === 'object' && !Array.isArray(i.tags) && Object.values(i.tags).every((v) => typeof v === 'string'))) return undefined;
  const credentials = i.federatedCredentials;
  if (credentials != null && !(Array.isArray(credentials) && credentials.every(isPlainCredential))) return undefined;
  return item as IdentityInput;

  function isPlainCredential(c: unknown): boolean {
    const f = c as Record<string, unknown> | null;
    return typeof f === 'object' && f !== null && isText(f.name) && isText(f.issuer) && isText(f.subject) && Array.isArray(f.audiences) && f.audiences.length > 0 && f.audiences.every(isText);
  }
}

function itemsOf(document: unknown): unknown[] | undefined {
  if (Array.isArray(document)) return document;
  if (document !== null && typeof document === 'object') {
    const identities = (document as { identities?: unknown }).identities;
    if (Array.isArray(identities)) return identities;
  }
  return undefined;
}

function nameOf(item: unknown): string {
  const name = (item as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name !== '' ? ` (${JSON.stringify(name)})` : '';
}

/** "required", "not a GUID: "nope"", or the schema's message with the value found. */
function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.input === undefined) return 'required';
  const found = JSON.stringify(issue.input)?.slice(0, 80) ?? String(issue.input);
  if (issue.code === 'invalid_format' && issue.format === 'guid') return `not a GUID: ${found}`;
  return `${issue.message}, got ${found}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out === '' ? '' : '.'}${String(part)}`;
  return out === '' ? '(the item itself)' : out;
}

function toManagedIdentity(input: IdentityInput, intern: Interner): ManagedIdentity {
  // The schema's refine guarantees the ID parses.
  const parts = parseIdentityResourceId(input.id) ?? { subscriptionId: '', resourceGroup: '', name: '' };
  const credentials = input.federatedCredentials?.map(
    (c): FederatedCredential => ({ name: intern.string(c.name), issuer: intern.string(c.issuer), subject: c.subject, audiences: intern.list(c.audiences) }),
  );
  return {
    clientId: input.clientId,
    principalId: input.principalId,
    tenantId: intern.string(input.tenantId),
    name: input.name ?? parts.name,
    id: input.id,
    subscriptionId: intern.string(input.subscriptionId ?? parts.subscriptionId),
    resourceGroup: intern.string(input.resourceGroup ?? parts.resourceGroup),
    tags: input.tags ? intern.record(input.tags) : {},
    // No key is not "trusts nothing" (`[]`) but unknown: `az identity list` does not print them,
    // and there is no ARM behind a file to ask.
    federatedCredentials: credentials ?? 'unknown',
  };
}

export interface FileIdentitySourceOptions {
  readonly log?: Logger;
  /** Quiet time after the last change event before `onChange` fires (editors write in bursts). */
  readonly debounceMs?: number;
}

/**
 * `--identities file:PATH`: identities from a JSON or YAML file, for local
 * runs, demos and tests. The file is read again on every listing, so the
 * inventory's refresh picks up edits; `watch()` lets it refresh at once.
 */
export class FileIdentitySource implements IdentitySource {
  readonly description: string;

  constructor(
    readonly path: string,
    private readonly options: FileIdentitySourceOptions = {},
  ) {
    this.description = `file:${path}`;
  }

  async listIdentities(): Promise<ManagedIdentity[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      // No `cause`: the log's error serializer would print Node's message a second time.
      throw new AppError('WIA_ERR_IDENTITIES_FILE_INVALID', `${this.path}: cannot read: ${describeFsError(err)}`);
    }
    return parseIdentities(text, this.path);
  }

  /**
   * The file carries the credentials it knows inline (the inventory reads
   * them there); an item without `federatedCredentials` has unknown ones,
   * which this source cannot list.
   */
  listFederatedCredentials(identity: ManagedIdentity): Promise<FederatedCredential[]> {
    const known = identity.federatedCredentials;
    if (known === 'unknown' || known === undefined) {
      return Promise.reject(new Error(`${this.description} gives no federatedCredentials for ${identity.name}`));
    }
    return Promise.resolve([...known]);
  }

  /**
   * Calls `onChange` (debounced) when the file may have changed. Watches the
   * directory, not the file: editors replace files and ConfigMap volumes swap
   * a `..data` symlink, both of which a file watch would miss. Returns a
   * function that stops watching.
   */
  watch(onChange: () => void): () => void {
    const name = basename(this.path);
    const debounceMs = this.options.debounceMs ?? 100;
    let timer: NodeJS.Timeout | undefined;
    let watcher: FSWatcher | undefined;
    const fire = (): void => {
      clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
      timer.unref();
    };
    try {
      // persistent: false — a watch alone must not keep the process alive.
      watcher = watchFs(dirname(this.path), { persistent: false }, (_event, filename) => {
        const changed = filename?.toString();
        if (changed === undefined || changed === name || changed.startsWith('..')) fire();
      });
      watcher.on('error', (err) => this.options.log?.warn({ err, path: this.path }, 'identities file watch failed'));
    } catch (err) {
      // Without a watch the periodic refresh still picks up edits.
      this.options.log?.warn({ err, path: this.path }, 'cannot watch the identities file');
    }
    return () => {
      clearTimeout(timer);
      watcher?.close();
    };
  }
}

/**
 * JSON for a `.json` file (what `az identity list -o json > identities.json`
 * writes) and for text that looks like JSON; YAML otherwise. Syntax errors
 * name the line and column.
 */
function parseDocument(text: string, file: string): unknown {
  const isJsonFile = /\.json$/i.test(file);
  if (isJsonFile || looksLikeJson(text)) {
    try {
      // JSON (what `az` prints) parses an order of magnitude faster and leaner as JSON than as YAML.
      return JSON.parse(text);
    } catch (err) {
      // YAML is a superset of JSON: flow-style YAML in a .yaml file is fine.
      if (!isJsonFile) {
        try {
          return parseYaml(text);
        } catch {
          // Report it as the JSON it looks like.
        }
      }
      const at = locateJsonSyntaxError(text);
      const where = at ? `${file}:${at.line}:${at.column}` : file;
      throw new AppError('WIA_ERR_IDENTITIES_FILE_INVALID', `${where}: not JSON: ${at?.problem ?? (err as Error).message}`);
    }
  }
  try {
    return parseYaml(text);
  } catch (err) {
    throw new AppError('WIA_ERR_IDENTITIES_FILE_INVALID', describeYamlError(err, file));
  }
}

function looksLikeJson(text: string): boolean {
  const first = text.trimStart()[0];
  return first === '[' || first === '{';
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty document';
  if (typeof value === 'object') return 'an object without an identities list';
  return `a ${typeof value} (${JSON.stringify(value).slice(0, 40)})`;
}
