// The alerting rules as the chart renders them (templates/prometheusrule.yaml),
// as a plain Prometheus rules file: what docs/alerts/wi-admission.rules.yaml
// holds with the default values, and what the tests load into promtool and
// prometheus with their own values (shorter `for:` durations).
import { execFileSync } from 'node:child_process';
import { helmBinary } from '../../test/helpers/helm.js';

const CHART = new URL('../../charts/wi-admission', import.meta.url).pathname;
/** The documented rules file, for Prometheus without the operator. */
export const RULES_FILE = new URL('../../docs/alerts/wi-admission.rules.yaml', import.meta.url).pathname;
/** The release and namespace the documented file is rendered for; its job label is the release's name. */
export const DOCUMENTED_RELEASE = 'wi-admission';

const HEADER = `# wi-admission's alerting rules, for a Prometheus without the Prometheus
# Operator (with it, set monitoring.prometheusRule.enabled in the chart).
# Load this file from prometheus.yml's rule_files and scrape every replica's
# /metrics (--metrics-addr) under \`job_name: ${DOCUMENTED_RELEASE}\`, the job that
# WiAdmissionDown and WiAdmissionReplicaDown name. Thresholds and \`for:\`
# durations are the chart's defaults (values.yaml, monitoring.prometheusRule).
# docs/operations.md ("Alerts") says what each alert means and what to do.
#
# Generated from charts/wi-admission/templates/prometheusrule.yaml with the
# default values by \`npm run monitoring:generate\`; a test fails when the two
# differ.
`;

/**
 * The \`groups:\` of the chart's PrometheusRule rendered with \`values\`
 * (helm --set arguments), as a rules file Prometheus and promtool read, with
 * the header that says where it comes from.
 */
export function renderRulesFile(values: readonly string[] = []): string {
  const manifest = execFileSync(
    helmBinary(),
    ['template', DOCUMENTED_RELEASE, CHART, '-n', DOCUMENTED_RELEASE, '--show-only', 'templates/prometheusrule.yaml',
      '--set', 'azureTenantID=00000000-0000-0000-0000-000000000000', '--set', 'monitoring.prometheusRule.enabled=true', ...values],
    { encoding: 'utf8' },
  );
  const lines = manifest.split('\n');
  const spec = lines.indexOf('spec:');
  if (spec === -1) throw new Error(`the chart rendered no PrometheusRule spec:\n${manifest}`);
  const body = lines.slice(spec + 1).map((line) => line.replace(/^ {2}/, ''));
  return `${HEADER}${body.join('\n').trimEnd()}\n`;
}
