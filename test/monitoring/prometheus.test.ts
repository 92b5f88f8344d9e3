// A real prometheus (Debian's package) scrapes the real server executable,
// with the chart's alerting rules (their `for:` shortened through the chart's
// values), while the server runs under two faults: a serving certificate
// near its expiry (3 days of validity) and an `arm:` identity source that
// starts failing (FakeArm down) with a short --identity-max-staleness.
// Prometheus's own /api/v1/alerts must show the matching alerts firing, and
// clearing once ARM answers again; every dashboard query must run on it and
// every panel show data.
import t from 'tap';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { renderRulesFile } from '../../scripts/monitoring/rules.js';
import { BILLING, CHECKOUT, startArmServer } from '../faults/arm-server.js';
import { eventually, post } from '../helpers/https-client.js';
import { findPrometheusTools, startPrometheus, type AlertState, type RunningPrometheus } from '../helpers/prometheus.js';
import { labelledPod, podReview, serviceAccountReview } from '../helpers/reviews.js';
import { asSentByGrafana, committedDashboard } from './queries.js';

const tools = findPrometheusTools();
const values = parse(readFileSync(new URL('../../charts/wi-admission/values.yaml', import.meta.url), 'utf8')) as { monitoring: { prometheusRule: { for: Record<string, string> } } };
/** Every alert's `for:` shortened to 2s, as a cluster admin would set it: through the chart's values. */
const SHORT_FOR = Object.keys(values.monitoring.prometheusRule.for).flatMap((alert) => ['--set', `monitoring.prometheusRule.for.${alert}=2s`]);
/** Generous: the machine is shared, and nothing here is a timing assertion. */
const DEADLINE_MS = 120_000;

async function alertsIn(prometheus: RunningPrometheus, state: AlertState['state']): Promise<AlertState[]> {
  return (await prometheus.alerts()).filter((a) => a.state === state);
}

async function waitForAlert(prometheus: RunningPrometheus, name: string, state: 'firing' | 'gone'): Promise<AlertState | undefined> {
  let found: AlertState | undefined;
  await eventually(
    async () => {
      await new Promise((r) => setTimeout(r, 250));
      found = (await prometheus.alerts()).find((a) => a.labels.alertname === name);
      return state === 'gone' ? found === undefined : found?.state === 'firing';
    },
    DEADLINE_MS,
    () => `${name} ${state}; alerts now: ${JSON.stringify(found)}`,
  );
  return found;
}

void t.test('a real Prometheus fires the certificate and stale-inventory alerts on the running server, and clears them', { skip: tools.ok ? false : tools.reason }, async (t) => {
  if (!tools.ok) return;
  const server = await startArmServer(t, ['--identity-refresh', '1s', '--identity-max-staleness', '20s'], undefined, { certificateValidDays: 3 });
  await eventually(() => server.ready(), 60_000, 'the server ready');
  const prometheus = await startPrometheus(t, tools.prometheus, {
    jobs: { 'wi-admission': [`127.0.0.1:${server.metricsPort}`] },
    rules: renderRulesFile(SHORT_FOR),
  });
  const instance = `127.0.0.1:${server.metricsPort}`;

  // A certificate valid for 3 days: within the 7 days of WiAdmissionCertificateExpiring.
  const expiring = await waitForAlert(prometheus, 'WiAdmissionCertificateExpiring', 'firing');
  t.match(expiring?.labels, { alertname: 'WiAdmissionCertificateExpiring', severity: 'warning', job: 'wi-admission', instance });
  t.match(expiring?.annotations.summary, new RegExp(`^The serving certificate of ${instance} expires in 2d 2[23]h `), 'the time left, from the server\'s expiry gauge');
  t.match(expiring?.annotations.runbook_url, /docs\/operations\.md#wiadmissioncertificateexpiring$/);
  await eventually(async () => (await prometheus.query('up{job="wi-admission"} == 1')).data?.result.length === 1, DEADLINE_MS, 'the server scraped');
  const quiet = (await prometheus.alerts()).map((a) => a.labels.alertname);
  for (const name of ['WiAdmissionDown', 'WiAdmissionReplicaDown', 'WiAdmissionNotReady', 'WiAdmissionInventoryStale', 'WiAdmissionInventoryUnavailable']) {
    t.notOk(quiet.includes(name), `${name} is not raised while the server answers and ARM lists`);
  }

  // Some of each decision, so every dashboard panel has something to show.
  const mutated = await post(server.webhookPort, '/mutate-v1-pod', JSON.stringify(podReview(labelledPod('web', 'checkout-api'), { uid: 'u-mutate', namespace: 'checkout-prod' })), { ca: server.ca });
  t.equal(mutated.status, 200);
  t.same(await server.validate('u-allowed', CHECKOUT), { uid: 'u-allowed', allowed: true });
  t.match(await server.validate('u-denied', BILLING), { allowed: false, status: { code: 403 } });
  const warned = await post(server.webhookPort, '/validate', serviceAccountReview('u-warned', CHECKOUT, 'batch-runner'), { ca: server.ca });
  t.match((warned.json as { response: { warnings?: string[] } }).response.warnings, [/NoMatchingFederatedCredential/], 'a warned admission');

  const dashboard = committedDashboard();
  for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
    let answers: { expr: string; status: string; error?: string | undefined; series: number }[] = [];
    await eventually(
      async () => {
        await new Promise((r) => setTimeout(r, 250));
        answers = await Promise.all((panel.targets ?? []).map(async (target) => {
          const answer = await prometheus.query(asSentByGrafana(target.expr));
          return { expr: target.expr, status: answer.status, error: answer.error, series: answer.data?.result.length ?? 0 };
        }));
        return answers.some((a) => a.series > 0);
      },
      DEADLINE_MS,
      () => `panel "${panel.title}" has data: ${JSON.stringify(answers)}`,
    );
    for (const answer of answers) t.equal(answer.status, 'success', `panel "${panel.title}": Prometheus runs ${answer.expr}${answer.error ? `: ${answer.error}` : ''}`);
    t.ok(answers.some((a) => a.series > 0), `panel "${panel.title}" shows data`);
  }

  // ARM stops answering: past half of the 20 s maximum staleness, then past all of it.
  server.arm.down = true;
  const stale = await waitForAlert(prometheus, 'WiAdmissionInventoryStale', 'firing');
  t.match(stale?.labels, { severity: 'warning', job: 'wi-admission', instance });
  t.match(stale?.annotations.summary, new RegExp(`^The identity inventory of ${instance} is [\\d.]+s old\\.$`));
  const unavailable = await waitForAlert(prometheus, 'WiAdmissionInventoryUnavailable', 'firing');
  t.match(unavailable?.labels, { severity: 'critical', job: 'wi-admission', instance });
  t.match((await server.validate('u-unavailable', CHECKOUT)).status?.message, /\[InventoryUnavailable\]$/, 'and the server answers onInventoryUnavailable, as the alert says');
  t.notOk((await alertsIn(prometheus, 'firing')).some((a) => a.labels.alertname === 'WiAdmissionNotReady'), 'the last good inventory keeps the replica ready: no WiAdmissionNotReady');

  // ARM back: the next listing succeeds and both alerts go.
  server.arm.down = false;
  await waitForAlert(prometheus, 'WiAdmissionInventoryStale', 'gone');
  await waitForAlert(prometheus, 'WiAdmissionInventoryUnavailable', 'gone');
  t.pass('both inventory alerts cleared once ARM answered');
  t.ok((await alertsIn(prometheus, 'firing')).some((a) => a.labels.alertname === 'WiAdmissionCertificateExpiring'), 'the certificate is still near its expiry');
});
