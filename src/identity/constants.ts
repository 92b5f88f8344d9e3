/**
 * Every name, default and limit of the workload identity contract, in one
 * place. Values are those of the upstream webhook (Azure/azure-workload-identity
 * v1.6.0, pkg/webhook/consts.go) so this server is a drop-in replacement.
 */

// --- Set by application developers on the Pod ---------------------------------

/** Pod label that opts a pod in; the webhook configuration selects on it. */
export const USE_LABEL = 'azure.workload.identity/use';
/** Pod annotation: `;`-separated container names that get neither env nor mount. */
export const SKIP_CONTAINERS_ANNOTATION = 'azure.workload.identity/skip-containers';
/** Pod annotation: inject the IMDS proxy init container and sidecar. */
export const INJECT_PROXY_SIDECAR_ANNOTATION = 'azure.workload.identity/inject-proxy-sidecar';
/** Pod annotation: port the proxy sidecar listens on. */
export const PROXY_SIDECAR_PORT_ANNOTATION = 'azure.workload.identity/proxy-sidecar-port';
/** Prefix of the per-pod annotation that opts into the custom token endpoint. */
export const USE_ANNOTATION_PREFIX = 'azure.workload.identity/use-';

// --- Set by application developers on the ServiceAccount (token expiration also on the Pod)

/** ServiceAccount annotation: client ID of the managed identity or app registration. */
export const CLIENT_ID_ANNOTATION = 'azure.workload.identity/client-id';
/** ServiceAccount annotation: tenant of the identity; present-but-empty disables AZURE_TENANT_ID. */
export const TENANT_ID_ANNOTATION = 'azure.workload.identity/tenant-id';
/** Pod or ServiceAccount annotation: lifetime of the projected token in seconds. */
export const SERVICE_ACCOUNT_TOKEN_EXPIRATION_ANNOTATION =
  'azure.workload.identity/service-account-token-expiration';
/** Every annotation key the webhook reads starts with this; informer records keep only these. */
export const ANNOTATION_PREFIX = 'azure.workload.identity/';

// --- Environment variables injected into containers ---------------------------

/** Client ID from the ServiceAccount annotation. */
export const AZURE_CLIENT_ID_ENV = 'AZURE_CLIENT_ID';
/** Tenant ID from the annotation or the webhook's configured tenant. */
export const AZURE_TENANT_ID_ENV = 'AZURE_TENANT_ID';
/** Path of the projected token file. */
export const AZURE_FEDERATED_TOKEN_FILE_ENV = 'AZURE_FEDERATED_TOKEN_FILE';
/** Entra authority host of the configured cloud, with trailing slash. */
export const AZURE_AUTHORITY_HOST_ENV = 'AZURE_AUTHORITY_HOST';
/** Custom token endpoint: token proxy URL (from the webhook's own env). */
export const AZURE_KUBERNETES_TOKEN_PROXY_ENV = 'AZURE_KUBERNETES_TOKEN_PROXY';
/** Custom token endpoint: TLS SNI name (from the webhook's own env). */
export const AZURE_KUBERNETES_SNI_NAME_ENV = 'AZURE_KUBERNETES_SNI_NAME';
/** Custom token endpoint: path of the projected CA file (always injected for opted-in pods). */
export const AZURE_KUBERNETES_CA_FILE_ENV = 'AZURE_KUBERNETES_CA_FILE';
/** Custom token endpoint: inline CA data (from the webhook's own env). */
export const AZURE_KUBERNETES_CA_DATA_ENV = 'AZURE_KUBERNETES_CA_DATA';
/** Env of the proxy init container: the port iptables redirects IMDS traffic to. */
export const PROXY_PORT_ENV = 'PROXY_PORT';

// --- Token volume ---------------------------------------------------------------

