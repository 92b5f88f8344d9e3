import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { describeParseArgsError } from './util/parse-flags.js';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseIdentitySourceSpec } from './azure/sources.js';
import type { KubeEnvironment } from './kube/kubeconfig.js';
import { resolveAuthorityHost } from './identity/cloud.js';
import { DEFAULT_AUDIENCE, DEFAULT_PROXY_IMAGE, DEFAULT_PROXY_INIT_IMAGE, USE_ANNOTATION_PREFIX } from './identity/constants.js';
import type { CustomTokenEndpoint } from './identity/mutate-pod.js';
import type { CaSource } from './identity/token-volume.js';

/**
 * Every `serve` flag, its default and its help line. Each flag also reads
 * `WI_ADMISSION_<FLAG_NAME>` from the environment, and a `--config` YAML file
 * may set it by its flag name; precedence is flag > env > file > default.
 */
export const SERVE_FLAGS = {
  'webhook-addr': { default: ':9443', help: 'HTTPS address of the admission endpoints, [host]:port (port 0 picks one)' },
  'webhook-cert-dir': { default: '/certs', help: 'directory with tls.crt and tls.key, reloaded when they change' },
  'tls-min-version': { default: '1.3', help: 'minimum TLS version of the admission listener: 1.2 or 1.3' },
  'health-addr': { default: ':9440', help: 'HTTP address of /healthz and /readyz' },
  'metrics-addr': { default: ':8095', help: 'HTTP address of /metrics (Prometheus text)' },
  'metrics-backend': { default: 'prometheus', help: 'metrics backend; only prometheus (accepted for upstream compatibility)' },
  kubeconfig: { default: '', help: 'kubeconfig file; default $KUBECONFIG, else in-cluster, else ~/.kube/config' },
  objects: { default: '', help: 'YAML file of ServiceAccounts and Namespaces served instead of the API server' },
  'kubernetes-version': { default: '', help: 'API server version for the native-sidecar decision; default: asked from /version (v1.32.0 with --objects)' },
  audience: { default: DEFAULT_AUDIENCE, help: 'audience of the projected service account token' },
  'log-level': { default: 'info', help: 'upstream levels: "" (warnings), info, debug, trace, all' },
  'custom-token-endpoint-annotation-suffix': { default: '', help: 'pods annotated azure.workload.identity/use-<suffix>: "true" use the custom token endpoint' },
  'custom-token-endpoint-audience': { default: '', help: 'token audience for pods using the custom token endpoint' },
  policy: { default: '', help: 'IdentityPolicy YAML (reloaded on change); without it /validate admits everything' },
  identities: { default: '', help: 'identity inventory: file:PATH or arm:/subscriptions/<id>[/resourceGroups/<rg>] (repeatable; comma-separated in env)' },
  'identity-refresh': { default: '5m', help: 'full inventory refresh interval' },
  'identity-max-staleness': { default: '30m', help: 'how long the last good inventory is used while the source fails' },
  'oidc-issuer': { default: '', help: 'the cluster OIDC issuer URL; federated credentials must name it' },
  'arm-endpoint': { default: '', help: 'Azure Resource Manager endpoint; default from AZURE_ENVIRONMENT (https://management.azure.com for the public cloud)' },
  'sa-lookup-timeout': { default: '2s', help: 'time allowed for the live ServiceAccount GET on a cache miss' },
  'shutdown-delay': { default: '5s', help: 'on SIGTERM, time between readiness going false and closing the listener' },
  'cert-mode': { default: 'files', help: 'files: read --webhook-cert-dir; self: create and renew the CA and certificate in a Secret, write them to --webhook-cert-dir and the CA bundle into the webhook configurations' },
  'cert-secret': { default: 'wi-admission-tls', help: 'with --cert-mode self: the Secret that holds the CAs and the serving certificate, in POD_NAMESPACE (else the kubeconfig context\'s or the pod\'s namespace)' },
  'cert-hosts': { default: '', help: 'with --cert-mode self: DNS names and IPs of the serving certificate (comma-separated); default wi-admission.<namespace>.svc' },
  'cert-validity': { default: '8760h', help: 'with --cert-mode self: lifetime of a serving certificate; renewed when a third is left (shorten only to watch renewal happen)' },
  'cert-ca-validity': { default: '87600h', help: 'with --cert-mode self: lifetime of a CA, at least 3 times --cert-validity; replaced, overlapping with the old one, when a third is left' },
  'webhook-configuration': { default: 'wi-admission', help: 'with --cert-mode self: name of the Mutating and ValidatingWebhookConfiguration that get the CA bundle' },
  'disable-cert-rotation': { default: 'false', help: 'accepted for upstream compatibility; self-managed certificates are --cert-mode self' },
  'audit-lease': { default: 'wi-admission', help: 'with --policy: the coordination.k8s.io Lease in POD_NAMESPACE that elects the one replica writing PolicyReports and Events' },
} as const;

