// Every metric an alert, a dashboard panel or a dashboard variable names is
// one the running server exports on /metrics, and every label they match or
// group by is one that metric has (or one a scrape adds).
import t from 'tap';
import { createMetrics } from '../../src/metrics.js';
import { startHarness, waitReady } from '../helpers/harness.js';
import { getText } from '../helpers/https-client.js';
import { alertQueries, panelQueries, variableQueries } from './queries.js';

const examples = new URL('../../examples/', import.meta.url).pathname;
/** Labels Prometheus adds to every scraped series (the Prometheus Operator adds namespace). */
const TARGET_LABELS = ['job', 'instance', 'namespace'];
const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/;

/** The metric names in `expr` (the server's; `up` and functions are Prometheus's own). */
function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\bwi_admission_[a-z0-9_]+/g) ?? [])];
}

/** Label names in matchers and in by/on/without/group_left/group_right lists. */
function labelNames(expr: string): string[] {
  const inMatchers = [...expr.matchAll(/[{,]\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"/g)].map((m) => m[1] ?? '');
  const inLists = [...expr.matchAll(/\b(?:by|on|without|group_left|group_right)\s*\(([^)]*)\)/g)].flatMap((m) => (m[1] ?? '').split(',').map((l) => l.trim()));
  return [...new Set([...inMatchers, ...inLists].filter((l) => l !== ''))];
}

void t.test('every query names metrics the running server exports, with labels they have', async (t) => {
  const h = await startHarness(t, ['--policy', `${examples}policy.yaml`, '--identities', `file:${examples}identities.json`]);
  await waitReady(h);
  const exposition = (await getText(h.server.metricsPort, '/metrics')).body;
  const exported = new Map([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
  t.ok(exported.size > 20, 'the server exported its metrics');
  const labelsOf = new Map(
    (createMetrics({ defaultMetrics: false }).registry.getMetricsAsArray() as unknown as { name: string; labelNames: readonly string[] }[]).map((m) => [m.name, m.labelNames]),
  );

  const queries = [...alertQueries(), ...panelQueries(), ...variableQueries()];
  t.ok(queries.length > 25, 'the alerts, panels and variables were read');
  for (const { where, expr } of queries) {
    const names = metricNames(expr);
    t.ok(names.length > 0 || /\bup\{|^vector\(/.test(expr), `${where}: names a metric`);
    const allowed = new Set([...TARGET_LABELS, '__name__']);
    for (const name of names) {
      const base = exported.has(name) ? name : name.replace(HISTOGRAM_SUFFIX, '');
      const histogramPart = base !== name;
      t.ok(exported.has(base) && (!histogramPart || exported.get(base) === 'histogram'), `${where}: ${name} is exported by the server`);
      for (const label of labelsOf.get(base) ?? []) allowed.add(label);
      if (histogramPart) allowed.add('le');
    }
    for (const label of labelNames(expr)) t.ok(allowed.has(label), `${where}: label ${label} is one of ${names.join(', ') || 'the target'}'s`);
  }
});
