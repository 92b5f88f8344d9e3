import { collectObjects, readManifests } from '../check/manifests.js';
import { DEFAULT_AUDIENCE, DEFAULT_SERVICE_ACCOUNT } from '../identity/constants.js';
import type { NamespaceRecord } from '../identity/managed-identity.js';
import type { ServiceAccountRecord } from '../identity/service-account.js';
import { listAll } from '../kube/client.js';
import { toNamespaceRecord } from '../kube/namespace-lookup.js';
import { KUBE_PATHS } from '../kube/paths.js';
import type { KubeRestClient } from '../kube/rest-client.js';
import { toServiceAccountRecord } from '../kube/service-account-cache.js';
import { serviceAccountKey } from '../kube/service-account-lookup.js';
import { formatInventory, INVENTORY_FORMATS, type InventoryFormat } from '../report/format.js';
import { buildInventoryRows } from '../report/inventory-rows.js';
import type { PolicySpec } from '../policy/schema.js';
import { parseFlags, UsageError } from '../util/parse-flags.js';
import { OUTPUT_FLAGS, outputFormat } from './output-flag.js';
import { checkIdentitySpecs, clusterReads, loadInventory, noteUnknownCredentials, readObjectsFile, readPolicyFile, type CommandIo } from './inputs.js';

export const INVENTORY_USAGE = `Usage: wi-admission inventory [--kubeconfig FILE | --objects FILE | -f PATH...] [flags]

One row per ServiceAccount that carries azure.workload.identity/client-id:
namespace, ServiceAccount, client ID, identity and resource group, owner and
environment tags, whether the policy approves it (or why not), and, from a
cluster, how many pods use it.

      --kubeconfig FILE   read ServiceAccounts, Namespaces and Pods from this cluster
      --objects FILE      ServiceAccounts and Namespaces from a YAML file
  -f, --filename PATH     ServiceAccounts and Namespaces from manifests (files, directories, -); repeatable
      --policy FILE       IdentityPolicy; without it rows are "unchecked"; needs --identities
      --identities SRC    file:PATH (az identity list -o json) or arm:/subscriptions/<id>[/resourceGroups/<rg>]; repeatable
  -o, --output FORMAT     table (default), json, csv or markdown (--format is another name for it)
      --audience AUD      token audience for the federated credential check (default api://AzureADTokenExchange)
      --oidc-issuer URL   the cluster's OIDC issuer, for the federated credential check

Examples:
  wi-admission inventory --kubeconfig ~/.kube/config --policy policy.yaml --identities arm:/subscriptions/<id>
  wi-admission inventory --objects objects.yaml --identities file:identities.json -o markdown
`;

const OPTIONS = {
  kubeconfig: { type: 'string' },
  objects: { type: 'string' },
  filename: { type: 'string', short: 'f', multiple: true },
  policy: { type: 'string' },
  identities: { type: 'string', multiple: true },
  ...OUTPUT_FLAGS,
  audience: { type: 'string' },
  'oidc-issuer': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Population {
  readonly serviceAccounts: ServiceAccountRecord[];
  readonly namespaces: Map<string, NamespaceRecord>;
  /** Listed from a cluster (every Namespace), not read from files (only those given). */
  readonly namespacesComplete: boolean;
  readonly podCounts?: Map<string, number>;
}

type InventoryFlags = ReturnType<typeof parseFlags<typeof OPTIONS>>;

/** Everything read before the inventory loads; a thrown error is bad usage or input (exit 2). */
interface InventoryInputs {
  readonly format: InventoryFormat;
  readonly population: Population;
  readonly policy: PolicySpec | undefined;
  readonly identitySpecs: readonly string[];
}

/** `wi-admission inventory`: returns the exit code (0, or 2 on bad usage or unreadable input). */
export async function runInventoryCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const fail = (err: unknown): number => {
    const hint = err instanceof UsageError ? '; see "wi-admission inventory --help"' : '';
    io.stderr(`wi-admission inventory: ${(err as Error).message}${hint}\n`);
    return 2;
  };
  let flags: InventoryFlags;
  let inputs: InventoryInputs;
  try {
    flags = parseFlags(argv, OPTIONS);
    if (flags.help) {
      io.stdout(INVENTORY_USAGE);
      return 0;
    }
    inputs = await readInputs(flags, io);
  } catch (err) {
    return fail(err);
  }
  const loaded = inputs.identitySpecs.length > 0 ? await loadInventory(inputs.identitySpecs, io.log) : undefined;
  if (loaded && !loaded.ok) return fail(new Error(loaded.error));
  noteUnknownCredentials('inventory', loaded, io);
  try {
    const { population } = inputs;
    const rows = await buildInventoryRows({
      serviceAccounts: population.serviceAccounts,
      namespaces: population.namespaces,
      namespacesComplete: population.namespacesComplete,
      directory: loaded?.inventory,
      policy: inputs.policy,
      audience: flags.audience ?? DEFAULT_AUDIENCE,
      oidcIssuer: flags['oidc-issuer'],
      ...(population.podCounts ? { podCounts: population.podCounts } : {}),
    });
    io.stdout(formatInventory(rows, inputs.format));
    return 0;
  } finally {
    await loaded?.stop();
  }
}

