// docs/operations.md against the code: its metrics table is the metrics
// registry (names, types, labels), and its /readyz table is the list of
// checks a running server answers with. A metric or check added without a
// row, or a row left behind, fails here.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { createMetrics } from '../../src/metrics.js';
import { startHarness } from '../helpers/harness.js';
import { getText } from '../helpers/https-client.js';

const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

/** The rows of the first table under `## <heading>`: first cell (without backticks) → the other cells. */
function tableUnder(heading: string): Map<string, string[]> {
  const start = doc.indexOf(`\n## ${heading}`);
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start + 1, end === -1 ? undefined : end);
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const cells = /^\|(.*)\|$/.exec(line)?.[1]?.split('|').map((c) => c.trim());
    if (!cells || !/^`[a-zA-Z_]+`$/.test(cells[0] ?? '')) continue;
    rows.set((cells[0] ?? '').replace(/`/g, ''), cells.slice(1));
  }
  return rows;
}

void t.test('the metrics table lists every metric of the registry, with its type and labels', async (t) => {
  const documented = tableUnder('Metrics (`GET /metrics`)');
  const registry = createMetrics({ defaultMetrics: false }).registry.getMetricsAsArray() as unknown as { name: string; type: string; labelNames: readonly string[] }[];
  t.ok(registry.length > 10, 'the registry was read');
  t.same([...documented.keys()].sort(), registry.map((m) => m.name).sort(), 'the same metric names');
  for (const metric of registry) {
    const [type, labels] = documented.get(metric.name) ?? [];
    t.equal(type, metric.type, `${metric.name}: type`);
    t.same(labels?.split(',').map((l) => l.trim()).filter((l) => l !== ''), [...metric.labelNames], `${metric.name}: labels`);
  }
  for (const name of doc.matchAll(/\b(wi_admission_[a-z_]+?)(?:_bucket)?\b/g)) {
    const base = (name[1] ?? '').replace(/_bucket$/, '');
    const known = registry.some((m) => m.name === base) || /^wi_admission_(process|nodejs)_/.test(base);
    t.ok(known, `${base}, named in docs/operations.md, is a metric`);
  }
});

void t.test('the /readyz table lists every check a running server answers with', async (t) => {
  const h = await startHarness(t, ['--objects', new URL('../../examples/objects.yaml', import.meta.url).pathname]);
  const answer = JSON.parse((await getText(h.server.healthPort, '/readyz')).body) as { checks: Record<string, boolean> };
  t.ok(Object.keys(answer.checks).length > 3, 'the server answered with its checks');
  t.same([...tableUnder('Readiness (`GET /readyz`)').keys()].sort(), Object.keys(answer.checks).sort());
});
