// The chart's monitoring: ServiceMonitor, PrometheusRule and the Grafana
// dashboard's ConfigMap, each off by default, rendered by a real helm.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import { CHART, findObject, renderChart, renderChartError, type K8sObject } from '../helpers/chart.js';
import { helmBinary } from '../helpers/helm.js';

const TENANT = ['--set', 'azureTenantID=72f988bf-86f1-41af-91ab-2d7cd011db47'];
const ALL_ON = ['--set', 'monitoring.serviceMonitor.enabled=true', '--set', 'monitoring.prometheusRule.enabled=true', '--set', 'monitoring.dashboard.enabled=true'];
const committedDashboard = JSON.parse(readFileSync(new URL('../../charts/wi-admission/dashboards/wi-admission.json', import.meta.url), 'utf8')) as Dashboard;
const values = parse(readFileSync(new URL('../../charts/wi-admission/values.yaml', import.meta.url), 'utf8')) as { monitoring: { prometheusRule: { for: Record<string, string> } } };

interface Dashboard {
  uid: string;
  panels: { title: string }[];
  templating: { list: { name: string; type: string; query?: unknown; current?: unknown }[] };
}
interface Rule {
  alert: string;
  for: string;
  labels: Record<string, string>;
  expr: string;
  annotations: Record<string, string>;
}

const render = (args: string[]): K8sObject[] => renderChart([...TENANT, ...args]);
const rulesOf = (objects: K8sObject[]): Rule[] =>
  ((findObject(objects, 'PrometheusRule') as unknown as { spec: { groups: { rules: Rule[] }[] } } | undefined)?.spec.groups ?? []).flatMap((g) => g.rules);
const dashboardIn = (objects: K8sObject[]): Dashboard => {
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-dashboard')) as unknown as { data: Record<string, string> } | undefined;
  return JSON.parse(configMap?.data['wi-admission.json'] ?? 'null') as Dashboard;
};

