// The committed dashboard is what scripts/monitoring/dashboard.ts builds, and
// has the panels docs/operations.md describes, each querying the chosen data
// source and scrape jobs.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { DASHBOARD_FILE, dashboardJson } from '../../scripts/monitoring/dashboard.js';
import { committedDashboard } from './queries.js';

const operations = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

void t.test('charts/wi-admission/dashboards/wi-admission.json is what the builder builds', async (t) => {
  t.equal(readFileSync(DASHBOARD_FILE, 'utf8'), dashboardJson(), 'unchanged since `npm run monitoring:generate`');
});

void t.test('the panels: admissions, latency against the timeout, denials and warnings, inventory, caches, reloads, certificate, readiness, audit violations', async (t) => {
  const dashboard = committedDashboard();
  const panels = dashboard.panels.filter((p) => p.type !== 'row');
  t.same(panels.map((p) => p.title), [
    'Admissions per second',
    'Latency against the timeout',
    'Denials and warnings by reason',
    'Inventory age',
    'Inventory size',
    'Cache sizes',
    'Reloads',
    'Certificate expiry',
    'Readiness checks',
    'Audit violations',
  ]);
  const section = operations.slice(operations.indexOf('### Dashboard'));
  for (const panel of panels) {
    t.ok(section.includes(`| ${panel.title}`), `${panel.title}: described in docs/operations.md`);
    t.ok((panel.targets ?? []).length > 0, `${panel.title}: has queries`);
    for (const target of panel.targets ?? []) {
      t.equal(target.datasource?.uid, '${datasource}', `${panel.title} ${target.refId}: the chosen data source`);
      if (target.expr.includes('wi_admission_')) t.match(target.expr, /job=~"\$job"/, `${panel.title} ${target.refId}: the chosen jobs`);
    }
  }
  const latency = panels.find((p) => p.title === 'Latency against the timeout');
  t.ok(latency?.targets?.some((q) => q.expr === 'vector($webhook_timeout)'), 'the timeout line');
  t.ok(latency?.targets?.some((q) => q.expr.startsWith('histogram_quantile(0.99,')) && latency.targets.some((q) => q.expr.startsWith('histogram_quantile(0.5,')), 'p50 and p99');
  t.match(dashboard.templating.list.map((v) => [v.name, v.type]), [['datasource', 'datasource'], ['job', 'query'], ['webhook_timeout', 'constant']]);
});
