// The Grafana dashboard, as code with Grafana's own builders
// (@grafana/grafana-foundation-sdk). `npm run monitoring:generate` writes it
// to charts/wi-admission/dashboards/wi-admission.json; test/monitoring/ checks
// that the committed file is what this builds, and that every query names
// metrics the server exports and runs on a real Prometheus.
import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  ConstantVariableBuilder,
  DashboardBuilder,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  type Dashboard,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanelBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as StateTimelinePanelBuilder } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TimeseriesPanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** The committed dashboard, which the chart's ConfigMap holds. */
export const DASHBOARD_FILE = new URL('../../charts/wi-admission/dashboards/wi-admission.json', import.meta.url).pathname;
/** The hidden constant the chart sets from webhook.timeoutSeconds (templates/dashboard.yaml). */
export const WEBHOOK_TIMEOUT_VARIABLE = 'webhook_timeout';
const DEFAULT_TIMEOUT_SECONDS = '5';
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
/** Every query is narrowed to the chosen scrape jobs (all by default). */
const JOB = 'job=~"$job"';

function query(refId: string, expr: string, legend: string): DataqueryBuilder {
  return new DataqueryBuilder().refId(refId).datasource(DATASOURCE).expr(expr).legendFormat(legend);
}

function timeseries(title: string, description: string, unit: string): TimeseriesPanelBuilder {
  return new TimeseriesPanelBuilder().title(title).description(description).datasource(DATASOURCE).unit(unit).min(0).span(12).height(8).legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.Table).placement(common.LegendPlacement.Bottom).calcs(['lastNotNull', 'max']));
}

function latencyQuantile(refId: string, quantile: number): DataqueryBuilder {
  return query(
    refId,
    `histogram_quantile(${quantile}, sum by (webhook, le) (rate(wi_admission_request_duration_seconds_bucket{${JOB}}[$__rate_interval])))`,
    `p${quantile * 100} {{webhook}}`,
  );
}

function perSecond(metric: string, matchers: string, by: string): string {
  return `sum by (${by}) (rate(${metric}{${[JOB, matchers].filter((m) => m !== '').join(', ')}}[$__rate_interval]))`;
}

function increases(metric: string, by: string): string {
  return `sum by (${by}) (increase(${metric}{${JOB}}[$__rate_interval]))`;
}

