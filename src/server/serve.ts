import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { MutationSettings } from '../identity/mutate-pod.js';
import { abortableDelay } from '../kube/informer.js';
import { createKubeClient, createListWatchSource, fetchServerGitVersion } from '../kube/client.js';
import { KUBE_PATHS } from '../kube/paths.js';
import type { KubeRestClient } from '../kube/rest-client.js';
import { ObjectsFileLookup } from '../kube/objects-file.js';
import { ServiceAccountCache } from '../kube/service-account-cache.js';
import type { ServiceAccountLookup } from '../kube/service-account-lookup.js';
import { NamespaceCache, type NamespaceLookup } from '../kube/namespace-lookup.js';
import { parseKubernetesVersion, supportsNativeSidecar } from '../kube/server-version.js';
import { createMetrics, type Metrics } from '../metrics.js';
import { buildAdmissionApp } from './app.js';
import { buildProbesApp, type ReadinessChecks } from './probes.js';
import { KeyPairWatcher } from './tls.js';
import { tlsSettings } from './transport.js';
import { SelfManagedCertificates } from '../certs/self-managed.js';
import { createCertificateStore } from '../kube/certificate-store.js';
import { PolicyFile } from '../policy/policy-file.js';
import { openInventory } from './inventory-wiring.js';

export interface RunningServer {
  readonly webhookPort: number;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly metrics: Metrics;
  readiness(): ReadinessChecks;
  /** Readiness goes false, then after the shutdown delay the listeners close once in-flight requests finish. */
  shutdown(): Promise<void>;
}

interface KubeSources {
  readonly serviceAccounts: ServiceAccountLookup;
  readonly namespaces: NamespaceLookup;
  readonly stop: () => Promise<void>;
  /** Undefined with --objects (no API server). */
  readonly gitVersion: (() => Promise<string>) | undefined;
  readonly kubeClient?: KubeRestClient;
}

