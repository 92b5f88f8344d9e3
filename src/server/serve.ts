import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Address, Config } from '../config.js';
import { AppError } from '../errors.js';
import type { MutationSettings } from '../identity/mutate-pod.js';
import { abortableDelay } from '../kube/informer.js';
import { createKubeClient, createListWatchSource, fetchServerGitVersion, reachApiServer } from '../kube/client.js';
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
import { checkCertificateDirectory, KeyPairWatcher } from './tls.js';
import { tlsSettings } from './transport.js';
import { SelfManagedCertificates } from '../certs/self-managed.js';
import { createCertificateStore } from '../kube/certificate-store.js';
import { PolicyFile } from '../policy/policy-file.js';
import { openInventory } from './inventory-wiring.js';
import { openAudit } from './audit-wiring.js';
import type { AuditedNamespaces, AuditedServiceAccounts } from '../audit/drift-audit.js';
import { Resources } from './resources.js';

export interface RunningServer {
  readonly webhookPort: number;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly metrics: Metrics;
  readiness(): ReadinessChecks;
  /** Readiness goes false, then after the shutdown delay everything started is stopped, last started first. */
  shutdown(): Promise<void>;
}

export interface StartOptions {
  /**
   * A failure after the start that the server cannot serve through (the API
   * server reports a version that is not semver, which upstream treats as
   * fatal). The caller shuts down and exits non-zero; nothing here exits.
   */
  readonly onFatal?: (err: Error) => void;
}

interface KubeSources {
  readonly serviceAccounts: ServiceAccountLookup & AuditedServiceAccounts;
  readonly namespaces: NamespaceLookup & AuditedNamespaces;
  /** Undefined with --objects (no API server). */
  readonly client: KubeRestClient | undefined;
  /** The API server's version when it answered at start. */
  readonly gitVersion: string | undefined;
}

/** How long the API server has to answer at all before the start fails (a wrong address, CA or network). */
const API_SERVER_REACH_TIMEOUT_MS = 3000;

/**
 * Starts everything `serve` runs, each step owned by a Resources list so
 * that a failure at any step stops what the earlier steps started, in
 * reverse order, before the error reaches the caller, and SIGTERM runs the
 * same teardown. Steps that only read and check (the policy, the
 * certificate directory, the kubeconfig, reaching the API server) come
 * before anything that runs in the background. Nothing here decides an
 * admission.
 */
export async function startServer(config: Config, log: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const resources = new Resources(log);
  try {
    return await start(config, log, options, resources);
  } catch (err) {
    await resources.stopAll();
    throw err;
  }
}

async function start(config: Config, log: Logger, options: StartOptions, resources: Resources): Promise<RunningServer> {
  const metrics = createMetrics();
  let shuttingDown = false;
  let listening = false;
  const version = versionSettings(config, log);

  const policy = await openPolicy(config, log, metrics, resources);
  await checkCertificateDirectory(config.webhookCertDir, { create: config.selfManagedCertificates !== undefined });
  const source = await openKubeSources(config, log, metrics, resources);
  if (config.kubernetesVersion !== undefined) version.learn(config.kubernetesVersion);
  else if (source.gitVersion !== undefined) version.learn(source.gitVersion);
  else if (source.client) startVersionDiscovery(source.client, version.learn, log, resources, options);
  const inventory = await openInventory(config, log, metrics);
  if (inventory) resources.own('identity inventory', inventory, (i) => i.stop());
  const audit = policy
    ? resources.own(
        'drift audit',
        openAudit(config, log, metrics, {
          policy,
          serviceAccounts: source.serviceAccounts,
          namespaces: source.namespaces,
          inventory,
          kubeClient: source.client,
          namespace: releaseNamespace(config, source),
        }),
        (a) => a.stop(),
      )
    : undefined;
  audit?.start();

  // The listener exists only after the first pair is read; new pairs go to it.
  const listener: { server?: Server } = {};
  const minVersion = config.tlsMinVersion;
  const certs = resources.own(
    'certificate watcher',
    new KeyPairWatcher({
      dir: config.webhookCertDir,
      log: log.child({ component: 'tls' }),
      onKeyPair: (pair) => {
        metrics.certificateExpiry.set(pair.notAfter.getTime() / 1000);
        listener.server?.setSecureContext({ cert: pair.cert, key: pair.key, ...tlsSettings(minVersion) });
      },
      onResult: (result) => metrics.certificateReloads.inc({ result }),
    }),
    (w) => w.close(),
  );
  const selfManaged = openSelfManagedCertificates(config, source, certs, log, metrics, resources);
  const first = await certs.start();

  const readiness = (): ReadinessChecks => ({
    certificate: certs.keyPair() !== undefined,
    serviceAccounts: source.serviceAccounts.hasSynced() && source.namespaces.hasSynced(),
    kubernetesVersion: version.settings().proxy.nativeSidecar !== undefined,
    identityInventory: inventory ? inventory.hasLoaded() : true,
    caBundle: selfManaged ? selfManaged.isReady() : true,
    listening,
    notShuttingDown: !shuttingDown,
  });
  metrics.readinessSource.checks = readiness;
  const sameSideAddress =
    config.healthAddr.host === config.metricsAddr.host && config.healthAddr.port === config.metricsAddr.port && config.healthAddr.port !== 0;
  // Probes listen first and close last: /readyz answers 503 through the whole drain.
  const probes = buildProbesApp({ readiness, serveProbes: true, ...(sameSideAddress ? { registry: metrics.registry } : {}) });
  const healthPort = await listen(resources, 'health listener', probes, config.healthAddr, '--health-addr');
  const metricsApp = sameSideAddress ? undefined : buildProbesApp({ readiness, serveProbes: false, registry: metrics.registry });
  const metricsPort = metricsApp ? await listen(resources, 'metrics listener', metricsApp, config.metricsAddr, '--metrics-addr') : healthPort;

  const admission = buildAdmissionApp(
    {
      log,
      metrics,
      isDraining: () => shuttingDown,
      mutation: {
        serviceAccounts: source.serviceAccounts,
        settings: version.settings,
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
        onNamespaceUnavailable: (namespace, reason) => {
          metrics.namespaceUnavailable.inc();
          log.warn({ namespace, reason }, 'namespace labels unknown: rules that need them are not evaluated');
        },
      },
    },
    // Without a pair yet, handshakes fail until one appears (and /readyz says so).
    { https: { minVersion, ...(first ? { cert: first.cert, key: first.key } : {}) } },
  );
  listener.server = admission.server as unknown as Server;
  const webhookPort = await listen(resources, 'admission listener', admission, config.webhookAddr, '--webhook-addr');
  listening = true;
  log.info({ webhookPort, healthPort, metricsPort, tlsMinVersion: minVersion }, 'listening');

  // Owned last, so it runs first at shutdown: readiness false, then the delay
  // in which the API server stops sending here, then the listeners close.
  resources.own('drain', undefined, async () => {
    shuttingDown = true;
    log.info({ delayMs: config.shutdownDelayMs }, 'shutting down: not ready, draining');
    // The Lease goes at once: another replica writes the audit's reports while this one drains.
    void audit?.stop();
    await abortableDelay(config.shutdownDelayMs, new AbortController().signal);
  });
  return {
    webhookPort,
    healthPort,
    metricsPort,
    metrics,
    readiness,
    shutdown: async () => {
      await resources.stopAll();
      log.info('shut down');
    },
  };
}

