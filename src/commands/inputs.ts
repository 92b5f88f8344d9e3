import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { IdentityInventory, type UnknownCredentials } from '../azure/inventory.js';
import { describeUnknownCredentials } from '../azure/identity-index.js';
import { describeArmError } from '../azure/errors.js';
import type { IdentitySource } from '../azure/identity-source.js';
import { createIdentitySources, parseIdentitySourceSpec } from '../azure/sources.js';
import { isAppError } from '../errors.js';
import { createKubeClient } from '../kube/client.js';
import { toNamespaceRecord, type NamespaceLookup } from '../kube/namespace-lookup.js';
import { KUBE_PATHS } from '../kube/paths.js';
import type { KubeRestClient } from '../kube/rest-client.js';
import { toServiceAccountRecord } from '../kube/service-account-cache.js';
import type { ServiceAccountLookup } from '../kube/service-account-lookup.js';
import { parseObjects, type ObjectSet } from '../kube/objects-file.js';
import { describeFsError } from '../util/fs-error.js';
import { UsageError } from '../util/parse-flags.js';
import { parsePolicy, type PolicySpec } from '../policy/schema.js';

/**
 * Inputs shared by the offline commands (`check`, `inventory`): the policy
 * file, the identity inventory loaded once, and live reads of a cluster.
 */
/** How an offline command talks to the world (injected, so tests run it in-process). */
export interface CommandIo {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => string;
  readonly log: Logger;
}

export function readPolicyFile(path: string): PolicySpec {
  const parsed = parsePolicy(readText(path, '--policy'), path);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.policy.spec;
}

export function readObjectsFile(path: string): ObjectSet {
  return parseObjects(readText(path, '--objects'), path);
}

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${flag} ${path}: cannot read: ${describeFsError(err)}`, { cause: err });
  }
}

/**
 * The `--identities` values are well-formed, and given when there is a
 * policy: without them every client ID would be "unavailable", a usage
 * mistake rather than a finding.
 */
export function checkIdentitySpecs(policyPath: string | undefined, specs: readonly string[]): void {
  if (policyPath && specs.length === 0) {
    throw new UsageError('--policy needs --identities: file:PATH (az identity list -o json > identities.json) or arm:/subscriptions/<id>');
  }
  specs.forEach((spec) => parseIdentitySourceSpec(spec));
}

export interface LoadedInventory {
  readonly inventory: IdentityInventory;
  /** Identities whose federated credentials their source did not give, by source (said once on stderr: `noteUnknownCredentials`). */
  readonly unknownCredentials: readonly UnknownCredentials[];
  stop(): Promise<void>;
}

export type InventoryLoad = ({ readonly ok: true } & LoadedInventory) | { readonly ok: false; readonly error: string };

/**
 * Says once, on stderr, which identities have unknown federated credentials
 * (an `az identity list` file has none): they are not checked against them,
 * which is not the same as trusting nothing.
 */
export function noteUnknownCredentials(command: string, loaded: LoadedInventory | undefined, io: CommandIo): void {
  for (const unknown of loaded?.unknownCredentials ?? []) io.stderr(`wi-admission ${command}: ${describeUnknownCredentials(unknown)}\n`);
}

/**
 * Loads the identities once (no retries, no file watch): a command reports a
 * failure in one line and exits 2. The inventory's own warning about the
 * failed listing (a JSON log line with a stack) is not for a terminal, so it
 * logs errors only here; the failure comes back as `error`.
 */
export async function loadInventory(specs: readonly string[], log: Logger, timeoutMs = 120_000): Promise<InventoryLoad> {
  const failures: string[] = [];
  const sources = (await createIdentitySources(specs, { log })).map((source) => listingOnce(source, failures));
  let failed = false;
  let unknownCredentials: readonly UnknownCredentials[] = [];
  const inventory = new IdentityInventory({
    sources,
    log: log.child({}, { level: 'error' }),
    hooks: {
      onRefresh: (_trigger, result) => void (failed ||= result !== 'success'),
      onListed: (summary) => void (unknownCredentials = summary.unknownCredentials),
    },
  });
  inventory.start();
  const deadline = Date.now() + timeoutMs;
  while (!inventory.hasLoaded() && !failed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (inventory.hasLoaded()) return { ok: true, inventory, unknownCredentials, stop: () => inventory.stop() };
  await inventory.stop();
  return { ok: false, error: failures.length > 0 ? failures.join('; ') : `no answer from ${specs.join(', ')} within ${timeoutMs / 1000} s` };
}

/**
 * The source as a one-shot command needs it: listing failures are recorded
 * in `failures` as one line each, and there is no `watch` (nothing to reload).
 */
function listingOnce(source: IdentitySource, failures: string[]): IdentitySource {
  return {
    description: source.description,
    listIdentities: (signal) =>
      source.listIdentities(signal).catch((err: unknown) => {
        // File errors already start with the path; ARM errors need the scope.
        failures.push(isAppError(err, 'WIA_ERR_IDENTITIES_FILE_INVALID') ? err.message : `${source.description}: ${describeArmError(err)}`);
        throw err;
      }),
    listFederatedCredentials: (identity, signal) => source.listFederatedCredentials(identity, signal),
  };
}

/** Single live reads of a cluster (no informers: a command reads a handful of objects once). */
export function clusterReads(kubeconfig: string, env: CommandIo['env']): { serviceAccounts: ServiceAccountLookup; namespaces: NamespaceLookup; client: KubeRestClient } {
  const client = createKubeClient(kubeconfig, env);
  return {
    client,
    serviceAccounts: {
      getCached: () => undefined,
      getLive: async (namespace, name, signal) => {
        const object = await client.getOrUndefined(KUBE_PATHS.serviceAccount(namespace, name), signal);
        return object === undefined ? undefined : toServiceAccountRecord(object);
      },
      hasSynced: () => true,
      size: () => 0,
    },
    namespaces: {
      getCached: () => undefined,
      getLive: async (name, signal) => {
        const object = await client.getOrUndefined(KUBE_PATHS.namespace(name), signal);
        return object === undefined ? undefined : toNamespaceRecord(object);
      },
      hasSynced: () => true,
      size: () => 0,
    },
  };
}
