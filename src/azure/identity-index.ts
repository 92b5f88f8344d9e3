import type { IdentityResolution } from '../identity/managed-identity.js';
import type { IdentitySource, ManagedIdentity } from './identity-source.js';
import { identityKey } from './resource-id.js';

/** Identities whose federated credentials their source did not give (unknown, not none), by source. */
export interface UnknownCredentials {
  /** `file:PATH` of the source. */
  readonly source: string;
  readonly count: number;
  /** The first few, as `resource-group/name`. */
  readonly examples: readonly string[];
}

const EXAMPLES = 5;

/** What to do about unknown federated credentials, said the same way by the server's log and the commands' stderr. */
export const UNKNOWN_CREDENTIALS_ADVICE =
  'add to each item the output of az identity federated-credential list --identity-name <name> --resource-group <group> -o json as federatedCredentials, or use an arm: source';

/** One sentence for a person: which identities, why the check is skipped for them, and how to give their credentials. */
export function describeUnknownCredentials({ source, count, examples }: UnknownCredentials): string {
  const more = count > examples.length ? `, and ${count - examples.length} more` : '';
  return (
    `${source} gives no federatedCredentials for ${count} ${count === 1 ? 'identity' : 'identities'} (${examples.join(', ')}${more}): ` +
    `their federated credentials are unknown, so the federated credential check is skipped for them; ${UNKNOWN_CREDENTIALS_ADVICE}`
  );
}

export interface IndexSummary {
  readonly identities: number;
  /** Client IDs listed by more than one source (the first source wins). */
  readonly duplicates: number;
  readonly unknownCredentials: readonly UnknownCredentials[];
}

/**
 * One complete listing of every source, indexed for lookups: by client ID
 * and principal ID (lower-case: GUIDs compare case-insensitively), and by
 * identity key with the source to ask for its credentials. Built whole and
 * never changed: the next listing replaces it. Pure.
 */
export class IdentityIndex {
  private readonly byClientId = new Map<string, ManagedIdentity>();
  private readonly byPrincipalId = new Map<string, ManagedIdentity>();
  private readonly byKey = new Map<string, { readonly identity: ManagedIdentity; readonly source: IdentitySource }>();
  readonly summary: IndexSummary;

  /** `lists[i]` is what `sources[i]` listed. A client ID listed twice is kept from the first source. */
  constructor(sources: readonly IdentitySource[], lists: readonly (readonly ManagedIdentity[])[], readonly loadedAt: number) {
    let duplicates = 0;
    const unknown = new Map<IdentitySource, { count: number; examples: string[] }>();
    lists.forEach((identities, index) => {
      const source = sources[index];
      for (const identity of identities) {
        const key = identity.clientId.toLowerCase();
        if (this.byClientId.has(key)) {
          duplicates++;
          continue;
        }
        this.byClientId.set(key, identity);
        this.byPrincipalId.set(identity.principalId.toLowerCase(), identity);
        if (!source) continue;
        this.byKey.set(identityKey(identity), { identity, source });
        if (identity.federatedCredentials === 'unknown') {
          const seen = unknown.get(source) ?? { count: 0, examples: [] };
          seen.count++;
          if (seen.examples.length < EXAMPLES) seen.examples.push(`${identity.resourceGroup}/${identity.name}`);
          unknown.set(source, seen);
        }
      }
    });
    this.summary = {
      identities: this.byClientId.size,
      duplicates,
      unknownCredentials: [...unknown].map(([source, seen]) => ({ source: source.description, ...seen })),
    };
  }

  get size(): number {
    return this.byClientId.size;
  }

  /** A known client ID, or a principal ID used in its place; undefined when neither (key lower-case). */
  find(key: string): IdentityResolution | undefined {
    const identity = this.byClientId.get(key);
    if (identity) return { status: 'found', identity };
    const byPrincipal = this.byPrincipalId.get(key);
    if (byPrincipal) return { status: 'principalId', identity: byPrincipal };
    return undefined;
  }

  /** The identity listed under `key` (identityKey) and the source that listed it. */
  entry(key: string): { readonly identity: ManagedIdentity; readonly source: IdentitySource } | undefined {
    return this.byKey.get(key);
  }
}