/** The mutation settings, rebuilt once the API server version is known (not per admission). */
function versionSettings(config: Config, log: Logger): { settings: () => MutationSettings; learn: (gitVersion: string) => void } {
  const build = (nativeSidecar: boolean | undefined): MutationSettings => ({
    audience: config.audience,
    authorityHost: config.authorityHost,
    defaultTenantId: config.defaultTenantId,
    customTokenEndpoint: config.customTokenEndpoint,
    proxy: { image: config.proxyImage, initImage: config.proxyInitImage, logLevel: config.logLevel, nativeSidecar },
  });
  let current = build(undefined);
  return {
    settings: () => current,
    learn: (gitVersion) => {
      const version = parseKubernetesVersion(gitVersion);
      if (!version) {
        throw new AppError('WIA_ERR_KUBE_VERSION_INVALID', `Kubernetes version "${gitVersion}" is not a semantic version such as v1.32.0`);
      }
      current = build(supportsNativeSidecar(version));
      log.info({ kubernetesVersion: gitVersion, nativeSidecar: current.proxy.nativeSidecar }, 'proxy sidecar placement decided');
    },
  };
}

async function openKubeSources(config: Config, log: Logger, metrics: Metrics, resources: Resources): Promise<KubeSources> {
  if (config.objects !== '') {
    const lookup = ObjectsFileLookup.fromFile(config.objects);
    metrics.serviceAccountCacheSize.set(lookup.size());
    metrics.serviceAccountCacheSynced.set(1);
    metrics.namespaceCacheSize.set(lookup.namespaces.size());
    log.info({ objects: config.objects, serviceAccounts: lookup.size(), namespaces: lookup.namespaces.size() }, 'serving ServiceAccounts and Namespaces from file');
    return { serviceAccounts: lookup, namespaces: lookup.namespaces, client: undefined, gitVersion: undefined };
  }
  const client = resources.own(
    'API server client',
    createKubeClient(config.kubeconfig, config.kubeEnvironment, { onRetry: (reason) => metrics.kubeRequestRetries.inc({ reason }) }),
    (c) => c.close(),
  );
  log.info({ apiServer: client.origin }, 'reading ServiceAccounts from the API server');
  const gitVersion = await reachApiServer(client, API_SERVER_REACH_TIMEOUT_MS);
  const onRestart = (cause: string): void => metrics.informerRestarts.inc({ cause });
  const serviceAccounts = resources.own(
    'ServiceAccount informer',
    new ServiceAccountCache(createListWatchSource(client, KUBE_PATHS.serviceAccounts), client, log.child({ component: 'serviceaccounts' }), {
      onStoreChange: (size) => metrics.serviceAccountCacheSize.set(size),
      onSynced: () => metrics.serviceAccountCacheSynced.set(1),
      onRestart,
    }),
    (cache) => cache.stop(),
  );
  serviceAccounts.start();
  // Namespaces are only read by the policy; without one they are not watched.
  let namespaces: NamespaceLookup = { getCached: () => undefined, getLive: async () => undefined, hasSynced: () => true, size: () => 0 };
  if (config.policyPath !== '') {
    const cache = resources.own(
      'Namespace informer',
      new NamespaceCache(createListWatchSource(client, KUBE_PATHS.namespaces), client, log.child({ component: 'namespaces' }), {
        onStoreChange: (size) => metrics.namespaceCacheSize.set(size),
        onRestart,
      }),
      (c) => c.stop(),
    );
    cache.start();
    namespaces = cache;
  }
  return { serviceAccounts, namespaces, client, gitVersion };
}

