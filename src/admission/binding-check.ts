import picomatch from 'picomatch';
import { CLIENT_ID_ANNOTATION } from '../identity/constants.js';
import type { CredentialResolution, IdentityResolution, ManagedIdentity } from '../identity/managed-identity.js';
import { checkBinding, checkFederatedCredential, isBindingAdmitted, isGuid, type Finding, type Subject } from '../policy/evaluate.js';
import type { PolicySpec } from '../policy/schema.js';

/**
 * The ServiceAccount checks of the validating webhook, shared by the webhook
 * (`bindingFindings` in admission/handle-validation.ts) and the inventory
 * report, so that `wi-admission inventory` says what admission would say.
 */
/** The inventory as admission needs it (implemented by `IdentityInventory`). */
export interface IdentityDirectory {
  lookupClientId(clientId: string): Promise<IdentityResolution>;
  federatedCredentials(identity: ManagedIdentity): Promise<CredentialResolution>;
}

export interface BindingDeps {
  /** Undefined without `--identities`: every client ID is then unavailable. */
  readonly identities: IdentityDirectory | undefined;
  readonly audience: string;
  readonly oidcIssuer: string | undefined;
}

/** True when the policy exempts the namespace (`exemptNamespaces` globs). */
export function isExemptNamespace(policy: PolicySpec, namespace: string): boolean {
  return policy.exemptNamespaces.some((glob) => picomatch.isMatch(namespace, glob, { dot: true }));
}

/**
 * The inventory's answer for the ServiceAccount's client ID. Undefined when
 * there is nothing to ask: no client ID, or one that is not a GUID.
 */
export async function lookupBindingIdentity(
  identities: IdentityDirectory | undefined,
  annotations: Readonly<Record<string, string>>,
): Promise<IdentityResolution | undefined> {
  const clientId = annotations[CLIENT_ID_ANNOTATION] ?? '';
  if (clientId === '' || !isGuid(clientId)) return undefined;
  return identities
    ? await identities.lookupClientId(clientId)
    : { status: 'unavailable', reason: 'no identity source is configured (--identities)' };
}

/**
 * `checkBinding`, then — only for an admitted binding — the federated
 * credential check, asking the directory for credentials only then.
 * `identity` is the answer of `lookupBindingIdentity`.
 */
export async function checkBindingWithCredentials(
  policy: PolicySpec,
  deps: BindingDeps,
  subject: Subject,
  annotations: Readonly<Record<string, string>>,
  identity: IdentityResolution | undefined,
): Promise<Finding[]> {
  const findings = checkBinding(policy, subject, { annotations, identity });
  if (identity?.status !== 'found' || !deps.identities || !isBindingAdmitted(identity, findings)) return findings;
  const credentials = await deps.identities.federatedCredentials(identity.identity);
  return [...findings, ...checkFederatedCredential(policy, subject, identity.identity, { credentials, audience: deps.audience, oidcIssuer: deps.oidcIssuer })];
}
