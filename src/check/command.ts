import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { IdentityInventory } from '../azure/inventory.js';
import { createIdentitySources, parseIdentitySourceSpec } from '../azure/sources.js';
import { resolveAuthorityHost } from '../identity/cloud.js';
import { DEFAULT_AUDIENCE, DEFAULT_PROXY_IMAGE, DEFAULT_PROXY_INIT_IMAGE } from '../identity/constants.js';
import type { MutationSettings } from '../identity/mutate-pod.js';
import { createKubeConfig, readOrUndefined } from '../kube/client.js';
import { toNamespaceRecord } from '../kube/namespace-lookup.js';
import { parseObjects, type ObjectSet } from '../kube/objects-file.js';
import { toServiceAccountRecord } from '../kube/service-account-cache.js';
import { parseKubernetesVersion, supportsNativeSidecar } from '../kube/server-version.js';
import { parsePolicy, type PolicySpec } from '../policy/schema.js';
import { packageVersion } from '../version.js';
import { formatJson, formatSarif, formatText, count, type CheckOutputFormat } from './format.js';
import { ManifestError, readManifests } from './manifests.js';
import { runCheck, type CheckOptions } from './run-check.js';

export const CHECK_USAGE = `Usage: wi-admission check -f PATH... [flags]

Runs the validating webhook's checks (and with --show-mutation the mutation)
on manifests, offline. Exit code 1 when anything would be denied, 0 otherwise,
2 on bad usage or unreadable input.

  -f, --filename PATH     file, directory (recursive: *.yaml, *.yml, *.json) or - for stdin; repeatable
      --policy FILE       IdentityPolicy (without it only --show-mutation does anything)
      --identities SRC    file:PATH or arm:/subscriptions/<id>[/resourceGroups/<rg>]; repeatable
      --objects FILE      extra ServiceAccounts and Namespaces (YAML)
      --kubeconfig FILE   also read ServiceAccounts and Namespaces from this cluster
  -n, --namespace NAME    namespace of objects that name none (default "default")
      --show-mutation     print what the mutating webhook would change in each opted-in pod
  -o, --output FORMAT     text (default), json or sarif
      --audience AUD      token audience (default api://AzureADTokenExchange)
      --oidc-issuer URL   the cluster's OIDC issuer, for the federated credential check
      --kubernetes-version V  for the proxy sidecar placement in --show-mutation (default v1.32.0)

Examples:
  helm template charts/shop | wi-admission check -f - --policy policy.yaml --identities file:identities.json
  wi-admission check -f deploy/ --policy policy.yaml --identities arm:/subscriptions/<id> -o sarif > wi.sarif
  wi-admission check -f k8s/ --show-mutation --objects serviceaccounts.yaml
`;

export interface CheckIo {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => string;
  readonly log: Logger;
}

