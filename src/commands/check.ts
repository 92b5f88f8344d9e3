import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseIdentitySourceSpec } from '../azure/sources.js';
import { clusterReads, loadInventory, readPolicyFile, type CommandIo } from './inputs.js';
import { resolveAuthorityHost } from '../identity/cloud.js';
import { DEFAULT_AUDIENCE, DEFAULT_PROXY_IMAGE, DEFAULT_PROXY_INIT_IMAGE } from '../identity/constants.js';
import type { MutationSettings } from '../identity/mutate-pod.js';
import { parseObjects, type ObjectSet } from '../kube/objects-file.js';
import { parseKubernetesVersion, supportsNativeSidecar } from '../kube/server-version.js';
import type { PolicySpec } from '../policy/schema.js';
import { packageVersion } from '../version.js';
import { formatJson, formatSarif, formatText, count, type CheckOutputFormat } from '../check/format.js';
import { readManifests, type ManifestObject } from '../check/manifests.js';
import { runCheck } from '../check/run-check.js';

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


const CHECK_OPTIONS = {
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
} as const;

type CheckFlags = ReturnType<typeof parseArgs<{ options: typeof CHECK_OPTIONS }>>['values'];

/** Everything read before any check runs; a thrown error is bad usage or input (exit 2). */
interface CheckInputs {
  readonly manifests: ManifestObject[];
  readonly policy: PolicySpec | undefined;
  readonly objects: ObjectSet;
  readonly mutation: MutationSettings | undefined;
  readonly identitySpecs: readonly string[];
  readonly output: CheckOutputFormat;
  /** Live reads from `--kubeconfig`. */
  readonly cluster: ReturnType<typeof clusterReads> | undefined;
}

/** `wi-admission check`: returns the exit code. */
export async function runCheckCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const usage = (message: string): number => {
    io.stderr(`wi-admission check: ${message}\n`);
    return 2;
  };
  let flags: CheckFlags;
  try {
    flags = parseArgs({ args: [...argv], options: CHECK_OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    return usage(`${(err as Error).message}\n\n${CHECK_USAGE}`);
  }
  if (flags.help) {
    io.stdout(CHECK_USAGE);
    return 0;
  }
  let inputs: CheckInputs;
  try {
    inputs = readInputs(flags, io);
  } catch (err) {
    return usage((err as Error).message);
  }
  if (!inputs.policy && !inputs.mutation) io.stderr('wi-admission check: no --policy: nothing is validated (add --show-mutation to preview the mutation)\n');

  const loaded = inputs.identitySpecs.length > 0 ? await loadInventory(inputs.identitySpecs, io.log) : undefined;
  if (inputs.identitySpecs.length > 0 && !loaded) return usage(`cannot load the identities (${inputs.identitySpecs.join(', ')}); see the log above`);
  try {
    const result = await runCheck(inputs.manifests, {
      policy: inputs.policy,
      directory: loaded?.inventory,
      serviceAccounts: inputs.objects.serviceAccounts,
      namespaces: inputs.objects.namespaces,
      ...(inputs.cluster ? { cluster: inputs.cluster } : {}),
      audience: flags.audience ?? DEFAULT_AUDIENCE,
      oidcIssuer: flags['oidc-issuer'],
      defaultNamespace: flags.namespace ?? 'default',
      ...(inputs.mutation ? { mutation: inputs.mutation } : {}),
    });
    io.stdout(inputs.output === 'json' ? formatJson(result) : inputs.output === 'sarif' ? formatSarif(result, packageVersion()) : formatText(result));
    return count(result).errors > 0 ? 1 : 0;
  } finally {
    inputs.cluster?.client.close();
    await loaded?.stop();
  }
}

function readInputs(flags: CheckFlags, io: CommandIo): CheckInputs {
  const files = flags.filename ?? [];
  if (files.length === 0) throw new Error('no input: give -f PATH (a file, a directory, or - for stdin)');
  const output = flags.output ?? 'text';
  if (output !== 'text' && output !== 'json' && output !== 'sarif') throw new Error(`--output ${output}: use text, json or sarif`);
  const identitySpecs = flags.identities ?? [];
  identitySpecs.forEach((spec) => parseIdentitySourceSpec(spec));
  return {
    manifests: readManifests(files, { cwd: io.cwd, readStdin: io.readStdin }),
    policy: flags.policy ? readPolicyFile(flags.policy) : undefined,
    objects: flags.objects ? parseObjects(readFileSync(flags.objects, 'utf8'), flags.objects) : { serviceAccounts: [], namespaces: [] },
    mutation: flags['show-mutation'] ? mutationSettings(io.env, flags.audience ?? DEFAULT_AUDIENCE, flags['kubernetes-version'] ?? 'v1.32.0') : undefined,
    identitySpecs,
    output,
    cluster: flags.kubeconfig ? clusterReads(flags.kubeconfig, io.env) : undefined,
  };
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


