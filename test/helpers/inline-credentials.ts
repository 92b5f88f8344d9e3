import type { CredentialResolution, ManagedIdentity } from '../../src/identity/managed-identity.js';

/** What the inventory answers for credentials given inline: the list, or unknown when the item gave none. */
export function inlineCredentials(identity: ManagedIdentity): CredentialResolution {
  const known = identity.federatedCredentials;
  if (known === 'unknown') return { status: 'unknown', reason: `no federatedCredentials are given for ${identity.name}` };
  return { status: 'found', credentials: known ?? [] };
}
