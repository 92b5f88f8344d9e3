import { readFileSync } from 'node:fs';
import { parseFlags, UsageError } from '../util/parse-flags.js';
import { OUTPUT_FLAGS, outputFormat } from './output-flag.js';
import { checkIdentitySpecs, clusterReads, loadInventory, noteUnknownCredentials, readObjectsFile, readPolicyFile, type CommandIo } from './inputs.js';
import { resolveAuthorityHost } from '../identity/cloud.js';
import { DEFAULT_AUDIENCE, DEFAULT_PROXY_IMAGE, DEFAULT_PROXY_INIT_IMAGE } from '../identity/constants.js';
import type { MutationSettings } from '../identity/mutate-pod.js';
import type { ObjectSet } from '../kube/objects-file.js';
import { parseKubernetesVersion, supportsNativeSidecar } from '../kube/server-version.js';
import type { PolicySpec } from '../policy/schema.js';
import { packageVersion } from '../version.js';
import { formatJson, formatSarif, formatText, count, type CheckOutputFormat } from '../check/format.js';
import { readManifests, type ManifestObject } from '../check/manifests.js';
import { runCheck } from '../check/run-check.js';
import { DEFAULT_ERRORS_DOC_URL } from '../check/rules.js';

export const CHECK_USAGE = `Usage: wi-admission check -f PATH... [flags]

Runs the validating webhook's checks (and with --show-mutation the mutation)
on manifests, offline. Exit code 1 when anything would be denied, 0 otherwise,
2 on bad usage or unreadable input. What it was not given is not judged: a
rule that needs the labels of a Namespace it was not given (no manifest, not
in --objects, no --kubeconfig) is a warning that says so, and identities
without federatedCredentials (az identity list) are not checked against them.

  -f, --filename PATH     file, directory (recursive: *.yaml, *.yml, *.json) or - for stdin; repeatable.
                          A PATH without any Kubernetes object is an error (exit 2)
      --allow-empty       let a PATH hold no Kubernetes objects
      --policy FILE       IdentityPolicy (without it only --show-mutation does anything); needs --identities
      --identities SRC    file:PATH (az identity list -o json) or arm:/subscriptions/<id>[/resourceGroups/<rg>]; repeatable
      --objects FILE      extra ServiceAccounts and Namespaces (YAML)
      --kubeconfig FILE   also read ServiceAccounts and Namespaces from this cluster
  -n, --namespace NAME    namespace of objects that name none (default "default")
      --show-mutation     print what the mutating webhook would change in each opted-in pod
      --tenant-id ID      tenant the webhook injects as AZURE_TENANT_ID (default: env AZURE_TENANT_ID)
  -o, --output FORMAT     text (default), json or sarif (--format is another name for it)
      --docs-url URL      where docs/errors.md is published, for the SARIF rules' help links
                          (default ${DEFAULT_ERRORS_DOC_URL})
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
  'allow-empty': { type: 'boolean' },
  'show-mutation': { type: 'boolean' },
  'tenant-id': { type: 'string' },
  'docs-url': { type: 'string' },
  ...OUTPUT_FLAGS,
  audience: { type: 'string' },
  'oidc-issuer': { type: 'string' },
  'kubernetes-version': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type CheckFlags = ReturnType<typeof parseFlags<typeof CHECK_OPTIONS>>;

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
  const fail = (err: unknown): number => {
    const hint = err instanceof UsageError ? '; see "wi-admission check --help"' : '';
    io.stderr(`wi-admission check: ${(err as Error).message}${hint}\n`);
    return 2;
  };
  let flags: CheckFlags;
  let inputs: CheckInputs;
  try {
    flags = parseFlags(argv, CHECK_OPTIONS);
    if (flags.help) {
      io.stdout(CHECK_USAGE);
      return 0;
    }
    inputs = readInputs(flags, io);
  } catch (err) {
    return fail(err);
  }
  const loaded = inputs.identitySpecs.length > 0 ? await loadInventory(inputs.identitySpecs, io.log) : undefined;
  if (loaded && !loaded.ok) return fail(new Error(loaded.error));
  writeNotes(inputs, io);
  noteUnknownCredentials('check', loaded, io);
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
    io.stdout(inputs.output === 'json' ? formatJson(result) : inputs.output === 'sarif' ? formatSarif(result, packageVersion(), flags['docs-url'] ?? DEFAULT_ERRORS_DOC_URL) : formatText(result));
    return count(result).errors > 0 ? 1 : 0;
  } finally {
    inputs.cluster?.client.close();
    await loaded?.stop();
  }
}

/** What the run will not tell, said once on stderr (stdout stays the report). */
function writeNotes(inputs: CheckInputs, io: CommandIo): void {
  if (!inputs.policy && !inputs.mutation) io.stderr('wi-admission check: no --policy: nothing is validated (add --show-mutation to preview the mutation)\n');
  if (inputs.mutation && inputs.mutation.defaultTenantId === '') {
    io.stderr('wi-admission check: no --tenant-id or AZURE_TENANT_ID: the mutation preview leaves out AZURE_TENANT_ID, which the webhook always injects\n');
  }
}

function readInputs(flags: CheckFlags, io: CommandIo): CheckInputs {
  const files = flags.filename ?? [];
  if (files.length === 0) throw new UsageError('no input: give -f PATH (a file, a directory, or - for stdin)');
  const output = outputFormat(flags) ?? 'text';
  if (output !== 'text' && output !== 'json' && output !== 'sarif') throw new UsageError(`output format "${output}": use text, json or sarif`);
  const identitySpecs = flags.identities ?? [];
  checkIdentitySpecs(flags.policy, identitySpecs);
  return {
    manifests: files.flatMap((path) => readPath(path, flags['allow-empty'] === true, io)),
    policy: flags.policy ? readPolicyFile(flags.policy) : undefined,
    objects: flags.objects ? readObjectsFile(flags.objects) : { serviceAccounts: [], namespaces: [] },
    mutation: flags['show-mutation']
      ? mutationSettings(io.env, flags['tenant-id'] ?? io.env.AZURE_TENANT_ID ?? '', flags.audience ?? DEFAULT_AUDIENCE, flags['kubernetes-version'] ?? 'v1.32.0')
      : undefined,
    identitySpecs,
    output,
    cluster: flags.kubeconfig ? clusterReads(flags.kubeconfig, io.env) : undefined,
  };
}

/** A path that yields no object is an error: in CI it means the manifests went missing, and "0 checked" would pass. */
function readPath(path: string, allowEmpty: boolean, io: CommandIo): ManifestObject[] {
  const manifests = readManifests([path], { cwd: io.cwd, readStdin: io.readStdin });
  if (manifests.length === 0 && !allowEmpty) {
    throw new Error(`no Kubernetes objects found in ${path === '-' ? 'stdin' : path} (give --allow-empty if that is expected)`);
  }
  return manifests;
}

/** The mutation as the server would run it, from the same upstream environment variables. */
function mutationSettings(env: Readonly<Record<string, string | undefined>>, tenantId: string, audience: string, kubernetesVersion: string): MutationSettings {
  const cloud = resolveAuthorityHost(env.AZURE_ENVIRONMENT ?? '', () => readFileSync(env.AZURE_ENVIRONMENT_FILEPATH ?? '', 'utf8'));
  if (!cloud.ok) throw new Error(`AZURE_ENVIRONMENT: ${cloud.error}`);
  const version = parseKubernetesVersion(kubernetesVersion);
  if (!version) throw new Error(`--kubernetes-version ${kubernetesVersion}: not a version such as v1.32.0`);
  return {
    audience,
    authorityHost: cloud.authorityHost,
    defaultTenantId: tenantId,
    customTokenEndpoint: undefined,
    proxy: { image: env.PROXY_IMAGE || DEFAULT_PROXY_IMAGE, initImage: env.PROXY_INIT_IMAGE || DEFAULT_PROXY_INIT_IMAGE, logLevel: 'info', nativeSidecar: supportsNativeSidecar(version) },
  };
}