export type ServeFlag = keyof typeof SERVE_FLAGS;

/** Environment variables of the upstream webhook; `CONFIG_<NAME>` is read before `<NAME>`, as envconfig does. */
const UPSTREAM_ENV = [
  'AZURE_TENANT_ID',
  'AZURE_ENVIRONMENT',
  'AZURE_ENVIRONMENT_FILEPATH',
  'PROXY_IMAGE',
  'PROXY_INIT_IMAGE',
  'AZURE_KUBERNETES_TOKEN_PROXY',
  'AZURE_KUBERNETES_SNI_NAME',
  'AZURE_KUBERNETES_CA_DATA',
  'AZURE_KUBERNETES_CA_CONFIGMAP_NAME',
  'AZURE_KUBERNETES_CA_CTB_SIGNER_NAME',
  'AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR',
  'POD_NAMESPACE',
] as const;

export const LOG_LEVELS = ['', 'info', 'debug', 'trace', 'all'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const AddressSchema = z.string().transform((text, ctx) => {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an address of the form [host]:port` });
    return z.NEVER;
  }
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
});

const Duration = z.string().transform((text, ctx) => {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration such as 500ms, 2s, 5m or 1h` });
    return z.NEVER;
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * unit);
});

const BooleanFlag = z.enum(['true', 'false', '1', '0', '']).transform((v) => v === 'true' || v === '1');