/** `wi-admission check`: returns the exit code. */
export async function runCheckCommand(argv: readonly string[], io: CheckIo): Promise<number> {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        policy: { type: 'string' },
        identities: { type: 'string', multiple: true },
        objects: { type: 'string' },
        kubeconfig: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        'show-mutation': { type: 'boolean' },
        output: { type: 'string', short: 'o' },
        audience: { type: 'string' },
        'oidc-issuer': { type: 'string' },
        'kubernetes-version': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    io.stderr(`wi-admission check: ${(err as Error).message}\n\n${CHECK_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(CHECK_USAGE);
    return 0;
  }
  const usage = (message: string): number => {
    io.stderr(`wi-admission check: ${message}\n`);
    return 2;
  };
  const files = (values.filename as string[] | undefined) ?? [];
  if (files.length === 0) return usage('no input: give -f PATH (a file, a directory, or - for stdin)');
  const output = (values.output as string | undefined) ?? 'text';
  if (output !== 'text' && output !== 'json' && output !== 'sarif') return usage(`--output ${output}: use text, json or sarif`);

  let manifests;
  let policy: PolicySpec | undefined;
  let objects: ObjectSet = { serviceAccounts: [], namespaces: [] };
  let mutation: MutationSettings | undefined;
  const identitySpecs = (values.identities as string[] | undefined) ?? [];
  try {
    manifests = readManifests(files, { cwd: io.cwd, readStdin: io.readStdin });
    if (values.policy) policy = readPolicy(values.policy as string);
    if (values.objects) objects = parseObjects(readFileSync(values.objects as string, 'utf8'), values.objects as string);
    identitySpecs.forEach((spec) => parseIdentitySourceSpec(spec));
    if (values['show-mutation']) mutation = mutationSettings(io.env, (values.audience as string | undefined) ?? DEFAULT_AUDIENCE, (values['kubernetes-version'] as string | undefined) ?? 'v1.32.0');
  } catch (err) {
    return usage(err instanceof ManifestError ? err.message : (err as Error).message);
  }
  if (!policy && !mutation) io.stderr('wi-admission check: no --policy: nothing is validated (add --show-mutation to preview the mutation)\n');

  let refreshFailed = false;
  const inventory =
    identitySpecs.length > 0
      ? new IdentityInventory({
          sources: createIdentitySources(identitySpecs, { log: io.log }),
          log: io.log,
          hooks: { onRefresh: (_trigger, result) => void (refreshFailed ||= result !== 'success') },
        })
      : undefined;
  try {
    if (inventory) {
      inventory.start();
      if (!(await waitForInventory(inventory, () => refreshFailed, 120_000))) return usage(`cannot load the identities (${identitySpecs.join(', ')}); see the log above`);
    }
    const options: CheckOptions = {
      policy,
      directory: inventory,
      serviceAccounts: objects.serviceAccounts,
      namespaces: objects.namespaces,
      ...(values.kubeconfig ? { cluster: clusterLookups(values.kubeconfig as string) } : {}),
      audience: (values.audience as string | undefined) ?? DEFAULT_AUDIENCE,
      oidcIssuer: values['oidc-issuer'] as string | undefined,
      defaultNamespace: (values.namespace as string | undefined) ?? 'default',
      ...(mutation ? { mutation } : {}),
    };
    const result = await runCheck(manifests, options);
    const format = output as CheckOutputFormat;
    io.stdout(format === 'json' ? formatJson(result) : format === 'sarif' ? formatSarif(result, packageVersion()) : formatText(result));
    return count(result).errors > 0 ? 1 : 0;
  } finally {
    await inventory?.stop();
  }
}

function readPolicy(path: string): PolicySpec {
  const parsed = parsePolicy(readFileSync(path, 'utf8'), path);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.policy.spec;
}

/** The mutation as the server would run it, from the same upstream environment variables. */
function mutationSettings(env: Readonly<Record<string, string | undefined>>, audience: string, kubernetesVersion: string): MutationSettings {
  const cloud = resolveAuthorityHost(env.AZURE_ENVIRONMENT ?? '', () => readFileSync(env.AZURE_ENVIRONMENT_FILEPATH ?? '', 'utf8'));
  if (!cloud.ok) throw new Error(`AZURE_ENVIRONMENT: ${cloud.error}`);
  const version = parseKubernetesVersion(kubernetesVersion);
  if (!version) throw new Error(`--kubernetes-version ${kubernetesVersion}: not a version such as v1.32.0`);
  return {
    audience,
    authorityHost: cloud.authorityHost,
    defaultTenantId: env.AZURE_TENANT_ID ?? '',
    customTokenEndpoint: undefined,
    proxy: { image: env.PROXY_IMAGE || DEFAULT_PROXY_IMAGE, initImage: env.PROXY_INIT_IMAGE || DEFAULT_PROXY_INIT_IMAGE, logLevel: 'info', nativeSidecar: supportsNativeSidecar(version) },
  };
}

/** Live reads (no informers: a check reads a handful of objects once). */
function clusterLookups(kubeconfig: string): NonNullable<CheckOptions['cluster']> {
  const core = createKubeConfig(kubeconfig).makeApiClient(CoreV1Api);
  return {
    serviceAccounts: {
      getCached: () => undefined,
      getLive: (namespace, name, signal) => readOrUndefined(core.readNamespacedServiceAccount({ namespace, name }), signal, toServiceAccountRecord),
      hasSynced: () => true,
      size: () => 0,
    },
    namespaces: {
      getCached: () => undefined,
      getLive: (name, signal) => readOrUndefined(core.readNamespace({ name }), signal, toNamespaceRecord),
      hasSynced: () => true,
      size: () => 0,
    },
  };
}

/** Until the first load, the first failed refresh (a check does not retry), or the deadline. */
async function waitForInventory(inventory: IdentityInventory, failed: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!inventory.hasLoaded() && !failed() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return inventory.hasLoaded();
}
