import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { DriftAudit, type AuditedNamespaces, type AuditedServiceAccounts } from '../audit/drift-audit.js';
import { EventWriter } from '../audit/event-writer.js';
import { LeaderElector } from '../audit/leader-election.js';
import { ReportWriter } from '../audit/report-writer.js';
import type { Config } from '../config.js';
import type { KubeRestClient } from '../kube/rest-client.js';
import type { Metrics } from '../metrics.js';
import { VALIDATION_REASONS } from '../policy/evaluate.js';
import type { PolicyFile } from '../policy/policy-file.js';
import type { OpenInventory } from './inventory-wiring.js';

export interface AuditInputs {
  readonly policy: PolicyFile;
  readonly serviceAccounts: AuditedServiceAccounts;
  readonly namespaces: AuditedNamespaces;
  /** Undefined without `--identities`: every binding is then `error` (inventory unavailable). */
  readonly inventory: OpenInventory | undefined;
  /** Undefined with `--objects`: metrics only, nothing is written. */
  readonly kubeClient: KubeRestClient | undefined;
  /** The release namespace, where the Lease lives. */
  readonly namespace: string;
}

export interface RunningAudit {
  start(): void;
  /** Releases the Lease (if held) so another replica takes over at once, and stops auditing. Calls after the first return the same promise. */
  stop(): Promise<void>;
}

/**
 * The drift audit (docs/policy.md, "Drift reports"): every replica audits and
 * keeps the metrics; the replica holding the Lease writes PolicyReports and
 * Events.
 */
export function openAudit(config: Config, log: Logger, metrics: Metrics, inputs: AuditInputs): RunningAudit {
  const auditLog = log.child({ component: 'audit' });
  const client = inputs.kubeClient;
  const identity = `${hostname()}_${randomUUID()}`;
  const events = client
    ? new EventWriter({ client, reportingInstance: identity, log: auditLog, onResult: (result) => metrics.auditEvents.inc({ result }) })
    : undefined;
  const audit = new DriftAudit({
    policy: () => inputs.policy.policy(),
    serviceAccounts: inputs.serviceAccounts,
    namespaces: inputs.namespaces,
    binding: { identities: inputs.inventory?.directory, audience: config.audience, oidcIssuer: config.oidcIssuer },
    inventoryReady: () => inputs.inventory?.hasLoaded() ?? true,
    log: auditLog,
    hooks: {
      onRun: (trigger, seconds) => {
        metrics.auditRuns.inc({ trigger });
        metrics.auditDuration.observe(seconds);
      },
      onTotals: (bindings, violations) => {
        metrics.auditBindings.set(bindings);
        for (const reason of VALIDATION_REASONS) metrics.auditViolations.set({ reason }, violations.get(reason) ?? 0);
      },
      onChanged: (namespaces) => writer?.changed(namespaces),
    },
  });
  const writer = client && events
    ? new ReportWriter({
        client,
        audit,
        onBindingFailed: (namespace, binding) => events.bindingFailed(namespace, binding),
        log: auditLog,
        onWrite: (operation, result) => metrics.auditReportWrites.inc({ operation, result }),
      })
    : undefined;
  const elector = client && writer
    ? new LeaderElector({
        client,
        namespace: inputs.namespace,
        name: config.auditLease,
        identity,
        log: auditLog,
        onStartedLeading: () => {
          metrics.auditLeader.set(1);
          writer.lead();
        },
        onStoppedLeading: () => {
          metrics.auditLeader.set(0);
          void writer.standDown();
        },
      })
    : undefined;
  const unsubscribe: (() => void)[] = [];
  let stopped: Promise<void> | undefined;
  return {
    start: () => {
      audit.start();
      unsubscribe.push(inputs.policy.subscribe(() => audit.request('policy')));
      if (inputs.inventory) unsubscribe.push(inputs.inventory.onListed(() => audit.request('inventory')));
      elector?.start();
    },
    stop: () =>
      (stopped ??= (async () => {
        for (const stop of unsubscribe.splice(0)) stop();
        await elector?.stop();
        await writer?.standDown();
        await audit.stop();
      })()),
  };
}
