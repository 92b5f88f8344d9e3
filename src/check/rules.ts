import type { MutationDenyReason } from '../identity/mutate-pod.js';
import type { ValidationReason } from '../policy/evaluate.js';

/** Every reason `check` can report: a finding of the validating webhook, or a pod the mutating webhook would refuse. */
export type CheckRuleId = ValidationReason | MutationDenyReason;

export interface CheckRule {
  /** One line: what the finding says. */
  readonly summary: string;
  /** When it fires. */
  readonly description: string;
  /** What the person who owns the manifest does about it. */
  readonly fix: string;
}

/**
 * Where docs/errors.md is published; each reason has a section there whose
 * anchor is its name in lower case. `check --docs-url` points elsewhere (a
 * fork, an internal mirror).
 */
export const DEFAULT_ERRORS_DOC_URL = 'https://github.com/wi-admission/wi-admission/blob/main/docs/errors.md';

/**
 * The text of every rule, for code-scanning tools (SARIF `driver.rules`).
 * A Record over the reason types: a new reason does not compile without its
 * text. docs/errors.md says the same at length, with example messages.
 */
export const CHECK_RULES: Readonly<Record<CheckRuleId, CheckRule>> = {
  InvalidClientId: {
    summary: 'The client-id annotation is not a GUID.',
    description: 'azure.workload.identity/client-id must be the clientId (a GUID) of a user-assigned managed identity; the webhook rejects any other value.',
    fix: "Set the annotation to the identity's clientId: `az identity show -g <group> -n <name> --query clientId -o tsv`.",
  },
  UnknownIdentity: {
    summary: 'The client ID is no managed identity in the inventory.',
    description: 'The client ID is a GUID, but no user-assigned managed identity with that clientId is in the identities the webhook knows (its --identities sources).',
    fix: 'Check the client ID (`az identity list --query "[].{name:name, clientId:clientId}"`), or ask the platform team to add the identity\'s subscription or resource group to the inventory.',
  },
  PrincipalIdUsedAsClientId: {
    summary: 'The client-id annotation holds a principal (object) ID.',
    description: "The GUID is the principalId of a managed identity, not its clientId. Token exchange needs the clientId.",
    fix: 'Use the clientId the message gives instead.',
  },
  IdentityNotApproved: {
    summary: 'The managed identity is not approved for this namespace.',
    description: "The identity's Azure tags do not satisfy the policy for the namespace: a rule's required tags, the namespace tag or the cluster tag.",
    fix: 'Use an identity whose tags approve the namespace, or ask the platform team to tag this identity for it.',
  },
  TenantMismatch: {
    summary: 'The tenant-id annotation is not the identity\'s tenant.',
    description: 'azure.workload.identity/tenant-id is set and differs from the tenant the managed identity lives in.',
    fix: 'Set the tenant the message gives, or remove the annotation.',
  },
  InvalidTokenExpiration: {
    summary: 'The token expiration is not a whole number of seconds from 3600 to 86400.',
    description: 'azure.workload.identity/service-account-token-expiration must be a plain integer from 3600 to 86400; pods are rejected otherwise.',
    fix: 'Set a number of seconds without a unit, e.g. "3600".',
  },
  NoMatchingFederatedCredential: {
    summary: 'No federated credential of the identity trusts this ServiceAccount.',
    description: 'None of the managed identity\'s federated credentials has the subject system:serviceaccount:<namespace>:<name>, the token audience and (when known) the cluster\'s OIDC issuer, so token exchange will fail.',
    fix: 'Run the `az identity federated-credential create` command the message prints.',
  },
  InventoryUnavailable: {
    summary: 'The identity inventory could not be read.',
    description: 'The webhook has no usable identity inventory (not loaded yet, or older than its allowed staleness), or cannot read the identity\'s federated credentials.',
    fix: 'Retry later; the platform team checks the webhook\'s access to Azure.',
  },
  NamespaceUnavailable: {
    summary: 'A rule needs the labels of a Namespace that could not be read.',
    description: 'A policy rule selects namespaces by label, or requires a tag from a namespace label, and the Namespace\'s labels are unknown (not given to check, or not readable from the API server); the rule is not evaluated on labels nobody read.',
    fix: 'Give the Namespace (its manifest, --objects or --kubeconfig), or retry when the API server answers.',
  },
  ClientIdChanged: {
    summary: 'The ServiceAccount changes its client ID.',
    description: 'An update changes azure.workload.identity/client-id; pods already running keep the old identity.',
    fix: 'Restart the pods that use the ServiceAccount (`kubectl rollout restart`).',
  },
  ClientSecretInPod: {
    summary: 'An opted-in pod sets AZURE_CLIENT_SECRET.',
    description: 'A container sets AZURE_CLIENT_SECRET while the pod uses workload identity; Azure SDKs prefer the secret to the federated token.',
    fix: 'Remove AZURE_CLIENT_SECRET from the container.',
  },
  DefaultServiceAccount: {
    summary: 'An opted-in pod uses the default ServiceAccount where the policy forbids it.',
    description: 'A policy rule with forbidDefaultServiceAccount matches the namespace, and the pod (template) uses the default ServiceAccount with workload identity.',
    fix: 'Create a dedicated ServiceAccount and set spec.serviceAccountName.',
  },
  MissingUseLabel: {
    summary: 'The ServiceAccount has a client ID, but the pods lack the use label.',
    description: 'The pod or pod template uses a ServiceAccount with azure.workload.identity/client-id but has no label azure.workload.identity/use: "true", so no token is injected.',
    fix: "Add the label to the pod template's metadata.labels.",
  },
  ServiceAccountNotFound: {
    summary: 'The ServiceAccount does not exist.',
    description: 'The workload names a ServiceAccount that is neither in the manifests, nor in --objects, nor in the cluster; its pods will be rejected until it exists.',
    fix: 'Create the ServiceAccount (before the workload), or correct spec.serviceAccountName.',
  },
  HostNetworkProxy: {
    summary: 'The proxy sidecar is requested on a hostNetwork pod.',
    description: 'azure.workload.identity/inject-proxy-sidecar is set on a pod with hostNetwork: true; the mutating webhook refuses the pod.',
    fix: 'Remove the annotation or run the pod without hostNetwork.',
  },
  InvalidProxyPort: {
    summary: 'The proxy sidecar port is not a port.',
    description: 'azure.workload.identity/proxy-sidecar-port is not an integer from 1 to 65535; the mutating webhook refuses the pod.',
    fix: 'Set a port from 1 to 65535.',
  },
  KubernetesVersionUnknown: {
    summary: 'The Kubernetes version is not known yet.',
    description: 'The proxy sidecar is requested before the webhook learned the API server version (offline: --kubernetes-version decides).',
    fix: 'Retry; give --kubernetes-version to check offline.',
  },
  LimitExceeded: {
    summary: 'The pod is over a limit the webhook sets on hostile input.',
    description: 'An opted-in pod has more containers, env entries, volumeMounts, volumes or skip-containers names than the webhook accepts, or its patch would exceed 1 MiB; no real pod comes near these limits.',
    fix: 'Stay within the limit the message names (docs/errors.md lists them all).',
  },
};

export const CHECK_RULE_IDS = Object.keys(CHECK_RULES).sort() as CheckRuleId[];

export function isCheckRuleId(value: string): value is CheckRuleId {
  return Object.hasOwn(CHECK_RULES, value);
}

/** The anchor of the reason's section in docs/errors.md (GitHub's heading anchors: lower case). */
export function ruleHelpUri(id: CheckRuleId, docsUrl: string): string {
  return `${docsUrl}#${id.toLowerCase()}`;
}