/** The namespace the server runs in: POD_NAMESPACE wins (upstream's variable); else the one the kubeconfig context or the pod's ServiceAccount mount names. */
function releaseNamespace(config: Config, source: KubeSources): string {
  return config.podNamespace ?? source.client?.namespace ?? 'default';
}

/** `--cert-mode self`: the certificates come from (and go to) the API server. */
function openSelfManagedCertificates(
  config: Config,
  source: KubeSources,
  certs: KeyPairWatcher,
  log: Logger,
  metrics: Metrics,
  resources: Resources,
): SelfManagedCertificates | undefined {
  const settings = config.selfManagedCertificates;
  if (!settings) return undefined;
  if (!source.client) throw new AppError('WIA_ERR_CONFIG_INVALID', '--cert-mode self needs the API server (it cannot be used with --objects)');
  const namespace = releaseNamespace(config, source);
  const hosts = settings.hosts.length > 0 ? settings.hosts : [`wi-admission.${namespace}.svc`];
  log.info({ namespace, secret: settings.secretName, hosts }, 'managing the serving certificates');
  const manager = resources.own(
    'self-managed certificates',
    new SelfManagedCertificates({
      store: createCertificateStore(source.client, namespace, settings.secretName, settings.webhookConfiguration),
      dir: config.webhookCertDir,
      hosts,
      replica: config.replicaId,
      validity: { leafMs: settings.leafValidityMs, caMs: settings.caValidityMs },
      serving: {
        certificate: () => certs.keyPair()?.cert,
        reload: () => certs.reload(),
      },
      onStep: (step) => metrics.certificateRotationSteps.inc({ step }),
      log: log.child({ component: 'certificates' }),
    }),
    (m) => m.stop(),
  );
  manager.start();
  return manager;
}

/** `--policy`: the first file must be valid; later bad edits keep the last good one. */
async function openPolicy(config: Config, log: Logger, metrics: Metrics, resources: Resources): Promise<PolicyFile | undefined> {
  if (config.policyPath === '') {
    log.warn('no --policy: /validate admits everything');
    return undefined;
  }
  const file = resources.own(
    'policy file',
    new PolicyFile({ path: config.policyPath, log: log.child({ component: 'policy' }), onReload: (result) => metrics.policyReloads.inc({ result }) }),
    (f) => f.close(),
  );
  const spec = await file.start();
  metrics.policyFileSource.pendingError = () => file.pendingError();
  log.info({ path: config.policyPath, rules: spec.rules.length }, 'policy loaded');
  return file;
}

/**
 * The API server did not answer /version at start (it was down): ask until
 * it does, in the background. A version that is not semver is fatal, as
 * upstream: reported to `onFatal`, never by exiting from here.
 */
function startVersionDiscovery(client: KubeRestClient, learn: (gitVersion: string) => void, log: Logger, resources: Resources, options: StartOptions): void {
  const stop = resources.own('version discovery', new AbortController(), (c) => c.abort());
  const signal = stop.signal;
  void (async () => {
    for (let attempt = 0; !signal.aborted; attempt++) {
      let gitVersion: string;
      try {
        gitVersion = await fetchServerGitVersion(client, signal);
      } catch (err) {
        if (signal.aborted) return;
        log.warn({ err, attempt: attempt + 1 }, 'API server version not available yet, retrying');
        await abortableDelay(Math.min(30_000, 500 * 2 ** attempt), signal);
        continue;
      }
      try {
        learn(gitVersion);
      } catch (err) {
        options.onFatal?.(err as Error);
      }
      return;
    }
  })();
}

async function listen(resources: Resources, name: string, app: FastifyInstance, address: Address, flag: string): Promise<number> {
  // Owned before listening: a listen that fails half-way is closed too.
  resources.own(name, app, (a) => a.close());
  try {
    await app.listen({ host: address.host, port: address.port });
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the address is already in use' : (err as Error).message;
    throw new AppError('WIA_ERR_LISTEN_FAILED', `${flag} ${address.host}:${address.port}: cannot listen: ${reason}`, { cause: err });
  }
  return (app.server.address() as AddressInfo).port;
}
