/**
 * The identity inventory's port: where user-assigned managed identities and
 * their federated credentials come from (ARM, or a file for local runs, demos
 * and tests). Adapters: `ArmMsiIdentitySource`, `FileIdentitySource`.
 */
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

export interface IdentitySource {
  /** For logs and messages, e.g. `arm:/subscriptions/…` or `file:/etc/identities.json`. */
  readonly description: string;
  /** Every identity in scope, all pages. Rejects on failure (never a partial list). */
  listIdentities(signal?: AbortSignal): Promise<ManagedIdentity[]>;
  /** The identity's federated identity credentials, all pages. */
  listFederatedCredentials(identity: ManagedIdentity, signal?: AbortSignal): Promise<FederatedCredential[]>;
}
