import type { Logger } from 'pino';
import type { IdentityDirectory } from '../admission/handle-validation.js';
import { IdentityInventory } from '../azure/inventory.js';
import { createIdentitySources } from '../azure/sources.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';

export interface OpenInventory {
  readonly directory: IdentityDirectory;
  hasLoaded(): boolean;
  stop(): Promise<void>;
}

/** The identity inventory from `--identities`, started; undefined when none is configured. */
export async function openInventory(config: Config, log: Logger, metrics: Metrics): Promise<OpenInventory | undefined> {
  if (config.identitySources.length === 0) {
    if (config.policyPath !== '') log.warn('no --identities: every client ID is reported as unavailable');
    return undefined;
  }
  const inventoryLog = log.child({ component: 'inventory' });
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
    stop: () => inventory.stop(),
  };
}