export function buildDashboard(): Dashboard {
  const dashboard = new DashboardBuilder('wi-admission')
    .uid('wi-admission')
    .description('Admissions, latency against the webhook timeout, denials, the identity inventory, caches, reloads and the serving certificate of wi-admission (docs/operations.md, "Dashboard").')
    .tags(['wi-admission', 'admission-webhook', 'azure-workload-identity'])
    .editable()
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(
      new QueryVariableBuilder('job')
        .label('Job')
        .datasource(DATASOURCE)
        .query('label_values(wi_admission_serviceaccount_cache_size, job)')
        .definition('label_values(wi_admission_serviceaccount_cache_size, job)')
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .multi(true)
        .includeAll(true)
        .allValue('.*'),
    )
    .withVariable(
      new ConstantVariableBuilder(WEBHOOK_TIMEOUT_VARIABLE)
        .label('webhook.timeoutSeconds')
        .description('timeoutSeconds of the webhook configurations: the API server gives up on a call after it (set by the chart)')
        .value(DEFAULT_TIMEOUT_SECONDS),
    )

    .withRow(new RowBuilder('Admissions'))
    .withPanel(
      timeseries('Admissions per second', 'Answered admissions by webhook and decision; HTTP errors are requests answered with anything but 200 (WiAdmissionErrors); refused connections were closed on arrival at the connection cap (WiAdmissionConnectionsRefused).', 'reqps')
        .withTarget(query('A', perSecond('wi_admission_requests_total', '', 'webhook, decision'), '{{webhook}} {{decision}}'))
        .withTarget(query('B', perSecond('wi_admission_bad_requests_total', '', 'webhook, status'), 'HTTP {{status}} {{webhook}}'))
        .withTarget(query('C', `sum(rate(wi_admission_connections_refused_total{${JOB}}[$__rate_interval]))`, 'connections refused')),
    )
    .withPanel(
      timeseries('Latency against the timeout', 'p50 and p99 of the time from receiving an AdmissionReview to answering it, on a log scale beside webhook.timeoutSeconds, where the API server gives up (WiAdmissionLatencyHigh).', 's')
        .scaleDistribution(new common.ScaleDistributionConfigBuilder().type(common.ScaleDistribution.Log).log(10))
        .min(0.0001)
        .withTarget(latencyQuantile('A', 0.5))
        .withTarget(latencyQuantile('B', 0.99))
        .withTarget(query('C', `vector($${WEBHOOK_TIMEOUT_VARIABLE})`, 'timeout (webhook.timeoutSeconds)')),
    )
    .withPanel(
      timeseries('Denials and warnings by reason', 'Denied and warned admissions per reason code (docs/errors.md). Denials are the policy working; a sharp rise is WiAdmissionDenialsRising.', 'reqps')
        .span(24)
        .withTarget(query('A', perSecond('wi_admission_requests_total', 'decision="denied"', 'webhook, reason'), 'denied {{reason}} ({{webhook}})'))
        .withTarget(query('B', perSecond('wi_admission_requests_total', 'decision="warned"', 'webhook, reason'), 'warned {{reason}} ({{webhook}})')),
    )

    .withRow(new RowBuilder('Identity inventory'))
    .withPanel(
      timeseries('Inventory age', 'Time since the last successful full listing of the identities, per replica, beside --identity-max-staleness (past it lookups answer unavailable: WiAdmissionInventoryStale, WiAdmissionInventoryUnavailable).', 's')
        .withTarget(query('A', `max by (instance) (wi_admission_inventory_age_seconds{${JOB}})`, 'age {{instance}}'))
        .withTarget(query('B', `max(wi_admission_inventory_max_staleness_seconds{${JOB}})`, 'max staleness')),
    )
    .withPanel(
      timeseries('Inventory size', 'Managed identities in the inventory, per replica.', 'short')
        .withTarget(query('A', `max by (instance) (wi_admission_inventory_identities{${JOB}})`, 'identities {{instance}}')),
    )

    .withRow(new RowBuilder('Caches, reloads and readiness'))
    .withPanel(
      timeseries('Cache sizes', 'ServiceAccounts and Namespaces held in each replica\'s cache (Namespaces are watched only with a policy).', 'short')
        .withTarget(query('A', `max by (instance) (wi_admission_serviceaccount_cache_size{${JOB}})`, 'ServiceAccounts {{instance}}'))
        .withTarget(query('B', `max by (instance) (wi_admission_namespace_cache_size{${JOB}})`, 'Namespaces {{instance}}')),
    )
    .withPanel(
      timeseries('Reloads', 'Policy file reloads, inventory listings and serving-certificate loads by result (WiAdmissionPolicyReloadFailing, WiAdmissionInventoryRefreshFailing, WiAdmissionCertificateReloadFailing).', 'short')
        .withTarget(query('A', increases('wi_admission_policy_reloads_total', 'result'), 'policy {{result}}'))
        .withTarget(query('B', increases('wi_admission_inventory_refreshes_total', 'trigger, result'), 'inventory {{trigger}} {{result}}'))
        .withTarget(query('C', increases('wi_admission_certificate_reloads_total', 'result'), 'certificate {{result}}')),
    )
    .withPanel(
      new StatPanelBuilder()
        .title('Certificate expiry')
        .description('Time left before the serving certificate in use expires, on the replica whose expires first (WiAdmissionCertificateExpiring at 7 days).')
        .datasource(DATASOURCE)
        .unit('dtdurations')
        .span(8)
        .height(8)
        .thresholds(
          new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
            { value: null, color: 'red' },
            { value: 7 * 86400, color: 'orange' },
            { value: 30 * 86400, color: 'green' },
          ]),
        )
        .withTarget(query('A', `min(wi_admission_certificate_expiry_timestamp_seconds{${JOB}} > 0) - time()`, 'expires in')),
    )
    .withPanel(
      new StateTimelinePanelBuilder()
        .title('Readiness checks')
        .description('Each /readyz check per replica: 1 holds, 0 fails (WiAdmissionNotReady; identityInventory: WiAdmissionInventoryUnavailable).')
        .datasource(DATASOURCE)
        .span(16)
        .height(8)
        .thresholds(
          new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
            { value: null, color: 'red' },
            { value: 1, color: 'green' },
          ]),
        )
        .withTarget(query('A', `min by (instance, check) (wi_admission_readiness_check{${JOB}})`, '{{check}} {{instance}}')),
    )

    .withRow(new RowBuilder('Drift audit'))
    .withPanel(
      timeseries('Audit violations', 'Existing ServiceAccount bindings with a finding of each reason, judged as admission would judge them now (every replica audits; the largest count is shown), beside the bindings audited. They keep running; a change to them is refused (WiAdmissionViolationsRising). kubectl get policyreport -A names them.', 'short')
        .span(24)
        .withTarget(query('A', `max by (reason) (wi_admission_audit_violations{${JOB}}) > 0`, '{{reason}}'))
        .withTarget(query('B', `max(wi_admission_audit_bindings{${JOB}})`, 'bindings audited')),
    )
    .build();
  // Stable panel ids keep links to a panel (viewPanel=N) working across versions.
  dashboard.panels?.forEach((panel, index) => (panel.id = index + 1));
  return dashboard;
}

/** The dashboard as committed: two-space JSON and a final newline. */
export function dashboardJson(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}
