/** A user-assigned managed identity as the policy sees it (ARM or file). */
export interface FederatedCredential {
  readonly name: string;
  readonly issuer: string;
  readonly subject: string;
  readonly audiences: readonly string[];
}

export interface ManagedIdentity {
  readonly clientId: string;
  readonly principalId: string;
  readonly tenantId: string;
  readonly name: string;
  /** ARM resource ID: /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name> */
  readonly id: string;
  readonly resourceGroup: string;
  readonly subscriptionId: string;
  readonly tags: Readonly<Record<string, string>>;
  /**
   * Given inline by the file source. `'unknown'`: the source cannot tell (an
   * identities file whose item has no `federatedCredentials` key), which is
   * never read as "trusts nothing". Undefined: ask the source (ARM).
   */
  readonly federatedCredentials?: readonly FederatedCredential[] | 'unknown';
}

/** What the inventory knows about a client ID. */
export type IdentityResolution =
  | { readonly status: 'found'; readonly identity: ManagedIdentity }
  /** The value is some identity's principalId (object ID), a common mix-up. */
  | { readonly status: 'principalId'; readonly identity: ManagedIdentity }
  | { readonly status: 'unknown' }
  | { readonly status: 'unavailable'; readonly reason: string };

export type CredentialResolution =
  | { readonly status: 'found'; readonly credentials: readonly FederatedCredential[] }
  /** The source was not given them (nothing to check, nothing to report as missing); `reason` says where they would come from. */
  | { readonly status: 'unknown'; readonly reason: string }
  | { readonly status: 'unavailable'; readonly reason: string };

/** Namespace facts the policy reads. */
export interface NamespaceRecord {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * A namespace whose labels are unknown: it exists, or may, but could not be
 * read. Unknown is not absent: a rule that selects on labels, or requires a
 * tag from a label, is never evaluated against labels nobody read.
 */
export interface NamespaceWithUnknownLabels {
  readonly name: string;
  readonly labels?: undefined;
  /**
   * Why, in words for the person reading the message, ending with what to do:
   * the server says the API server could not be read; the offline `check`
   * that the Namespace was not given to it.
   */
  readonly unknownBecause: string;
}

/** What the policy is given about a namespace: its labels, or why they are unknown. */
export type NamespaceFacts = NamespaceRecord | NamespaceWithUnknownLabels;

/**
 * The facts for a namespace whose labels cannot be known; `reason` is the
 * caller's (see `NamespaceWithUnknownLabels.unknownBecause`). A namespace the
 * API server says does not exist is not unknown: it has no labels (`{}`).
 */
export function namespaceWithUnknownLabels(name: string, reason: string): NamespaceWithUnknownLabels {
  return { name, unknownBecause: reason };
}
