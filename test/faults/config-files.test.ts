// The policy and identities files going bad while serving (deleted, replaced
// by garbage, both at once in a ConfigMap volume update): the last good one
// keeps deciding, the failure is logged and counted, and the next good
// version applies. The whole server over real TLS.
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startHarness, waitReady, type Harness } from '../helpers/harness.js';
import { eventually, getText, post } from '../helpers/https-client.js';
import { serviceAccountReview } from '../helpers/reviews.js';
import { assertNoSecrets, atomicWriterDir, clientIdAnnotation, KUBE_TOKEN, readMetric, sumMetric, type ReviewResponse } from './support.js';

const examples = new URL('../../examples/', import.meta.url).pathname;
const CHECKOUT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
const BILLING = '0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b';
const POLICY = readFileSync(join(examples, 'policy.yaml'), 'utf8');
const IDENTITIES = readFileSync(join(examples, 'identities.json'), 'utf8');
/** The example policy with its team rule turned into a warning. */
const RELAXED = POLICY.replace(/action: deny\n {4}- name: no-default/, 'action: warn\n    - name: no-default');
const GARBAGE_POLICY = 'apiVersion: wi-admission.io/v1\nkind: IdentityPolicy\nspec: {defaultAction: sometimes}\n';
const NEW_IDENTITY = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
/** The example identities plus one more, tagged for checkout. */
const MORE_IDENTITIES = JSON.stringify([
  ...(JSON.parse(IDENTITIES) as unknown[]),
  {
    clientId: NEW_IDENTITY,
    id: '/subscriptions/3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9/resourcegroups/rg-checkout-prod/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-checkout-batch-prod',
    name: 'id-checkout-batch-prod',
    principalId: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a',
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    tags: { owner: 'checkout-team', environment: 'prod', 'kubernetes.clusters': 'aks-prod-*' },
    federatedCredentials: [{ name: 'checkout-api', issuer: 'https://oidc.example/', subject: 'system:serviceaccount:checkout-prod:checkout-api', audiences: ['api://AzureADTokenExchange'] }],
  },
]);

