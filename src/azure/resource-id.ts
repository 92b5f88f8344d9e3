/** Parts of a user-assigned identity's ARM resource ID. */
export interface IdentityResourceId {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
}

// ARM compares resource IDs case-insensitively, and `az` prints `resourcegroups` in lower case.
const IDENTITY_ID_PATTERN = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.managedidentity\/userassignedidentities\/([^/]+)\/?$/i;

/** `/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>`, or undefined. */
export function parseIdentityResourceId(id: string): IdentityResourceId | undefined {
  const match = IDENTITY_ID_PATTERN.exec(id);
  if (!match) return undefined;
  const [, subscriptionId = '', resourceGroup = '', name = ''] = match;
  return { subscriptionId, resourceGroup, name };
}

/**
 * A key for maps of identities: the client ID, lower-case (GUIDs compare
 * case-insensitively). Unique per identity, new when one is re-created under
 * the same name, and already held by the identity (no copy of a long resource
 * ID per identity, as a lower-cased resource ID would need).
 */
export function identityKey(identity: { readonly clientId: string }): string {
  return identity.clientId.toLowerCase();
}