void t.test('monitoring is off by default', async (t) => {
  const kinds = render([]).map((o) => `${o.kind}/${o.metadata.name}`);
  t.notOk(kinds.some((k) => /^(ServiceMonitor|PrometheusRule)\//.test(k)), 'no Prometheus Operator objects');
  t.notOk(kinds.includes('ConfigMap/wi-dashboard'), 'no dashboard');
});

void t.test('helm lint --strict and helm template are clean with every monitoring part on', async (t) => {
  const lint = execFileSync(helmBinary(), ['lint', '--strict', CHART, ...TENANT, ...ALL_ON], { encoding: 'utf8' });
  t.match(lint, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  t.notMatch(lint, /\[(INFO|WARNING|ERROR)\]/, 'not even an informational finding');
  const objects = render(ALL_ON);
  t.ok(findObject(objects, 'ServiceMonitor'), 'a ServiceMonitor');
  t.ok(findObject(objects, 'PrometheusRule'), 'a PrometheusRule');
  t.ok(objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'wi-dashboard'), 'the dashboard ConfigMap');
});

void t.test('the PrometheusRule: release labels for the operator\'s selector, the Service\'s name as the job, `for:` and thresholds from values', async (t) => {
  const objects = render(['--set', 'monitoring.prometheusRule.enabled=true', '--set', 'monitoring.prometheusRule.labels.release=kube-prometheus-stack', '--set', 'monitoring.prometheusRule.alertLabels.team=platform',
    '--set', 'monitoring.prometheusRule.for.WiAdmissionInventoryStale=42s', '--set-json', 'monitoring.prometheusRule.thresholds.latencySeconds=0.25', '--set', 'monitoring.prometheusRule.thresholds.certificateExpiryDays=14', '--set', 'webhook.timeoutSeconds=3']);
  const rule = findObject(objects, 'PrometheusRule');
  t.match(rule?.metadata, { name: 'wi', namespace: 'wi-system', labels: { release: 'kube-prometheus-stack', 'app.kubernetes.io/instance': 'wi' } });
  const rules = rulesOf(objects);
  t.same(rules.map((r) => r.alert).sort(), Object.keys(values.monitoring.prometheusRule.for).sort(), 'one alert per `for:` value, and a `for:` value per alert');
  for (const r of rules) {
    t.equal(r.labels.team, 'platform', `${r.alert}: alertLabels added`);
    t.match(r.labels.severity, /^(critical|warning|info)$/, `${r.alert}: a severity`);
  }
  const byName = new Map(rules.map((r) => [r.alert, r]));
  t.equal(byName.get('WiAdmissionInventoryStale')?.for, '42s');
  t.equal(byName.get('WiAdmissionDown')?.for, values.monitoring.prometheusRule.for.WiAdmissionDown, 'the others keep their defaults');
  t.equal(byName.get('WiAdmissionDown')?.expr, 'absent(up{job="wi"} == 1)', 'the job the ServiceMonitor gives: the Service\'s name');
  t.match(byName.get('WiAdmissionLatencyHigh')?.expr, /> 0\.25$/);
  t.match(byName.get('WiAdmissionLatencyHigh')?.annotations.description, /webhook\.timeoutSeconds \(3 s\)/, 'the description names the configured timeout');
  t.match(byName.get('WiAdmissionCertificateExpiring')?.expr, /< 14 \* 86400$/);
  const job = rulesOf(render(['--set', 'monitoring.prometheusRule.enabled=true', '--set', 'monitoring.prometheusRule.job=webhooks/wi']));
  t.equal(job.find((r) => r.alert === 'WiAdmissionReplicaDown')?.expr, 'up{job="webhooks/wi"} == 0', 'monitoring.prometheusRule.job for a scrape config of its own');
});

void t.test('the ServiceMonitor scrapes the metrics port with the operator\'s selector labels', async (t) => {
  const objects = render(['--set', 'monitoring.serviceMonitor.enabled=true', '--set', 'monitoring.serviceMonitor.interval=15s', '--set', 'monitoring.serviceMonitor.labels.release=kube-prometheus-stack']);
  t.match(findObject(objects, 'ServiceMonitor'), {
    metadata: { name: 'wi', namespace: 'wi-system', labels: { release: 'kube-prometheus-stack' } },
    spec: { selector: { matchLabels: { 'app.kubernetes.io/instance': 'wi' } }, endpoints: [{ port: 'metrics', path: '/metrics', interval: '15s' }] },
  });
  t.ok((findObject(objects, 'Service') as unknown as { spec: { ports: { name: string }[] } }).spec.ports.some((p) => p.name === 'metrics'), 'the Service has that port');
});

void t.test('the dashboard ConfigMap: the sidecar\'s label, the committed dashboard, the configured timeout', async (t) => {
  const objects = render(['--set', 'monitoring.dashboard.enabled=true', '--set', 'webhook.timeoutSeconds=7', '--set', 'monitoring.dashboard.annotations.grafana_folder=Admission', '--set', 'monitoring.dashboard.namespace=monitoring']);
  const configMap = objects.find((o) => o.metadata.name === 'wi-dashboard');
  t.match(configMap?.metadata, { namespace: 'monitoring', labels: { grafana_dashboard: '1' }, annotations: { grafana_folder: 'Admission' } });
  const dashboard = dashboardIn(objects);
  const timeout = dashboard.templating.list.find((v) => v.name === 'webhook_timeout');
  t.match(timeout, { type: 'constant', query: '7', current: { value: '7' } }, 'the latency panel\'s timeout line is webhook.timeoutSeconds');
  const expected = structuredClone(committedDashboard);
  const committedTimeout = expected.templating.list.find((v) => v.name === 'webhook_timeout');
  if (committedTimeout) Object.assign(committedTimeout, { query: '7', current: { text: '7', value: '7' } });
  t.same(dashboard, expected, 'otherwise the committed dashboard, unchanged');
  t.equal(dashboardIn(render(['--set', 'monitoring.dashboard.enabled=true'])).templating.list.find((v) => v.name === 'webhook_timeout')?.query, '5', 'the default timeout');
});

void t.test('monitoring values the chart refuses, naming them', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--set', 'monitoring.prometheusRule.enabled=true', '--set', 'monitoring.prometheusRule.thresholds.latencySeconds=5'], /latencySeconds/],
    [['--set', 'monitoring.prometheusRule.enabled=true', '--set', 'webhook.timeoutSeconds=1', '--set', 'monitoring.prometheusRule.thresholds.latencySeconds=1'], /latencySeconds 1 is not under webhook\.timeoutSeconds \(1\)/],
    [['--set', 'monitoring.prometheusRule.for.WiAdmissionDown=soon'], /WiAdmissionDown/],
    [['--set', 'monitoring.prometheusRule.for.SomeOtherAlert=5m'], /SomeOtherAlert/],
    [['--set', 'monitoring.prometheusRule.thresholds.inventoryAgeFraction=1'], /inventoryAgeFraction/],
    [['--set', 'serviceMonitor.enabled=true'], /serviceMonitor/],
  ];
  for (const [args, pattern] of cases) t.match(renderChartError([...TENANT, ...args]), pattern, args.join(' '));
});
