import { CLIENT_ID_ANNOTATION, DEFAULT_SERVICE_ACCOUNT, SERVICE_ACCOUNT_TOKEN_EXPIRATION_ANNOTATION, TENANT_ID_ANNOTATION } from '../identity/constants.js';
import { parseGoInt } from '../identity/go-strconv.js';
import type { CredentialResolution, IdentityResolution, ManagedIdentity, NamespaceFacts } from '../identity/managed-identity.js';
import { isValidTokenExpiration } from '../identity/token-expiration.js';
import { approveIdentity, matchNamespace } from './approval.js';
import type { Action, PolicySpec } from './schema.js';

/** Closed set of validation reason codes: messages, audit annotations and metric labels. */
export const VALIDATION_REASONS = [
  'InvalidClientId',
  'UnknownIdentity',
  'PrincipalIdUsedAsClientId',
  'IdentityNotApproved',
  'TenantMismatch',
  'InvalidTokenExpiration',
  'NoMatchingFederatedCredential',
  'InventoryUnavailable',
  'ClientIdChanged',
  'ClientSecretInPod',
  'DefaultServiceAccount',
  'MissingUseLabel',
  'ServiceAccountNotFound',
  'NamespaceUnavailable',
] as const;
export type ValidationReason = (typeof VALIDATION_REASONS)[number];