/**
 * Wires and starts everything `serve` runs: ServiceAccount source, API server
 * version, certificate watcher, the HTTPS admission listener and the plain
 * HTTP probe and metrics listeners. Nothing here decides an admission.
 */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const metrics = createMetrics();
  const source = openKubeSources(config, log, metrics);
  let shuttingDown = false;
  const stopController = new AbortController();

  // Built once, and again only when the API server version is learned: not per admission.
  const buildSettings = (nativeSidecar: boolean | undefined): MutationSettings => ({
    audience: config.audience,
    authorityHost: config.authorityHost,
    defaultTenantId: config.defaultTenantId,
    customTokenEndpoint: config.customTokenEndpoint,
    proxy: { image: config.proxyImage, initImage: config.proxyInitImage, logLevel: config.logLevel, nativeSidecar },
  });
  let currentSettings = buildSettings(undefined);
  const learnVersion = (gitVersion: string): void => {
    const version = parseKubernetesVersion(gitVersion);
    if (!version) {
      throw new AppError('WIA_ERR_KUBE_VERSION_INVALID', `Kubernetes version "${gitVersion}" is not a semantic version such as v1.32.0`);
    }
    currentSettings = buildSettings(supportsNativeSidecar(version));
    log.info({ kubernetesVersion: gitVersion, nativeSidecar: currentSettings.proxy.nativeSidecar }, 'proxy sidecar placement decided');
  };
  const settings = (): MutationSettings => currentSettings;

  if (config.kubernetesVersion !== undefined) learnVersion(config.kubernetesVersion);
  else if (source.gitVersion) void discoverVersion(source.gitVersion, learnVersion, log, stopController.signal);

  const policy = await openPolicy(config, log, metrics);
  const inventory = await openInventory(config, log, metrics);

  const selfManaged = openSelfManagedCertificates(config, source, log);

  const minVersion = config.tlsMinVersion;
  // The listener exists only after the first pair is read; new pairs go to it.
  const listener: { server?: Server } = {};
  const certs = new KeyPairWatcher({
    dir: config.webhookCertDir,
    log: log.child({ component: 'tls' }),
    onKeyPair: (pair) => {
      metrics.certificateExpiry.set(pair.notAfter.getTime() / 1000);
      listener.server?.setSecureContext({ cert: pair.cert, key: pair.key, ...tlsSettings(minVersion) });
    },
    onResult: (result) => metrics.certificateReloads.inc({ result }),
  });
  const first = await certs.start();

  const admission = buildAdmissionApp(
    {
      log,
      metrics,
      isDraining: () => shuttingDown,
      mutation: {
        serviceAccounts: source.serviceAccounts,
        settings,
        serviceAccountLookupTimeoutMs: config.saLookupTimeoutMs,
        onLookup: (result) => metrics.serviceAccountLookups.inc({ result }),
      },
      validation: {
        policy: () => policy?.policy(),
        serviceAccounts: source.serviceAccounts,
        namespaces: source.namespaces,
        identities: inventory?.directory,
        audience: config.audience,
        oidcIssuer: config.oidcIssuer,
        lookupTimeoutMs: config.saLookupTimeoutMs,
      },
    },
    // Without a pair yet, handshakes fail until one appears (and /readyz says so).
    { https: { minVersion, ...(first ? { cert: first.cert, key: first.key } : {}) } },
  );

  listener.server = admission.server as unknown as Server;

  const readiness = (): ReadinessChecks => ({
    certificate: certs.keyPair() !== undefined,
    serviceAccounts: source.serviceAccounts.hasSynced() && source.namespaces.hasSynced(),
    kubernetesVersion: currentSettings.proxy.nativeSidecar !== undefined,
    identityInventory: inventory ? inventory.hasLoaded() : true,
    caBundle: selfManaged ? selfManaged.isReady() : true,
    notShuttingDown: !shuttingDown,
  });
  const sameSideAddress =
    config.healthAddr.host === config.metricsAddr.host && config.healthAddr.port === config.metricsAddr.port && config.healthAddr.port !== 0;
  const probes = buildProbesApp({ readiness, serveProbes: true, ...(sameSideAddress ? { registry: metrics.registry } : {}) });
  const metricsApp = sameSideAddress ? undefined : buildProbesApp({ readiness, serveProbes: false, registry: metrics.registry });

  const webhookPort = await listen(admission, config.webhookAddr);
  const healthPort = await listen(probes, config.healthAddr);
  const metricsPort = metricsApp ? await listen(metricsApp, config.metricsAddr) : healthPort;
  log.info({ webhookPort, healthPort, metricsPort, tlsMinVersion: minVersion }, 'listening');

  const app = admission;
  let closing: Promise<void> | undefined;
  return {
    webhookPort,
    healthPort,
    metricsPort,
    metrics,
    readiness,
    shutdown: () =>
      (closing ??= (async () => {
        shuttingDown = true;
        log.info({ delayMs: config.shutdownDelayMs }, 'shutting down: not ready, draining');
        await abortableDelay(config.shutdownDelayMs, new AbortController().signal);
        stopController.abort();
        log.debug('closing admission listener');
        await app.close();
        log.debug('closing probe listeners');
        await Promise.all([probes.close(), metricsApp?.close()]);
        certs.close();
        selfManaged?.close();
        policy?.close();
        await inventory?.stop();
        log.debug('stopping ServiceAccount source');
        await source.stop();
        log.info('shut down');
      })()),
  };
}

