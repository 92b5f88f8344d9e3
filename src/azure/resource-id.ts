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

/** A key for maps of identities: resource IDs differ only in case across tools. */
export function identityKey(identity: { readonly id: string; readonly clientId: string }): string {
  return (identity.id || identity.clientId).toLowerCase();
}