const LabelSelectorJson = z.string().transform((text, ctx) => {
  if (text === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  ctx.addIssue({ code: 'custom', message: 'is not a JSON LabelSelector object' });
  return z.NEVER;
});

const RawConfigSchema = z.object({
  webhookAddr: AddressSchema,
  webhookCertDir: z.string().min(1),
  tlsMinVersion: z.enum(['1.2', '1.3'], { error: 'must be 1.2 or 1.3 (older TLS versions are refused)' }),
  healthAddr: AddressSchema,
  metricsAddr: AddressSchema,
  metricsBackend: z.string().refine((v) => v.toLowerCase() === 'prometheus', 'only prometheus is supported'),
  kubeconfig: z.string(),
  objects: z.string(),
  kubernetesVersion: z.string(),
  audience: z.string(),
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.map((l) => JSON.stringify(l)).join(', ')}` }),
  customTokenEndpointAnnotationSuffix: z.string(),
  customTokenEndpointAudience: z.string(),
  policy: z.string(),
  identities: z.string().transform((text, ctx) => {
    const specs = text.split(',').map((v) => v.trim()).filter((v) => v !== '');
    for (const spec of specs) {
      try {
        parseIdentitySourceSpec(spec);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }
    return specs;
  }),
  identityRefresh: Duration,
  identityMaxStaleness: Duration,
  oidcIssuer: z.string().refine((v) => v === '' || /^https:\/\/\S+$/.test(v), 'must be an https:// URL'),
  armEndpoint: z.string().refine((v) => v === '' || /^https?:\/\/\S+$/.test(v), 'must be a URL'),
  saLookupTimeout: Duration,
  shutdownDelay: Duration,
  certMode: z.enum(['files', 'self'], { error: 'must be files or self' }),
  certSecret: z.string().min(1),
  certHosts: z.string(),
  certValidity: Duration.refine((ms) => ms >= 10_000, 'must be at least 10s'),
  certCaValidity: Duration,
  webhookConfiguration: z.string().min(1),
  disableCertRotation: BooleanFlag,
  auditLease: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Kubernetes object name such as wi-admission'),
  env: z.object({
    AZURE_TENANT_ID: z.string().optional(),
    AZURE_ENVIRONMENT: z.string().optional(),
    AZURE_ENVIRONMENT_FILEPATH: z.string().optional(),
    PROXY_IMAGE: z.string().optional(),
    PROXY_INIT_IMAGE: z.string().optional(),
    AZURE_KUBERNETES_TOKEN_PROXY: z.string().optional(),
    AZURE_KUBERNETES_SNI_NAME: z.string().optional(),
    AZURE_KUBERNETES_CA_DATA: z.string().optional(),
    AZURE_KUBERNETES_CA_CONFIGMAP_NAME: z.string().optional(),
    AZURE_KUBERNETES_CA_CTB_SIGNER_NAME: z.string().optional(),
    AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR: LabelSelectorJson.optional(),
    POD_NAMESPACE: z.string().optional(),
  }),
});

type RawConfig = z.infer<typeof RawConfigSchema>;

/** ARM endpoints of the sovereign clouds, by upper-cased AZURE_ENVIRONMENT. */
const ARM_ENDPOINTS: Readonly<Record<string, string>> = {
  AZUREUSGOVERNMENTCLOUD: 'https://management.usgovcloudapi.net',
  AZUREUSGOVERNMENT: 'https://management.usgovcloudapi.net',
  AZURECHINACLOUD: 'https://management.chinacloudapi.cn',
  AZUREGERMANCLOUD: 'https://management.microsoftazure.de',
};

export interface Address {
  readonly host: string;
  readonly port: number;
}

export interface Config {
  readonly webhookAddr: Address;
  readonly webhookCertDir: string;
  readonly tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly healthAddr: Address;
  readonly metricsAddr: Address;
  readonly kubeconfig: string;
  /** Where to look for the API server without `--kubeconfig` (see loadKubeConnection). */
  readonly kubeEnvironment: KubeEnvironment;
  readonly objects: string;
  /** Explicit version, or undefined to ask the API server. */
  readonly kubernetesVersion: string | undefined;
  readonly logLevel: LogLevel;
  readonly saLookupTimeoutMs: number;
  readonly shutdownDelayMs: number;
  /** POD_NAMESPACE, when set; else the kubeconfig context's or the pod's namespace is used (see serve). */
  readonly podNamespace: string | undefined;
  /** This replica among several (the pod name from HOSTNAME in a cluster), for the certificate rotation's record of who serves what. */
  readonly replicaId: string;
  readonly audience: string;
  readonly authorityHost: string;
  readonly defaultTenantId: string;
  readonly proxyImage: string;
  readonly proxyInitImage: string;
  readonly customTokenEndpoint: CustomTokenEndpoint | undefined;
  /** Self-managed certificates (`--cert-mode self`), or undefined to read the cert dir as it is. */
  readonly selfManagedCertificates:
    | {
        readonly secretName: string;
        /** Empty: the default `wi-admission.<namespace>.svc`, known once the namespace is. */
        readonly hosts: readonly string[];
        readonly webhookConfiguration: string;
        readonly leafValidityMs: number;
        readonly caValidityMs: number;
      }
    | undefined;
  /** `--policy`; empty when validation is not configured. */
  readonly policyPath: string;
  /** `--identities` values, validated: `file:PATH` or `arm:/subscriptions/…`. */
  readonly identitySources: readonly string[];
  readonly identityRefreshMs: number;
  readonly identityMaxStalenessMs: number;
  readonly oidcIssuer: string | undefined;
  readonly armEndpoint: string;
  /** `--audit-lease`: the Lease (in `podNamespace`) of the replica that writes audit reports. */
  readonly auditLease: string;
}

/** `usage`: the flags themselves are wrong (an unknown flag, a missing value): exit 2, as for any command. */
export type ConfigLoad = { ok: true; config: Config } | { ok: false; error: string; usage?: true };

const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/**
 * Reads flags (argv after the command), env and the optional `--config`
 * file; never touches `process.env` itself. Errors name the flag and env var.
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ConfigLoad {
  let flags: Record<string, string | undefined>;
  try {
    flags = parseServeFlags(argv);
  } catch (err) {
    return { ok: false, error: (err as Error).message, usage: true };
  }
  let fileValues: Record<string, string>;
  try {
    fileValues = readConfigFile(flags.config ?? env.WI_ADMISSION_CONFIG);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  const raw: Record<string, unknown> = {};
  for (const [flag, spec] of Object.entries(SERVE_FLAGS)) {
    raw[camel(flag)] = flags[flag] ?? env[envName(flag)] ?? fileValues[flag] ?? spec.default;
  }
  raw.env = Object.fromEntries(UPSTREAM_ENV.map((name) => [name, env[`CONFIG_${name}`] ?? env[name]]));
  const parsed = RawConfigSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, error: parsed.error.issues.map((i) => `${describePath(i.path)}: ${i.message}`).join('\n') };
  }
  const kubeEnvironment = { KUBECONFIG: env.KUBECONFIG, KUBERNETES_SERVICE_HOST: env.KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT: env.KUBERNETES_SERVICE_PORT, HOME: env.HOME };
  // A pod's HOSTNAME is its name; elsewhere the host name and process id keep two local replicas apart.
  const replicaId = env.HOSTNAME || `${hostname()}-${process.pid}`;
  return finishConfig(parsed.data, kubeEnvironment, replicaId, (path) => readFileSync(path, 'utf8'));
}

function finishConfig(raw: RawConfig, kubeEnvironment: KubeEnvironment, replicaId: string, readFile: (path: string) => string): ConfigLoad {
  const e = raw.env;
  const errors: string[] = [];
  if (raw.certCaValidity < 3 * raw.certValidity) {
    errors.push('--cert-ca-validity (WI_ADMISSION_CERT_CA_VALIDITY): must be at least 3 times --cert-validity (WI_ADMISSION_CERT_VALIDITY), so a CA outlives the serving certificates it signs and its replacement overlaps them');
  }
  const tenant = e.AZURE_TENANT_ID ?? '';
  if (tenant === '') errors.push('AZURE_TENANT_ID: required (the tenant injected when a ServiceAccount has no tenant-id annotation)');
  const cloud = resolveAuthorityHost(e.AZURE_ENVIRONMENT ?? '', () => {
    if (!e.AZURE_ENVIRONMENT_FILEPATH) throw new Error('AZURE_ENVIRONMENT_FILEPATH is not set');
    return readFile(e.AZURE_ENVIRONMENT_FILEPATH);
  });
  if (!cloud.ok) errors.push(`AZURE_ENVIRONMENT: ${cloud.error}`);
  const cte = buildCustomTokenEndpoint(raw, errors);
  if (errors.length > 0) return { ok: false, error: errors.join('\n') };
  return {
    ok: true,
    config: Object.freeze({
      webhookAddr: raw.webhookAddr,
      webhookCertDir: raw.webhookCertDir,
      tlsMinVersion: raw.tlsMinVersion === '1.2' ? 'TLSv1.2' : 'TLSv1.3',
      healthAddr: raw.healthAddr,
      metricsAddr: raw.metricsAddr,
      kubeconfig: raw.kubeconfig,
      kubeEnvironment: Object.freeze(kubeEnvironment),
      objects: raw.objects,
      kubernetesVersion: raw.kubernetesVersion !== '' ? raw.kubernetesVersion : raw.objects !== '' ? 'v1.32.0' : undefined,
      logLevel: raw.logLevel,
      saLookupTimeoutMs: raw.saLookupTimeout,
      shutdownDelayMs: raw.shutdownDelay,
      podNamespace: e.POD_NAMESPACE || undefined,
      replicaId,
      audience: raw.audience !== '' ? raw.audience : DEFAULT_AUDIENCE,
      authorityHost: cloud.ok ? cloud.authorityHost : '',
      defaultTenantId: tenant,
      proxyImage: e.PROXY_IMAGE || DEFAULT_PROXY_IMAGE,
      proxyInitImage: e.PROXY_INIT_IMAGE || DEFAULT_PROXY_INIT_IMAGE,
      customTokenEndpoint: cte,
      selfManagedCertificates:
        raw.certMode === 'self'
          ? {
              secretName: raw.certSecret,
              hosts: raw.certHosts.split(',').map((h) => h.trim()).filter((h) => h !== ''),
              webhookConfiguration: raw.webhookConfiguration,
              leafValidityMs: raw.certValidity,
              caValidityMs: raw.certCaValidity,
            }
          : undefined,
      policyPath: raw.policy,
      identitySources: raw.identities,
      identityRefreshMs: raw.identityRefresh,
      identityMaxStalenessMs: raw.identityMaxStaleness,
      oidcIssuer: raw.oidcIssuer !== '' ? raw.oidcIssuer : undefined,
      armEndpoint: (raw.armEndpoint || ARM_ENDPOINTS[(e.AZURE_ENVIRONMENT ?? '').toUpperCase()] || 'https://management.azure.com').replace(/\/+$/, ''),
      auditLease: raw.auditLease,
    } satisfies Config),
  };
}

/** Upstream §5: both flags or neither; a custom audience; a valid annotation key; one CA source. */
function buildCustomTokenEndpoint(raw: RawConfig, errors: string[]): CustomTokenEndpoint | undefined {
  const suffix = raw.customTokenEndpointAnnotationSuffix;
  const audience = raw.customTokenEndpointAudience;
  if (suffix === '' && audience === '') return undefined;
  const e = raw.env;
  const before = errors.length;
  if (suffix === '') errors.push('--custom-token-endpoint-annotation-suffix: custom token endpoint annotation suffix cannot be empty when audience is set');
  if (audience === '') errors.push('--custom-token-endpoint-audience: custom token endpoint audience cannot be empty when annotation suffix is set');
  if (audience.toLowerCase() === DEFAULT_AUDIENCE.toLowerCase()) {
    errors.push(`--custom-token-endpoint-audience: custom token endpoint audience cannot be equal to default audience "${DEFAULT_AUDIENCE}"`);
  }
  const annotation = `${USE_ANNOTATION_PREFIX}${suffix}`;
  const name = annotation.toLowerCase().split('/')[1] ?? '';
  if (suffix !== '' && (!QUALIFIED_NAME.test(annotation.toLowerCase()) || name.length > 63)) {
    errors.push(`--custom-token-endpoint-annotation-suffix: custom token endpoint annotation key "${annotation}" is not valid: the name part must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`);
  }
  const caSources = [e.AZURE_KUBERNETES_CA_DATA, e.AZURE_KUBERNETES_CA_CONFIGMAP_NAME, e.AZURE_KUBERNETES_CA_CTB_SIGNER_NAME].filter((v) => v);
  if (caSources.length > 1) {
    errors.push('AZURE_KUBERNETES_CA_DATA, AZURE_KUBERNETES_CA_CONFIGMAP_NAME, AZURE_KUBERNETES_CA_CTB_SIGNER_NAME: set at most one');
  }
  if (e.AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR && !e.AZURE_KUBERNETES_CA_CTB_SIGNER_NAME) {
    errors.push('AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR: requires AZURE_KUBERNETES_CA_CTB_SIGNER_NAME');
  }
  if (errors.length > before) return undefined;
  let caSource: CaSource = { kind: 'none' };
  if (e.AZURE_KUBERNETES_CA_CONFIGMAP_NAME) caSource = { kind: 'configMap', name: e.AZURE_KUBERNETES_CA_CONFIGMAP_NAME };
  if (e.AZURE_KUBERNETES_CA_CTB_SIGNER_NAME) {
    caSource = {
      kind: 'clusterTrustBundle',
      signerName: e.AZURE_KUBERNETES_CA_CTB_SIGNER_NAME,
      ...(e.AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR ? { labelSelector: e.AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR } : {}),
    };
  }
  return {
    annotation,
    audience,
    tokenProxy: e.AZURE_KUBERNETES_TOKEN_PROXY ?? '',
    sniName: e.AZURE_KUBERNETES_SNI_NAME ?? '',
    caData: e.AZURE_KUBERNETES_CA_DATA ?? '',
    caSource,
  };
}

export function parseServeFlags(argv: readonly string[]): Record<string, string | undefined> {
  const options: Record<string, { type: 'string'; multiple?: boolean }> = { config: { type: 'string' } };
  for (const flag of Object.keys(SERVE_FLAGS)) options[flag] = { type: 'string', ...(flag === 'identities' ? { multiple: true } : {}) };
  try {
    const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
    // Repeatable flags arrive as lists; they are comma-joined like their env var.
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v])) as Record<string, string | undefined>;
  } catch (err) {
    // Bare boolean flags as upstream writes them (`--disable-cert-rotation`).
    const fixed = argv.map((a) => (a === '--disable-cert-rotation' ? '--disable-cert-rotation=true' : a));
    if (fixed.some((a, i) => a !== argv[i])) return parseServeFlags(fixed);
    throw new Error(`${describeParseArgsError(err as Error, argv)}; see "wi-admission serve --help"`, { cause: err });
  }
}

function readConfigFile(path: string | undefined): Record<string, string> {
  if (!path) return {};
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`--config ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`--config ${path}: expected a mapping of flag names to values`);
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(key in SERVE_FLAGS)) throw new Error(`--config ${path}: unknown setting "${key}" (use serve flag names without dashes)`);
    values[key] = String(value);
  }
  return values;
}

export function envName(flag: string): string {
  return `WI_ADMISSION_${flag.toUpperCase().replaceAll('-', '_')}`;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function describePath(path: readonly PropertyKey[]): string {
  if (path[0] === 'env') return String(path[1]);
  const flag = String(path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return `--${flag} (${envName(flag)})`;
}