export interface Finding {
  readonly reason: ValidationReason;
  readonly action: Action;
  /** 400 for malformed values, 403 for policy denials. */
  readonly code: 400 | 403;
  /** The whole sentence kubectl shows, ending with `[Reason]`. */
  readonly message: string;
  /** The policy rule the finding comes from, when one does (reports name it). */
  readonly rule?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(value: string): boolean {
  return GUID.test(value);
}

/** Who is speaking in a message: the ServiceAccount itself, or the workload that uses it. */
export interface Subject {
  /** e.g. `ServiceAccount checkout-prod/checkout-api` or `Deployment checkout-prod/web`. */
  readonly object: string;
  /** Its labels may be unknown: rules that need them yield `NamespaceUnavailable`, never a guess. */
  readonly namespace: NamespaceFacts;
  readonly serviceAccountName: string;
}

export interface BindingFacts {
  readonly annotations: Readonly<Record<string, string>>;
  /** The inventory's answer for the client ID (only asked when it is a GUID). */
  readonly identity: IdentityResolution | undefined;
}

export interface CredentialFacts {
  readonly credentials: CredentialResolution;
  readonly audience: string;
  /** `--oidc-issuer`; when undefined the issuer is not compared. */
  readonly oidcIssuer: string | undefined;
}

/**
 * The checks of DESIGN §4 for a ServiceAccount that carries a client ID:
 * GUID format → identity known (or a principalId mix-up) → approved for the
 * namespace → tenant → token expiration. The federated credential is checked
 * by `checkFederatedCredential` once the identity is admitted. Pure: the
 * caller has already asked the inventory.
 */
export function checkBinding(policy: PolicySpec, subject: Subject, facts: BindingFacts): Finding[] {
  const clientId = facts.annotations[CLIENT_ID_ANNOTATION] ?? '';
  if (clientId === '') return [];
  const findings: Finding[] = [];
  const who = describeSubject(subject);
  findings.push(...checkTokenExpiration(subject, facts.annotations));

  if (!isGuid(clientId)) {
    findings.unshift(finding('InvalidClientId', 'deny', 400,
      `${who} has ${CLIENT_ID_ANNOTATION}=${JSON.stringify(clientId)}, which is not a client ID (a GUID such as 6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2). ` +
        'Set it to the managed identity\'s clientId (az identity show -g <group> -n <name> --query clientId -o tsv).'));
    return findings;
  }
  const resolution = facts.identity ?? { status: 'unavailable', reason: 'not looked up' };
  switch (resolution.status) {
    case 'unavailable':
      findings.unshift(finding('InventoryUnavailable', policy.onInventoryUnavailable, 403,
        `${who} uses client ID ${clientId}, which cannot be checked now: the identity inventory is unavailable (${resolution.reason}). ` +
          'Retry in a few minutes; if it persists, the platform team should check the webhook\'s access to Azure.'));
      return findings;
    case 'unknown':
      findings.unshift(finding('UnknownIdentity', policy.onUnknownIdentity, 403,
        `${who} uses client ID ${clientId}, which is not a managed identity the webhook knows. ` +
          'Check the client ID (az identity list --query "[].{name:name, clientId:clientId}"), or ask the platform team to add the identity\'s subscription or resource group to the inventory.'));
      return findings;
    case 'principalId': {
      const id = resolution.identity;
      findings.unshift(finding('PrincipalIdUsedAsClientId', 'deny', 400,
        `${who} has ${CLIENT_ID_ANNOTATION}=${clientId}, which is the principal (object) ID of managed identity ${id.name} (resource group ${id.resourceGroup}), not its client ID. ` +
          `Set ${CLIENT_ID_ANNOTATION}: ${id.clientId}.`));
      return findings;
    }
    case 'found':
      break;
  }
  const identity = resolution.identity;
  const bound = `${who} is not allowed to use client ID ${clientId} (${describeIdentity(identity)})`;
  const approval = approveIdentity(policy, identity, subject.namespace);
  for (const failure of approval.failures) {
    findings.push({ ...finding('IdentityNotApproved', failure.action, 403, `${bound}: ${failure.problem}. ${failure.fix}`), ...(failure.rule ? { rule: failure.rule } : {}) });
  }
  if (approval.unevaluatedRules.length > 0 && subject.namespace.labels === undefined) {
    findings.push(namespaceUnavailable(policy, `${who} uses client ID ${clientId} (${describeIdentity(identity)})`, approval.unevaluatedRules, subject.namespace));
  }

  const tenant = facts.annotations[TENANT_ID_ANNOTATION];
  if (tenant !== undefined && tenant !== '' && tenant.toLowerCase() !== identity.tenantId.toLowerCase()) {
    findings.push(finding('TenantMismatch', 'deny', 403,
      `${who} has ${TENANT_ID_ANNOTATION}=${tenant}, but managed identity ${identity.name} (client ID ${clientId}) lives in tenant ${identity.tenantId}. ` +
        `Set ${TENANT_ID_ANNOTATION}: ${identity.tenantId}, or remove the annotation.`));
  }
  return findings;
}

function checkTokenExpiration(subject: Subject, annotations: Readonly<Record<string, string>>): Finding[] {
  const value = annotations[SERVICE_ACCOUNT_TOKEN_EXPIRATION_ANNOTATION];
  if (value === undefined || value === '') return [];
  const parsed = parseGoInt(value, 64);
  if (parsed.ok && isValidTokenExpiration(parsed.value)) return [];
  return [finding('InvalidTokenExpiration', 'deny', 400,
    `${describeSubject(subject)} has ${SERVICE_ACCOUNT_TOKEN_EXPIRATION_ANNOTATION}=${JSON.stringify(value)}, which pods would be rejected for: ` +
      'it must be a whole number of seconds from 3600 to 86400, e.g. "3600".')];
}

/** True when the findings leave the binding admitted, so its federated credential is worth checking. */
export function isBindingAdmitted(resolution: IdentityResolution, findings: readonly Finding[]): boolean {
  return resolution.status === 'found' && !findings.some((f) => f.action === 'deny');
}

/** Subject, audience and (when configured) issuer must all match one credential. */
export function checkFederatedCredential(policy: PolicySpec, subject: Subject, identity: ManagedIdentity, facts: CredentialFacts): Finding[] {
  const expectedSubject = `system:serviceaccount:${subject.namespace.name}:${subject.serviceAccountName}`;
  // Not given is not "trusts nothing": nothing to check, and nothing to report as missing.
  if (facts.credentials.status === 'unknown') return [];
  if (facts.credentials.status === 'unavailable') {
    return [finding('InventoryUnavailable', policy.onInventoryUnavailable, 403,
      `${describeSubject(subject)}: the federated credentials of managed identity ${identity.name} cannot be read now (${facts.credentials.reason}), so the trust for ${expectedSubject} cannot be checked. Retry in a few minutes.`)];
  }
  const matches = facts.credentials.credentials.some(
    (c) => c.subject === expectedSubject && c.audiences.includes(facts.audience) && (facts.oidcIssuer === undefined || sameIssuer(c.issuer, facts.oidcIssuer)),
  );
  if (matches) return [];
  const trusted = facts.credentials.credentials.map((c) => `${c.subject} (issuer ${c.issuer}, audiences ${c.audiences.join(' ')})`);
  const issuer = facts.oidcIssuer ?? '"$(az aks show -g <cluster-group> -n <cluster> --query oidcIssuerProfile.issuerUrl -o tsv)"';
  const command =
    `az identity federated-credential create --name ${credentialName(subject)} --identity-name ${identity.name} ` +
    `--resource-group ${identity.resourceGroup} --issuer ${issuer} --subject ${expectedSubject} --audience ${facts.audience}`;
  return [finding('NoMatchingFederatedCredential', policy.onMissingFederatedCredential, 403,
    `${describeSubject(subject)}: managed identity ${identity.name} has no federated credential for ${expectedSubject}` +
      `${facts.oidcIssuer ? ` from issuer ${facts.oidcIssuer}` : ''} with audience ${facts.audience}, so token exchange will fail ` +
      `(it trusts ${trusted.length > 0 ? trusted.join('; ') : 'no subject at all'}). Fix: ${command}`)];
}

/** OIDC issuers are compared without a trailing slash, which AKS and users write either way. */
function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

function credentialName(subject: Subject): string {
  // Credential names: 3–120 chars of alphanumerics, '-' and '_'.
  return `${subject.namespace.name}-${subject.serviceAccountName}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 120);
}

export interface PodTemplateFacts {
  readonly hasUseLabel: boolean;
  /** Containers (and init containers) whose env sets AZURE_CLIENT_SECRET. */
  readonly clientSecretContainers: readonly string[];
  /** The ServiceAccount, when it exists. */
  readonly serviceAccountAnnotations: Readonly<Record<string, string>> | undefined;
}

/**
 * Pod-level checks (Pods and the templates of workloads): a client secret
 * next to workload identity, the default ServiceAccount where a rule forbids
 * it, and the most common mistake — a ServiceAccount with a client ID but a
 * pod without the `use` label, which silently gets no token.
 */
export function checkPodTemplate(policy: PolicySpec, subject: Subject, facts: PodTemplateFacts): Finding[] {
  const findings: Finding[] = [];
  const clientId = facts.serviceAccountAnnotations?.[CLIENT_ID_ANNOTATION] ?? '';
  if (!facts.hasUseLabel) {
    if (clientId !== '') {
      findings.push(finding('MissingUseLabel', 'warn', 400,
        `${subject.object} uses ServiceAccount ${subject.serviceAccountName}, which has a client ID, but its pods lack the label azure.workload.identity/use: "true", so no token is injected. Add the label to the pod template's metadata.labels.`));
    }
    return findings;
  }
  if (facts.clientSecretContainers.length > 0) {
    findings.push(finding('ClientSecretInPod', policy.onClientSecretInPod, 403,
      `${subject.object} sets AZURE_CLIENT_SECRET in container ${facts.clientSecretContainers.join(', ')} while using workload identity; ` +
        'Azure SDKs prefer the secret over the federated token. Remove the secret and rely on the injected token.'));
  }
  if (subject.serviceAccountName === DEFAULT_SERVICE_ACCOUNT) {
    const unevaluated: string[] = [];
    for (const rule of policy.rules) {
      if (!rule.forbidDefaultServiceAccount) continue;
      const match = matchNamespace(rule, subject.namespace);
      if (match === 'labels-unknown') unevaluated.push(rule.name);
      if (match !== 'match') continue;
      findings.push({
        ...finding('DefaultServiceAccount', rule.action, 403,
          `${subject.object} uses the default ServiceAccount with workload identity, which rule "${rule.name}" forbids in namespace ${subject.namespace.name}. ` +
            'Create a dedicated ServiceAccount for this workload and set spec.serviceAccountName.'),
        rule: rule.name,
      });
    }
    if (unevaluated.length > 0 && subject.namespace.labels === undefined) {
      findings.push(namespaceUnavailable(policy, `${subject.object} uses the default ServiceAccount with workload identity`, unevaluated, subject.namespace));
    }
  }
  return findings;
}

