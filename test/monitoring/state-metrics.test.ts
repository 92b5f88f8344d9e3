// The gauges the alerts read, on the running server: each /readyz check,
// the policy file's last reload, and --identity-max-staleness.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { metricValue } from '../faults/support.js';
import { startHarness, waitReady } from '../helpers/harness.js';
import { eventually, getText } from '../helpers/https-client.js';

const examples = new URL('../../examples/', import.meta.url).pathname;
const POLICY = readFileSync(join(examples, 'policy.yaml'), 'utf8');

void t.test('wi_admission_readiness_check follows /readyz check by check; the maximum staleness is --identity-max-staleness', async (t) => {
  const h = await startHarness(t, ['--identities', `file:${examples}identities.json`, '--identity-refresh', '60s', '--identity-max-staleness', '90s']);
  let readyz: { ready: boolean; checks: Record<string, boolean> } | undefined;
  let metrics = '';
  await eventually(
    async () => {
      readyz = JSON.parse((await getText(h.server.healthPort, '/readyz')).body) as typeof readyz;
      metrics = (await getText(h.server.metricsPort, '/metrics')).body;
      const checks = Object.entries(readyz?.checks ?? {});
      return readyz?.ready === true && checks.every(([check, ok]) => metricValue(metrics, 'wi_admission_readiness_check', { check }) === (ok ? 1 : 0));
    },
    30_000,
    () => `ready, with the gauge agreeing: ${JSON.stringify(readyz)}\n${metrics}`,
  );
  const checks = Object.keys(readyz?.checks ?? {});
  t.ok(checks.length >= 5, 'every check of /readyz');
  t.same(
    checks.map((check) => metricValue(metrics, 'wi_admission_readiness_check', { check })),
    checks.map(() => 1),
    'each at 1 while ready',
  );
  t.equal(metricValue(metrics, 'wi_admission_inventory_max_staleness_seconds'), 90);
});

void t.test('a check that fails reads 0: the inventory before its first listing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wi-identities-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // An identities file that does not parse: the first listing fails, so the inventory never loads.
  writeFileSync(join(dir, 'identities.json'), '[{"clientId": ');
  const h = await startHarness(t, ['--identities', `file:${join(dir, 'identities.json')}`]);
  await eventually(async () => metricValue((await getText(h.server.metricsPort, '/metrics')).body, 'wi_admission_readiness_check', { check: 'identityInventory' }) === 0, 30_000, 'identityInventory read as 0');
  const readyz = JSON.parse((await getText(h.server.healthPort, '/readyz')).body) as { checks: Record<string, boolean> };
  t.equal(readyz.checks.identityInventory, false, '/readyz says the same');
  t.equal(metricValue((await getText(h.server.metricsPort, '/metrics')).body, 'wi_admission_readiness_check', { check: 'certificate' }), 1, 'the other checks still hold');
});

void t.test('wi_admission_policy_last_reload_successful: 0 while a rejected edit is on disk, 1 once a valid one replaces it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wi-policy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, POLICY);
  const h = await startHarness(t, ['--policy', policy]);
  await waitReady(h);
  const gauge = async (): Promise<number | undefined> => metricValue((await getText(h.server.metricsPort, '/metrics')).body, 'wi_admission_policy_last_reload_successful');
  t.equal(await gauge(), 1, 'the policy loaded');
  writeFileSync(policy, 'apiVersion: wi-admission.io/v1\nkind: IdentityPolicy\nspec: {defaultAction: sometimes}\n');
  await eventually(async () => (await gauge()) === 0, 20_000, 'the rejected edit read as 0');
  writeFileSync(policy, POLICY.replace('onMissingFederatedCredential: warn', 'onMissingFederatedCredential: audit'));
  await eventually(async () => (await gauge()) === 1, 20_000, 'the valid edit read as 1');
  t.pass('0 after the rejected edit, 1 after the valid one');
});

void t.test('without a policy nothing was rejected: the gauge reads 1', async (t) => {
  const h = await startHarness(t);
  t.equal(metricValue((await getText(h.server.metricsPort, '/metrics')).body, 'wi_admission_policy_last_reload_successful'), 1);
});

void t.test('InternalError answers are counted from 0, so the first one is an increase Prometheus sees', async (t) => {
  const h = await startHarness(t);
  const text = (await getText(h.server.metricsPort, '/metrics')).body;
  for (const webhook of ['mutate', 'validate']) {
    t.equal(metricValue(text, 'wi_admission_requests_total', { webhook, decision: 'denied', reason: 'InternalError' }), 0, `${webhook}: at 0 before any admission`);
  }
});