async function validate(h: Harness, uid: string, clientId: string): Promise<ReviewResponse> {
  const res = await post(h.server.webhookPort, '/validate', serviceAccountReview(uid, clientId), { ca: h.ca });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body}`);
  return (res.json as { response: ReviewResponse }).response;
}

async function metricsText(h: Harness): Promise<string> {
  return (await getText(h.server.metricsPort, '/metrics')).body;
}

function plainFiles(dir: string): void {
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  writeFileSync(join(dir, 'identities.json'), IDENTITIES);
}

void t.test('the policy file deleted: the last good policy keeps deciding, logged and counted; a restored file applies', async (t) => {
  const h = await startWith(t, plainFiles);
  await waitReady(h);
  const denied = await validate(h, 'u1', BILLING);
  t.match(denied, { allowed: false, status: { code: 403 } });
  t.match(denied.status?.message, /\[IdentityNotApproved\]$/);

  unlinkSync(join(h.configDir, 'policy.yaml'));
  await eventually(async () => (await readMetric(h.server.metricsPort, 'wi_admission_policy_reloads_total', { result: 'error' })) >= 1, 20_000, 'the failed reload counted');
  t.same(await validate(h, 'u2', BILLING), { ...denied, uid: 'u2' }, 'the same answer as before the file went away');
  const line = h.sink.lines.find((l) => l.msg === 'policy rejected, keeping the last good policy');
  t.match(line, { level: 40, component: 'policy', path: join(h.configDir, 'policy.yaml'), error: /cannot read .*policy\.yaml: no such file or directory$/ });
  t.equal((await getText(h.server.healthPort, '/readyz')).status, 200, 'still ready: it still decides');

  writeFileSync(join(h.configDir, 'policy.yaml'), RELAXED);
  await eventually(async () => (await validate(h, 'u3', BILLING)).allowed, 20_000, 'the restored (relaxed) policy applies');
  t.match((await validate(h, 'u4', BILLING)).warnings?.[0], /rule "team-must-own-identity" requires tag owner=checkout-team/);
  t.ok(h.sink.lines.some((l) => l.msg === 'policy loaded' && l.component === 'policy'), 'the reload is logged');
});

void t.test('the identities file deleted or replaced by garbage: the last good inventory keeps answering, logged and counted; the next good file applies', async (t) => {
  const h = await startWith(t, plainFiles);
  await waitReady(h);
  t.same(await validate(h, 'u1', CHECKOUT), { uid: 'u1', allowed: true });
  t.equal(await readMetric(h.server.metricsPort, 'wi_admission_inventory_identities'), 2);

  const path = join(h.configDir, 'identities.json');
  for (const [what, damage] of [['deleted', () => unlinkSync(path)], ['garbage', () => writeFileSync(path, '{ "identities": [ {"clientId": ')]] as const) {
    const errors = sumMetric(await metricsText(h), 'wi_admission_inventory_refreshes_total', { result: 'error' });
    const logged = h.sink.lines.length;
    damage();
    await eventually(async () => sumMetric(await metricsText(h), 'wi_admission_inventory_refreshes_total', { result: 'error' }) > errors, 20_000, `${what}: the failed refresh counted`);
    t.same(await validate(h, `u-${what}`, CHECKOUT), { uid: `u-${what}`, allowed: true }, `${what}: still approved from the last good inventory`);
    t.equal(await readMetric(h.server.metricsPort, 'wi_admission_inventory_identities'), 2, `${what}: the inventory size is unchanged`);
    const line = h.sink.lines.slice(logged).find((l) => l.msg === 'inventory refresh failed, serving the last good inventory');
    t.match(line, { level: 40, component: 'inventory', reason: what === 'deleted' ? /identities\.json: cannot read: no such file or directory$/ : /identities\.json: /, err: { code: 'WIA_ERR_IDENTITIES_FILE_INVALID' } }, `${what}: logged at warn with the file and the cause`);
  }

  writeFileSync(path, MORE_IDENTITIES);
  await eventually(async () => (await readMetric(h.server.metricsPort, 'wi_admission_inventory_identities')) === 3, 20_000, 'the good file applies');
  t.same(await validate(h, 'u-new', NEW_IDENTITY), { uid: 'u-new', allowed: true }, 'the added identity is known');
});

void t.test('a ConfigMap volume update with garbage in both files keeps both last good versions; the next update applies both', async (t) => {
  let volume: ReturnType<typeof atomicWriterDir> | undefined;
  const h = await startWith(t, (dir) => {
    plainFiles(dir);
    volume = atomicWriterDir(dir);
    volume.adopt(['policy.yaml', 'identities.json']);
  });
  if (!volume) throw new Error('no volume');
  await waitReady(h);
  t.equal((await validate(h, 'u1', BILLING)).allowed, false);

  const text = await metricsText(h);
  const before = { policy: sumMetric(text, 'wi_admission_policy_reloads_total', { result: 'error' }), inventory: sumMetric(text, 'wi_admission_inventory_refreshes_total', { result: 'error' }) };
  volume.write({ 'policy.yaml': GARBAGE_POLICY, 'identities.json': 'not json' });
  await eventually(async () => {
    const now = await metricsText(h);
    return sumMetric(now, 'wi_admission_policy_reloads_total', { result: 'error' }) > before.policy && sumMetric(now, 'wi_admission_inventory_refreshes_total', { result: 'error' }) > before.inventory;
  }, 20_000, 'both failures counted');
  t.match(await validate(h, 'u2', BILLING), { allowed: false, status: { code: 403 } }, 'the last good policy still denies');
  t.same(await validate(h, 'u3', CHECKOUT), { uid: 'u3', allowed: true }, 'the last good inventory still approves');
  t.ok(h.sink.lines.some((l) => l.msg === 'policy rejected, keeping the last good policy' && String(l.error).includes('spec.defaultAction')), 'the policy error names the field');

  volume.write({ 'policy.yaml': RELAXED, 'identities.json': MORE_IDENTITIES });
  await eventually(async () => (await validate(h, 'u4', BILLING)).allowed && (await validate(h, 'u5', NEW_IDENTITY)).allowed, 20_000, 'both new versions apply');
  assertNoSecrets(t, h.sink.text(), { 'the kubeconfig token': KUBE_TOKEN, 'the serving private key': readFileSync(join(h.certDir, 'tls.key'), 'utf8') });
});

/** The server with --policy and --identities file:, both in `configDir`, which `write` fills before the start. */
async function startWith(t: Parameters<typeof startHarness>[0], write: (configDir: string) => void): Promise<Harness & { configDir: string }> {
  const configDir = join(t.testdirName, 'config');
  return Object.assign(
    await startHarness(t, ['--policy', join(configDir, 'policy.yaml'), '--identities', `file:${join(configDir, 'identities.json')}`, '--identity-refresh', '1s'], (_dir, api) => {
      mkdirSync(configDir, { recursive: true });
      write(configDir);
      api.putNamespace('checkout-prod', { 'platform.example.com/owner': 'checkout-team' });
      api.putServiceAccount('checkout-prod', 'checkout-api', clientIdAnnotation(CHECKOUT));
    }),
    { configDir },
  );
}