async function readInputs(flags: InventoryFlags, io: CommandIo): Promise<InventoryInputs> {
  const format = (outputFormat(flags) ?? 'table') as InventoryFormat;
  if (!INVENTORY_FORMATS.includes(format)) throw new UsageError(`output format "${format}": use ${INVENTORY_FORMATS.join(', ')}`);
  if (!flags.kubeconfig && !flags.objects && !flags.filename) throw new UsageError('no ServiceAccounts: give --kubeconfig, --objects or -f');
  const identitySpecs = flags.identities ?? [];
  checkIdentitySpecs(flags.policy, identitySpecs);
  const policy = flags.policy ? readPolicyFile(flags.policy) : undefined;
  const population = flags.kubeconfig ? await readCluster(clusterReads(flags.kubeconfig, io.env).client) : readFiles(flags.objects, flags.filename ?? [], io);
  return { format, population, policy, identitySpecs };
}

function readFiles(objectsPath: string | undefined, manifests: readonly string[], io: CommandIo): Population {
  const serviceAccounts = new Map<string, ServiceAccountRecord>();
  const namespaces = new Map<string, NamespaceRecord>();
  if (objectsPath) {
    const objects = readObjectsFile(objectsPath);
    for (const sa of objects.serviceAccounts) serviceAccounts.set(serviceAccountKey(sa.namespace, sa.name), sa);
    for (const ns of objects.namespaces) namespaces.set(ns.name, ns);
  }
  const fromManifests = collectObjects(readManifests(manifests, { cwd: io.cwd, readStdin: io.readStdin }), 'default');
  for (const sa of fromManifests.serviceAccounts) serviceAccounts.set(serviceAccountKey(sa.namespace, sa.name), sa);
  for (const ns of fromManifests.namespaces) namespaces.set(ns.name, ns);
  return { serviceAccounts: [...serviceAccounts.values()], namespaces, namespacesComplete: false };
}

/** Paged lists of ServiceAccounts, Namespaces and Pods (pods only to count them per ServiceAccount). */
async function readCluster(client: KubeRestClient): Promise<Population> {
  const serviceAccounts: ServiceAccountRecord[] = [];
  const namespaces = new Map<string, NamespaceRecord>();
  const podCounts = new Map<string, number>();
  try {
    await listAll(client, KUBE_PATHS.serviceAccounts, (item) => {
      const sa = toServiceAccountRecord(item);
      if (sa) serviceAccounts.push(sa);
    });
    await listAll(client, KUBE_PATHS.namespaces, (item) => {
      const ns = toNamespaceRecord(item);
      if (ns) namespaces.set(ns.name, ns);
    });
    await listAll(client, KUBE_PATHS.pods, (item) => {
      const pod = item as { metadata?: { namespace?: string }; spec?: { serviceAccountName?: string } };
      const key = serviceAccountKey(pod.metadata?.namespace ?? '', pod.spec?.serviceAccountName || DEFAULT_SERVICE_ACCOUNT);
      podCounts.set(key, (podCounts.get(key) ?? 0) + 1);
    });
  } finally {
    client.close();
  }
  return { serviceAccounts, namespaces, namespacesComplete: true, podCounts };
}
