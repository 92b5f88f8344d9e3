import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Upstream's `azwi_mutation_request` buckets: 1–9 ms, 10–90 ms, 0.1–0.9 s, 1–3 s. */
const LATENCY_BUCKETS = [
  0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009,
  0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09,
  0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
  1, 1.5, 2, 2.5, 3,
];

/**
 * Every metric of the server, on its own registry. Label values are bounded
 * sets (webhook path, decision, reason code, result): never a namespace, pod
 * or any user-controlled string.
 */
// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- the type is Metrics, inferred from the definitions below
export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  /** Set by the inventory: the age is read at scrape time, so it keeps growing while refreshes fail. */
  const inventoryAgeSource: { seconds?: () => number | undefined } = {};
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'wi_admission_' });
  return {
    registry,
    admissionRequests: new Counter({
      name: 'wi_admission_requests_total',
      help: 'Admission requests answered, by webhook, decision and reason code',
      labelNames: ['webhook', 'decision', 'reason'] as const,
      registers: [registry],
    }),
    admissionDuration: new Histogram({
      name: 'wi_admission_request_duration_seconds',
      help: 'Time from receiving an AdmissionReview to answering it',
      labelNames: ['webhook', 'decision'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    badRequests: new Counter({
      name: 'wi_admission_bad_requests_total',
      help: 'Bodies rejected with an HTTP error before any decision (not an AdmissionReview, too large, wrong type)',
      labelNames: ['webhook', 'status'] as const,
      registers: [registry],
    }),
    serviceAccountLookups: new Counter({
      name: 'wi_admission_serviceaccount_lookups_total',
      help: 'ServiceAccount lookups by result: cache hit, live read found, not found, error',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    serviceAccountCacheSize: new Gauge({
      name: 'wi_admission_serviceaccount_cache_size',
      help: 'ServiceAccounts held in the cache',
      registers: [registry],
    }),
    serviceAccountCacheSynced: new Gauge({
      name: 'wi_admission_serviceaccount_cache_synced',
      help: '1 once the ServiceAccount cache has completed its initial list',
      registers: [registry],
    }),
    informerRestarts: new Counter({
      name: 'wi_admission_informer_restarts_total',
      help: 'Watch restarts of the ServiceAccount and Namespace informers, by cause (expired, error, error_event, stalled, closed)',
      labelNames: ['cause'] as const,
      registers: [registry],
    }),
    certificateReloads: new Counter({
      name: 'wi_admission_certificate_reloads_total',
      help: 'Attempts to load the serving certificate from disk, by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    policyReloads: new Counter({
      name: 'wi_admission_policy_reloads_total',
      help: 'Policy file reloads by result (loaded, unchanged, error)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    namespaceCacheSize: new Gauge({
      name: 'wi_admission_namespace_cache_size',
      help: 'Namespaces held in the cache',
      registers: [registry],
    }),
    inventorySize: new Gauge({
      name: 'wi_admission_inventory_identities',
      help: 'Managed identities in the inventory',
      registers: [registry],
    }),
    inventoryAgeSource,
    inventoryAge: new Gauge({
      name: 'wi_admission_inventory_age_seconds',
      help: 'Age of the inventory: time since the last successful full refresh',
      registers: [registry],
      collect() {
        const seconds = inventoryAgeSource.seconds?.();
        if (seconds !== undefined) this.set(seconds);
      },
    }),
    inventoryRefreshes: new Counter({
      name: 'wi_admission_inventory_refreshes_total',
      help: 'Inventory refreshes by trigger (scheduled, unknown_id, source_change) and result (success, error, throttled)',
      labelNames: ['trigger', 'result'] as const,
      registers: [registry],
    }),
    armRequestDuration: new Histogram({
      name: 'wi_admission_arm_request_duration_seconds',
      help: 'Duration of Azure Resource Manager calls by operation and result',
      labelNames: ['operation', 'result'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    inventoryLookups: new Counter({
      name: 'wi_admission_inventory_lookups_total',
      help: 'Client ID lookups by result (hit, principal_id, miss, negative_hit, unavailable)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    ...createValidationMetrics(registry),
    certificateExpiry: new Gauge({
      name: 'wi_admission_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the serving certificate in use, Unix seconds',
      registers: [registry],
    }),
    kubeRequestRetries: new Counter({
      name: 'wi_admission_kube_request_retries_total',
      help: 'API server requests sent again, by reason (throttled: 429 with Retry-After, server_error: 5xx with Retry-After, connection_reset, unauthorized: after re-reading the credentials)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    certificateRotationSteps: new Counter({
      name: 'wi_admission_certificate_rotation_steps_total',
      help: 'Changes this replica made to the self-managed certificate Secret, by step (create, renew_leaf, stage_ca, switch_ca, drop_old_ca)',
      labelNames: ['step'] as const,
      registers: [registry],
    }),
    connectionsRefused: new Counter({
      name: 'wi_admission_connections_refused_total',
      help: 'Connections to the admission port closed on arrival because the most allowed were open (server/transport.ts)',
      registers: [registry],
    }),
    ...createStateMetrics(registry),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The namespace lookups and the drift audit (their own function, appended to `createMetrics`). */
function createValidationMetrics(registry: Registry) {
  return {
    namespaceUnavailable: new Counter({
      name: 'wi_admission_namespace_unavailable_total',
      help: 'Validations that needed a Namespace the server could not read (not cached, live GET failed or timed out)',
      registers: [registry],
    }),
    auditViolations: new Gauge({
      name: 'wi_admission_audit_violations',
      help: 'ServiceAccount bindings in the cache with a finding of each reason code (drift audit: judged as admission would judge them now)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    auditBindings: new Gauge({
      name: 'wi_admission_audit_bindings',
      help: 'ServiceAccount bindings (a client ID, not in an exempt namespace) the drift audit evaluates',
      registers: [registry],
    }),
    auditRuns: new Counter({
      name: 'wi_admission_audit_runs_total',
      help: 'Drift audit runs by trigger (sync, policy, inventory: full; serviceaccount, namespace: incremental)',
      labelNames: ['trigger'] as const,
      registers: [registry],
    }),
    auditDuration: new Histogram({
      name: 'wi_admission_audit_duration_seconds',
      help: 'Wall time of drift audit runs (full ones yield to admissions every millisecond)',
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    auditLeader: new Gauge({
      name: 'wi_admission_audit_leader',
      help: '1 while this replica holds the Lease and writes PolicyReports and Events',
      registers: [registry],
    }),
    auditReportWrites: new Counter({
      name: 'wi_admission_audit_report_writes_total',
      help: 'PolicyReport writes by operation (create, update, delete) and result (success, conflict, error)',
      labelNames: ['operation', 'result'] as const,
      registers: [registry],
    }),
    auditEvents: new Counter({
      name: 'wi_admission_audit_events_total',
      help: 'Events for bindings that turned to fail, by result (written, rate_limited, error)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
  };
}

/**
 * States the alerts need as gauges (docs/operations.md, "Alerts"): readiness
 * per check, a rejected policy edit still on disk, and the inventory's
 * maximum staleness. Their own function, appended to `createMetrics`.
 */
function createStateMetrics(registry: Registry) {
  /** Set by the server: /readyz's checks, read at scrape time like the inventory's age. */
  const readinessSource: { checks?: () => object } = {};
  /** Set by the policy file: the error of a rejected edit while it is still on disk. */
  const policyFileSource: { pendingError?: () => string | undefined } = {};
  return {
    readinessSource,
    readinessChecks: new Gauge({
      name: 'wi_admission_readiness_check',
      help: '1 when the /readyz check named by `check` holds, 0 when not (/readyz answers 200 when all are 1)',
      labelNames: ['check'] as const,
      registers: [registry],
      collect() {
        for (const [check, ok] of Object.entries(readinessSource.checks?.() ?? {})) this.set({ check }, ok === true ? 1 : 0);
      },
    }),
    policyFileSource,
    policyLastReloadSuccessful: new Gauge({
      name: 'wi_admission_policy_last_reload_successful',
      help: '0 while a rejected edit of the policy file is on disk (the last good policy is still in force), else 1',
      registers: [registry],
      collect() {
        this.set(policyFileSource.pendingError?.() === undefined ? 1 : 0);
      },
    }),
    inventoryMaxStaleness: new Gauge({
      name: 'wi_admission_inventory_max_staleness_seconds',
      help: '--identity-max-staleness: how old the inventory may get while its source fails before lookups answer unavailable',
      registers: [registry],
    }),
  };
}
