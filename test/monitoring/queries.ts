// The PromQL of the alerts and the dashboard, read from the committed files,
// for the tests that hold it against the server and a real Prometheus.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DASHBOARD_FILE, WEBHOOK_TIMEOUT_VARIABLE } from '../../scripts/monitoring/dashboard.js';
import { RULES_FILE } from '../../scripts/monitoring/rules.js';

export interface NamedQuery {
  /** Where it is used: an alert, a panel (with the target's refId), a variable. */
  readonly where: string;
  readonly expr: string;
}

export interface DashboardPanel {
  readonly title: string;
  readonly type: string;
  readonly targets?: readonly { refId: string; expr: string; datasource?: { uid: string } }[];
}

export interface DashboardJson {
  readonly panels: readonly DashboardPanel[];
  readonly templating: { readonly list: readonly { name: string; type: string; query?: unknown }[] };
}

export function committedDashboard(): DashboardJson {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as DashboardJson;
}

export function alertQueries(): NamedQuery[] {
  const file = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return file.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })));
}

export function panelQueries(dashboard: DashboardJson = committedDashboard()): NamedQuery[] {
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((target) => ({ where: `panel "${p.title}" ${target.refId}`, expr: target.expr })));
}

export function variableQueries(dashboard: DashboardJson = committedDashboard()): NamedQuery[] {
  return dashboard.templating.list.filter((v) => v.type === 'query').map((v) => ({ where: `variable ${v.name}`, expr: String(v.query) }));
}

/** A panel query as Grafana sends it: its variables replaced (all jobs, a 1m rate interval, the default timeout). */
export function asSentByGrafana(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', '.*').replaceAll(`$${WEBHOOK_TIMEOUT_VARIABLE}`, '5');
}
