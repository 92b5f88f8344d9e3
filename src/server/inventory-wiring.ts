import type { Logger } from 'pino';
import type { IdentityDirectory } from '../admission/handle-validation.js';
import { IdentityInventory, type IndexSummary } from '../azure/inventory.js';
import { UNKNOWN_CREDENTIALS_ADVICE } from '../azure/identity-index.js';
import { createIdentitySources } from '../azure/sources.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';

export interface OpenInventory {
  readonly directory: IdentityDirectory;
  hasLoaded(): boolean;
  /** Calls `listener` after every successful listing (the audit re-evaluates); returns the unsubscribe. */
  onListed(listener: () => void): () => void;
  stop(): Promise<void>;
}

/** The identity inventory from `--identities`, started; undefined when none is configured. */
export async function openInventory(config: Config, log: Logger, metrics: Metrics): Promise<OpenInventory | undefined> {
  if (config.identitySources.length === 0) {
    if (config.policyPath !== '') log.warn('no --identities: every client ID is reported as unavailable');
    return undefined;
  }
  const inventoryLog = log.child({ component: 'inventory' });
  const listeners = new Set<() => void>();
  let credentialsNoted = false;
  const onListed = (summary: IndexSummary): void => {
    if (!credentialsNoted && summary.unknownCredentials.length > 0) {
      credentialsNoted = true;
      noteUnknownCredentials(inventoryLog, summary);
    }
    for (const listener of listeners) listener();
  };
  const sources = await createIdentitySources(config.identitySources, {
    log: inventoryLog,
    armEndpoint: config.armEndpoint,
    onArmRequest: (operation, result, seconds) => metrics.armRequestDuration.observe({ operation, result }, seconds),
  });
  const inventory = new IdentityInventory({
    sources,
    log: inventoryLog,
    refreshIntervalMs: config.identityRefreshMs,
    maxStalenessMs: config.identityMaxStalenessMs,
    hooks: {
      onRefresh: (trigger, result) => metrics.inventoryRefreshes.inc({ trigger, result }),
      onLookup: (result) => metrics.inventoryLookups.inc({ result }),
      onSize: (size) => metrics.inventorySize.set(size),
      onListed,
    },
  });
  inventory.start();
  metrics.inventoryMaxStaleness.set(config.identityMaxStalenessMs / 1000);
  metrics.inventoryAgeSource.seconds = () => {
    const age = inventory.ageMs();
    return age === undefined ? undefined : age / 1000;
  };

  return {
    directory: inventory,
    hasLoaded: () => inventory.hasLoaded(),
    onListed: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: () => inventory.stop(),
  };
}

/**
 * Once per process: identities whose federated credentials the identities
 * file does not give are not checked against them (unknown is not "trusts
 * nothing"); say so, and how to give them.
 */
function noteUnknownCredentials(log: Logger, summary: IndexSummary): void {
  for (const { source, count, examples } of summary.unknownCredentials) {
    log.warn(
      { source, identities: count, examples },
      `federated credentials unknown: the identities file gives no federatedCredentials for these identities, so the federated credential check is skipped for them; ${UNKNOWN_CREDENTIALS_ADVICE}`,
    );
  }
}