/**
 * Rules that need the labels of a namespace whose labels are unknown: named
 * for what it is, with the caller's reason, and the policy's
 * `onNamespaceUnavailable` action (deny by default: never fail open).
 */
function namespaceUnavailable(policy: PolicySpec, what: string, rules: readonly string[], namespace: NamespaceFacts & { labels?: undefined }): Finding {
  const named = rules.map((r) => `"${r}"`).join(', ');
  const reason = 'unknownBecause' in namespace ? namespace.unknownBecause : 'they were not read';
  return finding('NamespaceUnavailable', policy.onNamespaceUnavailable, 403,
    `${what}, and ${rules.length === 1 ? 'rule' : 'rules'} ${named} cannot be evaluated: ${rules.length === 1 ? 'it needs' : 'they need'} the labels of namespace ${namespace.name}, which are unknown: ${reason}.`);
}

/** A client ID change on UPDATE: running pods keep the old identity until restarted. */
export function checkClientIdChange(subject: Subject, oldAnnotations: Readonly<Record<string, string>> | undefined, newAnnotations: Readonly<Record<string, string>>): Finding[] {
  const before = oldAnnotations?.[CLIENT_ID_ANNOTATION] ?? '';
  const after = newAnnotations[CLIENT_ID_ANNOTATION] ?? '';
  if (oldAnnotations === undefined || before === after || before === '') return [];
  return [finding('ClientIdChanged', 'warn', 400,
    `${subject.object} changes its client ID from ${before} to ${after || '(none)'}; running pods keep the old identity until they are restarted (kubectl rollout restart).`)];
}

function describeSubject(subject: Subject): string {
  return subject.object.startsWith('ServiceAccount ')
    ? subject.object
    : `${subject.object} (ServiceAccount ${subject.serviceAccountName})`;
}

function describeIdentity(identity: ManagedIdentity): string {
  return `managed identity ${identity.name}, resource group ${identity.resourceGroup}`;
}

function finding(reason: ValidationReason, action: Action, code: 400 | 403, text: string): Finding {
  return { reason, action, code, message: `wi-admission: ${text} [${reason}]` };
}