function openKubeSources(config: Config, log: Logger, metrics: Metrics): KubeSources {
  if (config.objects !== '') {
    const lookup = ObjectsFileLookup.fromFile(config.objects);
    metrics.serviceAccountCacheSize.set(lookup.size());
    metrics.serviceAccountCacheSynced.set(1);
    metrics.namespaceCacheSize.set(lookup.namespaces.size());
    log.info({ objects: config.objects, serviceAccounts: lookup.size(), namespaces: lookup.namespaces.size() }, 'serving ServiceAccounts and Namespaces from file');
    return { serviceAccounts: lookup, namespaces: lookup.namespaces, stop: async () => undefined, gitVersion: undefined };
  }
  const client = createKubeClient(config.kubeconfig, config.kubeEnvironment);
  log.info({ apiServer: client.origin }, 'reading ServiceAccounts from the API server');
  const serviceAccounts = new ServiceAccountCache(createListWatchSource(client, KUBE_PATHS.serviceAccounts), client, log.child({ component: 'serviceaccounts' }), {
    onStoreChange: (size) => metrics.serviceAccountCacheSize.set(size),
    onSynced: () => metrics.serviceAccountCacheSynced.set(1),
    onRestart: (cause) => metrics.informerRestarts.inc({ cause }),
  });
  serviceAccounts.start();
  // Namespaces are only read by the policy; without one they are not watched.
  const namespaces: NamespaceLookup & { start?: () => void; stop?: () => Promise<void> } =
    config.policyPath !== ''
      ? new NamespaceCache(createListWatchSource(client, KUBE_PATHS.namespaces), client, log.child({ component: 'namespaces' }), {
          onStoreChange: (size) => metrics.namespaceCacheSize.set(size),
          onRestart: (cause) => metrics.informerRestarts.inc({ cause }),
        })
      : { getCached: () => undefined, getLive: async () => undefined, hasSynced: () => true, size: () => 0 };
  namespaces.start?.();
  return {
    serviceAccounts,
    namespaces,
    stop: async () => {
      await Promise.all([serviceAccounts.stop(), namespaces.stop?.()]);
      client.close();
    },
    gitVersion: () => fetchServerGitVersion(client),
    kubeClient: client,
  };
}

/** `--cert-mode self`: the certificates come from (and go to) the API server. */
function openSelfManagedCertificates(config: Config, source: KubeSources, log: Logger): SelfManagedCertificates | undefined {
  const settings = config.selfManagedCertificates;
  if (!settings) return undefined;
  if (!source.kubeClient) throw new AppError('WIA_ERR_CONFIG_INVALID', '--cert-mode self needs the API server (it cannot be used with --objects)');
  const manager = new SelfManagedCertificates({
    store: createCertificateStore(source.kubeClient, config.podNamespace, settings.secretName, settings.webhookConfiguration),
    dir: config.webhookCertDir,
    hosts: settings.hosts,
    log: log.child({ component: 'certificates' }),
  });
  manager.start();
  return manager;
}

/** `--policy`: the first file must be valid; later bad edits keep the last good one. */
async function openPolicy(config: Config, log: Logger, metrics: Metrics): Promise<PolicyFile | undefined> {
  if (config.policyPath === '') {
    log.warn('no --policy: /validate admits everything');
    return undefined;
  }
  const file = new PolicyFile({ path: config.policyPath, log: log.child({ component: 'policy' }), onReload: (result) => metrics.policyReloads.inc({ result }) });
  const spec = await file.start();
  log.info({ path: config.policyPath, rules: spec.rules.length }, 'policy loaded');
  return file;
}

/** Asks /version until it answers; an unparsable version is fatal, as upstream. */
async function discoverVersion(
  fetchVersion: () => Promise<string>,
  learn: (gitVersion: string) => void,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    let gitVersion: string;
    try {
      gitVersion = await fetchVersion();
    } catch (err) {
      log.warn({ err, attempt: attempt + 1 }, 'API server version not available yet, retrying');
      await abortableDelay(Math.min(30_000, 500 * 2 ** attempt), signal);
      continue;
    }
    try {
      learn(gitVersion);
    } catch (err) {
      log.fatal({ err }, 'cannot start');
      process.exit(1);
    }
    return;
  }
}

async function listen(app: FastifyInstance, address: { host: string; port: number }): Promise<number> {
  await app.listen({ host: address.host, port: address.port });
  return (app.server.address() as AddressInfo).port;
}
