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
  /** Given inline by the file source; undefined means "ask the source" (ARM). */
  readonly federatedCredentials?: readonly FederatedCredential[];
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
  | { readonly status: 'unavailable'; readonly reason: string };

/** Namespace facts the policy reads. */
export interface NamespaceRecord {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}
