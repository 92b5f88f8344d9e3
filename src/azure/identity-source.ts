/**
 * The identity inventory's port: where user-assigned managed identities and
 * their federated credentials come from (ARM, or a file for local runs, demos
 * and tests). Adapters: `ArmMsiIdentitySource`, `FileIdentitySource`.
 */
import type { FederatedCredential, ManagedIdentity } from '../identity/managed-identity.js';

export type { FederatedCredential, ManagedIdentity };

export interface IdentitySource {
  /** For logs and messages, e.g. `arm:/subscriptions/…` or `file:/etc/identities.json`. */
  readonly description: string;
  /** Every identity in scope, all pages. Rejects on failure (never a partial list). */
  listIdentities(signal?: AbortSignal): Promise<ManagedIdentity[]>;
  /** The identity's federated identity credentials, all pages. */
  listFederatedCredentials(identity: ManagedIdentity, signal?: AbortSignal): Promise<FederatedCredential[]>;
}