/** Prefix of the reserved projected volume name; 30 hex chars of SHA-256 follow. */
export const PROJECTED_VOLUME_NAME_PREFIX = 'azure-workload-identity-reserved-';
/** Kubernetes volume names are DNS labels: at most 63 characters. */
export const MAX_VOLUME_NAME_LENGTH = 63;
/** Appended to generateName when the pod has no name yet (upstream's exact text). */
export const GENERATE_NAME_SUFFIX = ' (prefix)';
/** Where the token volume is mounted in every container. */
export const TOKEN_MOUNT_PATH = '/var/run/secrets/azure/wi';
/** Token file path inside the volume. */
export const TOKEN_FILE_PATH = 'token/azure-identity-token';
/** CA file path inside the volume (custom token endpoint). */
export const CA_FILE_PATH = 'ca-cert/ca.crt';
/** Key of the CA certificate in the custom token endpoint's ConfigMap. */
export const CA_CONFIGMAP_KEY = 'ca.crt';

// --- Defaults and limits --------------------------------------------------------

/** Token audience expected by Microsoft Entra ID for federated credentials. */
export const DEFAULT_AUDIENCE = 'api://AzureADTokenExchange';
/** Default token lifetime in seconds. */
export const DEFAULT_TOKEN_EXPIRATION_SECONDS = 3600;
/** Shortest token lifetime accepted, inclusive. */
export const MIN_TOKEN_EXPIRATION_SECONDS = 3600;
/** Longest token lifetime accepted, inclusive. */
export const MAX_TOKEN_EXPIRATION_SECONDS = 86400;
/** Longest namespace name Kubernetes accepts (a DNS label). */
export const MAX_NAMESPACE_NAME_LENGTH = 63;
/** Longest ServiceAccount name Kubernetes accepts (a DNS subdomain). */
export const MAX_SERVICE_ACCOUNT_NAME_LENGTH = 253;
/** Default ServiceAccount when the pod names none. */
export const DEFAULT_SERVICE_ACCOUNT = 'default';

// --- IMDS proxy (migration aid) -------------------------------------------------

/** Name of the injected proxy sidecar. */
export const PROXY_SIDECAR_CONTAINER_NAME = 'azwi-proxy';
/** Name of the injected iptables init container. */
export const PROXY_INIT_CONTAINER_NAME = 'azwi-proxy-init';
/** Default proxy port. */
export const DEFAULT_PROXY_SIDECAR_PORT = 8000;
/** Default proxy sidecar image (upstream release build). */
export const DEFAULT_PROXY_IMAGE = 'mcr.microsoft.com/oss/azure/workload-identity/proxy:v1.6.0';
/** Default proxy init image (upstream release build). */
export const DEFAULT_PROXY_INIT_IMAGE = 'mcr.microsoft.com/oss/azure/workload-identity/proxy-init:v1.6.0';
/** First Kubernetes minor with native sidecars safe across kubelet skew (beta 1.29 + 3). */
export const NATIVE_SIDECAR_MIN_VERSION = { major: 1, minor: 32 } as const;

// --- Limits on what one request may ask of the webhook -------------------------
// Mutation runs before the API server validates the pod, so anyone who may
// create a pod can send any spec up to the API server's 3 MiB request limit.
// Kubernetes sets no count for these lists; each limit is far above any real
// pod, and a pod over one is denied with reason LimitExceeded, never admitted
// unmutated (docs/errors.md).

/** Containers + initContainers + ephemeralContainers of one pod: real pods have tens. */
export const MAX_POD_CONTAINERS = 250;
/** `env` entries of one container: real containers set tens, rarely a few hundred. */
export const MAX_CONTAINER_ENV_ENTRIES = 1000;
/** `volumeMounts` of one container: at most one per volume in real pods, and volumes are limited below. */
export const MAX_CONTAINER_VOLUME_MOUNTS = 500;
/** `volumes` of one pod: real pods mount tens of ConfigMaps, Secrets and claims. */
export const MAX_POD_VOLUMES = 500;
/** Names in the skip-containers annotation: more than a pod may have containers can never all match. */
export const MAX_SKIP_CONTAINER_NAMES = MAX_POD_CONTAINERS;
/** JSON bytes of the patch: etcd stores objects of at most 1.5 MiB, and ordinary patches are 1–6 KiB. */
export const MAX_PATCH_BYTES = 1024 * 1024;
/** Longest request value echoed in a message or log field: Kubernetes names have at most 253 characters. */
export const MAX_ECHOED_VALUE_CHARS = 256;
/** Longest denial message or warning: the longest real one (a federated credential hint) is about 3,000. */
export const MAX_MESSAGE_CHARS = 8192;
