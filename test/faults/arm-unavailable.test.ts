// ARM unavailable, on the real executable with an `arm:` identity source (see
// arm-server.ts for how it reaches the stand-ins with TLS verification on):
// down at start, down later, and a rejected client secret. Every test also
// checks that neither the client secret nor a token reaches the logs.
import t from 'tap';
import { eventually, getText } from '../helpers/https-client.js';
import { BILLING, CHECKOUT, assertArmLogsClean, metricsText, startArmServer } from './arm-server.js';
import { sumMetric } from './support.js';

void t.test('ARM down at start: not ready, admissions answer onInventoryUnavailable; ready and approving once ARM is back', async (t) => {
  const s = await startArmServer(t, ['--identity-refresh', '2s'], (arm) => {
    arm.down = true;
  });
  await eventually(async () => sumMetric(await metricsText(s), 'wi_admission_inventory_refreshes_total', { result: 'error' }) >= 1, 30_000, 'a failed listing');
  const readyz = await getText(s.healthPort, '/readyz');
  t.equal(readyz.status, 503);
  t.match(JSON.parse(readyz.body), { ready: false, checks: { identityInventory: false, serviceAccounts: true, certificate: true } });
  const denied = await s.validate('u-down', CHECKOUT);
  t.equal(denied.allowed, false, 'onInventoryUnavailable: deny (the example policy)');
  t.equal(denied.status?.code, 403);
  t.match(denied.status?.message, new RegExp(`uses client ID ${CHECKOUT}, which cannot be checked now: the identity inventory is unavailable \\(the identity inventory has not loaded yet \\(last listing failed: arm:/subscriptions/[^)]*503`));
  t.match(denied.status?.message, /\[InventoryUnavailable\]$/);
  t.ok(s.logLines().some((l) => l.msg === 'inventory listing failed' && l.level === 40 && l.component === 'inventory'), 'logged at warn');

  s.arm.down = false;
  await eventually(() => s.ready(), 30_000, 'ready once ARM answers');
  t.same(await s.validate('u-up', CHECKOUT), { uid: 'u-up', allowed: true }, 'approved');
  t.match((await s.validate('u-billing', BILLING)).status?.message, /\[IdentityNotApproved\]$/, 'and the policy applies to what ARM lists');
  assertArmLogsClean(t, s);
});

void t.test('ARM down later: the last good inventory answers up to --identity-max-staleness, then onInventoryUnavailable; recovery', async (t) => {
  const s = await startArmServer(t, ['--identity-refresh', '1s', '--identity-max-staleness', '15s']);
  await eventually(() => s.ready(), 30_000, 'ready');
  t.same(await s.validate('u1', CHECKOUT), { uid: 'u1', allowed: true });

  s.arm.down = true;
  await eventually(async () => sumMetric(await metricsText(s), 'wi_admission_inventory_refreshes_total', { result: 'error' }) >= 1, 20_000, 'a failed refresh');
  t.same(await s.validate('u2', CHECKOUT), { uid: 'u2', allowed: true }, 'the stale inventory still approves');
  // The counter is read over HTTP, the log line through the child's stdout: the line may arrive a moment later.
  await eventually(() => s.logLines().some((l) => l.msg === 'inventory refresh failed, serving the last good inventory' && l.level === 40), 5000, 'the failed refresh logged at warn');
  t.ok(await s.ready(), 'still ready: the policy decides what a stale inventory means');

  await eventually(async () => !(await s.validate('u-poll', CHECKOUT)).allowed, 30_000, 'past the maximum staleness');
  const late = await s.validate('u3', CHECKOUT);
  t.match(late.status?.message, /which cannot be checked now: the identity inventory is unavailable \(the identity inventory is \d+ s old, older than the 15 s allowed \(last listing failed: .*\)\)\. .*\[InventoryUnavailable\]$/);
  t.equal(s.logLines().filter((l) => l.msg === 'inventory too stale to use' && l.level === 50).length, 1, 'logged once, at error');
  t.ok((await metricsText(s)).includes('wi_admission_inventory_lookups_total{result="unavailable"}'), 'counted as unavailable');

  s.arm.down = false;
  await eventually(async () => (await s.validate('u-back', CHECKOUT)).allowed, 30_000, 'approved again once ARM answers');
  assertArmLogsClean(t, s);
});

void t.test('a rejected client secret: not ready, onInventoryUnavailable, and neither secret nor token in the logs', async (t) => {
  const s = await startArmServer(t, ['--identity-refresh', '2s'], (arm) => {
    arm.clientSecret = 'the-secret-entra-expects';
  });
  await eventually(() => s.logLines().some((l) => l.msg === 'inventory listing failed'), 30_000, 'a failed listing');
  t.equal(s.arm.armRequests().length, 0, 'without a token nothing reached ARM');
  t.ok(s.arm.requests.some((r) => r.url.includes('/oauth2/v2.0/token') && r.status === 401), 'the token request was refused');
  t.notOk(await s.ready(), 'not ready');
  const denied = await s.validate('u-auth', CHECKOUT);
  t.match(denied, { allowed: false, status: { code: 403 } });
  t.match(denied.status?.message, /\[InventoryUnavailable\]$/);
  assertArmLogsClean(t, s);
});
