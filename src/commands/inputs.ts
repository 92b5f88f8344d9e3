import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { IdentityInventory } from '../azure/inventory.js';
import { createIdentitySources } from '../azure/sources.js';
import { createKubeClient } from '../kube/client.js';
import { toNamespaceRecord, type NamespaceLookup } from '../kube/namespace-lookup.js';
import { KUBE_PATHS } from '../kube/paths.js';
import type { KubeRestClient } from '../kube/rest-client.js';
import { toServiceAccountRecord } from '../kube/service-account-cache.js';
import type { ServiceAccountLookup } from '../kube/service-account-lookup.js';
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
  const parsed = parsePolicy(readFileSync(path, 'utf8'), path);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.policy.spec;
}

export interface LoadedInventory {
  readonly inventory: IdentityInventory;
  stop(): Promise<void>;
}

/**
 * Loads the identities once (no retries: a command reports the failure and
 * exits 2). Resolves undefined when the first refresh fails; the log says why.
 */
export async function loadInventory(specs: readonly string[], log: Logger, timeoutMs = 120_000): Promise<LoadedInventory | undefined> {
  let failed = false;
  const inventory = new IdentityInventory({
    sources: await createIdentitySources(specs, { log }),
    log,
    hooks: { onRefresh: (_trigger, result) => void (failed ||= result !== 'success') },
  });
  inventory.start();
  const deadline = Date.now() + timeoutMs;
  while (!inventory.hasLoaded() && !failed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (inventory.hasLoaded()) return { inventory, stop: () => inventory.stop() };
  await inventory.stop();
  return undefined;
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
