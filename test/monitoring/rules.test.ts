// The alerting rules: the documented file is the chart's PrometheusRule with
// its default values; each alert carries what the person paged needs; and
// the real promtool checks the file and runs its unit tests, in which every
// alert fires, not before its `for:`, and clears.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { RULES_FILE, renderRulesFile } from '../../scripts/monitoring/rules.js';
import { findPrometheusTools } from '../helpers/prometheus.js';

const UNIT_TESTS = new URL('./wi-admission.rules.test.yaml', import.meta.url).pathname;
const tools = findPrometheusTools();
const committed = readFileSync(RULES_FILE, 'utf8');
const rules = (parse(committed) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const values = parse(readFileSync(new URL('../../charts/wi-admission/values.yaml', import.meta.url), 'utf8')) as { monitoring: { runbookUrl: string; prometheusRule: { for: Record<string, string> } } };
const operations = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface UnitTests {
  rule_files: string[];
  tests: { name: string; alert_rule_test: { eval_time: string; alertname: string; exp_alerts: unknown[] }[] }[];
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

/** `90m`, `1d`, `30s` → minutes, for ordering eval times. */
function minutes(duration: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(duration);
  if (!match) throw new Error(`unreadable duration ${duration}`);
  return Number(match[1]) * { s: 1 / 60, m: 1, h: 60, d: 1440 }[match[2] as 's' | 'm' | 'h' | 'd'];
}

void t.test('docs/alerts/wi-admission.rules.yaml is the chart\'s PrometheusRule rendered with the default values', async (t) => {
  t.ok(rules.length >= 10, 'the file has the alerts');
  t.equal(committed, renderRulesFile(), 'unchanged since `npm run monitoring:generate`');
});

void t.test('every alert: a severity, a summary, a description, and a runbook_url to its own section of docs/operations.md; its `for:` is a chart value', async (t) => {
  const anchors = new Set([...operations.matchAll(/^#{2,4} (.+)$/gm)].map((m) => anchorOf(m[1] ?? '')));
  t.same(rules.map((r) => r.alert).sort(), Object.keys(values.monitoring.prometheusRule.for).sort(), 'monitoring.prometheusRule.for names exactly the alerts');
  for (const rule of rules) {
    t.match(rule.labels.severity, /^(critical|warning|info)$/, `${rule.alert}: severity`);
    t.equal(rule.for, values.monitoring.prometheusRule.for[rule.alert], `${rule.alert}: for: is its value`);
    t.ok((rule.annotations.summary ?? '').length > 10, `${rule.alert}: summary`);
    t.ok((rule.annotations.description ?? '').length > 80, `${rule.alert}: a description that says what to check`);
    const url = rule.annotations.runbook_url ?? '';
    t.equal(url, `${values.monitoring.runbookUrl}#${anchorOf(rule.alert)}`, `${rule.alert}: runbook_url`);
    t.ok(anchors.has(anchorOf(rule.alert)), `${rule.alert}: docs/operations.md has the section`);
  }
});

void t.test('promtool check rules accepts the file', { skip: tools.ok ? false : tools.reason }, async (t) => {
  if (!tools.ok) return;
  const check = spawnSync(tools.promtool, ['check', 'rules', RULES_FILE], { encoding: 'utf8' });
  t.equal(check.status, 0, check.stdout + check.stderr);
  t.match(check.stdout, `SUCCESS: ${rules.length} rules found`);
});

void t.test('promtool test rules: every alert fires, not before its `for:`, and clears', { skip: tools.ok ? false : tools.reason }, async (t) => {
  if (!tools.ok) return;
  const unit = parse(readFileSync(UNIT_TESTS, 'utf8')) as UnitTests;
  t.same(unit.rule_files, ['../../docs/alerts/wi-admission.rules.yaml'], 'the unit tests load the documented file');
  for (const rule of rules) {
    // In one test case: quiet at some time, firing later, quiet again after that.
    const shown = unit.tests.some((c) => {
      const evals = c.alert_rule_test.filter((a) => a.alertname === rule.alert).map((a) => ({ at: minutes(a.eval_time), firing: a.exp_alerts.length > 0 }));
      return evals.some((fire) => fire.firing && evals.some((e) => !e.firing && e.at < fire.at) && evals.some((e) => !e.firing && e.at > fire.at));
    });
    t.ok(shown, `${rule.alert}: a case where it is quiet, fires, then clears`);
  }
  const run = spawnSync(tools.promtool, ['test', 'rules', UNIT_TESTS], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stdout + run.stderr);
  t.match(run.stdout, /SUCCESS/);

  // The unit tests compare whole alerts: one expected summary changed must fail them.
  const dir = t.testdir({});
  const altered = readFileSync(UNIT_TESTS, 'utf8').replace('summary: wi-admission\'s p99 latency (mutate) is 991ms.', 'summary: wi-admission\'s p99 latency (mutate) is 990ms.');
  t.not(altered, readFileSync(UNIT_TESTS, 'utf8'), 'an expectation was altered');
  writeFileSync(join(dir, 'altered.test.yaml'), altered.replace('../../docs/alerts/wi-admission.rules.yaml', RULES_FILE));
  const failing = spawnSync(tools.promtool, ['test', 'rules', join(dir, 'altered.test.yaml')], { encoding: 'utf8' });
  t.equal(failing.status, 1, 'promtool fails on the altered expectation');
  t.match(failing.stdout + failing.stderr, /is 991ms/, 'and shows what the rule gave');
});
