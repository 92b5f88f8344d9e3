// /validate over real TLS: policy file, identities file (az identity list
// shape) and the stand-in API server's Namespaces and ServiceAccounts.
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { eventually, GENEROUS_WAIT_MS, getText, post } from '../helpers/https-client.js';
import { startHarness, waitReady, type Harness } from '../helpers/harness.js';
import { serviceAccountReview } from '../helpers/reviews.js';

const examples = new URL('../../examples/', import.meta.url).pathname;
const CHECKOUT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
const BILLING = '0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b';

interface ReviewResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

async function harness(t: Parameters<typeof startHarness>[0], options: { identitiesPresent?: boolean; extraArgs?: string[] } = {}) {
  const paths = { policy: '', identities: '' };
  const h = await startHarnessWith(t, paths, options.identitiesPresent ?? true, options.extraArgs ?? []);
  return { ...h, paths };
}

async function startHarnessWith(
  t: Parameters<typeof startHarness>[0],
  paths: { policy: string; identities: string },
  identitiesPresent: boolean,
  extraArgs: string[],
): Promise<Harness> {
  // The harness creates the test directory; files are put there in `prepare`.
  paths.policy = join(t.testdirName, 'policy.yaml');
  paths.identities = join(t.testdirName, 'identities.json');
  return startHarness(t, ['--policy', paths.policy, '--identities', `file:${paths.identities}`, '--identity-refresh', '1s', ...extraArgs], (_dir, api) => {
    copyFileSync(join(examples, 'policy.yaml'), paths.policy);
    if (identitiesPresent) copyFileSync(join(examples, 'identities.json'), paths.identities);
    api.putNamespace('checkout-prod', { 'platform.example.com/owner': 'checkout-team' });
    api.putServiceAccount('checkout-prod', 'checkout-api', { 'azure.workload.identity/client-id': CHECKOUT });
  });
}

function deploymentReview(uid: string, labels: Record<string, string>, serviceAccountName = 'checkout-api'): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      namespace: 'checkout-prod',
      operation: 'CREATE',
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: 'checkout-prod' },
        spec: { template: { metadata: { labels }, spec: { serviceAccountName, containers: [{ name: 'web', image: 'web:1' }] } } },
      },
    },
  });
}

/** The AdmissionReview's response; anything but an HTTP 200 fails the test (not an assertion: callers poll with it). */
async function validate(h: Harness, body: string): Promise<ReviewResponse> {
  const res = await post(h.server.webhookPort, '/validate', body, { ca: h.ca });
  if (res.status !== 200) throw new Error(`/validate answered HTTP ${res.status}: ${res.body.slice(0, 300)}`);
  return (res.json as { response: ReviewResponse }).response;
}

void t.test('approved, denied with the full message, and a workload warning', async (t) => {
  const h = await harness(t);
  await waitReady(h);
  const approved = await validate(h, serviceAccountReview('u-ok', CHECKOUT));
  t.same(approved, { uid: 'u-ok', allowed: true }, 'the checkout identity is approved, no warnings');

  const denied = await validate(h, serviceAccountReview('u-deny', BILLING));
  t.equal(denied.allowed, false);
  t.equal(denied.status?.code, 403);
  t.equal(
    denied.status?.message,
    `wi-admission: ServiceAccount checkout-prod/checkout-api is not allowed to use client ID ${BILLING} (managed identity id-billing-worker-prod, resource group rg-billing-prod): ` +
      'rule "team-must-own-identity" requires tag owner=checkout-team, the identity has owner=billing-team. ' +
      'Use an identity tagged owner=checkout-team, or ask the platform team to approve this one. [IdentityNotApproved]',
  );
  t.equal(denied.auditAnnotations?.reasons, 'IdentityNotApproved');

  const warned = await validate(h, deploymentReview('u-label', { app: 'web' }));
  t.equal(warned.allowed, true);
  t.match(warned.warnings?.[0] ?? '', /Deployment checkout-prod\/web uses ServiceAccount checkout-api, which has a client ID, but its pods lack the label azure\.workload\.identity\/use: "true"/);

  const line = h.sink.lines.find((l) => l.msg === 'admission' && l.uid === 'u-deny');
  t.match(line, { webhook: 'validate', kind: 'ServiceAccount', namespace: 'checkout-prod', name: 'checkout-api', decision: 'denied', reason: 'IdentityNotApproved' });
  const metrics = await getText(h.server.metricsPort, '/metrics');
  t.match(metrics.body, /wi_admission_requests_total\{webhook="validate",decision="denied",reason="IdentityNotApproved"\} 1/);
  t.match(metrics.body, /wi_admission_inventory_identities 2/);
});

void t.test('a policy edited while serving takes effect; a bad edit keeps the last good one', async (t) => {
  const h = await harness(t);
  await waitReady(h);
  t.equal((await validate(h, serviceAccountReview('u1', BILLING))).allowed, false);
  // The platform team relaxes the rule to a warning, written as a careful writer does (rename).
  const relaxed = readFileSync(h.paths.policy, 'utf8').replace(/action: deny\n {4}- name: no-default/, 'action: warn\n    - name: no-default');
  writeFileSync(`${h.paths.policy}.tmp`, relaxed);
  renameSync(`${h.paths.policy}.tmp`, h.paths.policy);
  await eventually(async () => (await validate(h, serviceAccountReview('u2', BILLING))).allowed, GENEROUS_WAIT_MS, 'the relaxed policy applies');
  const warned = await validate(h, serviceAccountReview('u3', BILLING));
  t.match(warned.warnings?.[0] ?? '', /rule "team-must-own-identity" requires tag owner=checkout-team/);

  writeFileSync(h.paths.policy, 'apiVersion: wi-admission.io/v1\nkind: IdentityPolicy\nspec: {defaultAction: sometimes}\n');
  await eventually(async () => /wi_admission_policy_reloads_total\{result="error"\} [1-9]/.test((await getText(h.server.metricsPort, '/metrics')).body), GENEROUS_WAIT_MS, 'the bad edit is counted');
  t.equal((await validate(h, serviceAccountReview('u4', BILLING))).allowed, true, 'still the last good (relaxed) policy');
  t.ok(h.sink.lines.some((l) => l.msg === 'policy rejected, keeping the last good policy' && String(l.error).includes('spec.defaultAction')), 'the rejection names the field');
});

void t.test('identities missing at start: not ready and InventoryUnavailable; ready once the file appears', async (t) => {
  const h = await harness(t, { identitiesPresent: false });
  const readyz = await getText(h.server.healthPort, '/readyz');
  t.equal(readyz.status, 503);
  t.match(JSON.parse(readyz.body), { checks: { identityInventory: false } });
  const unavailable = await validate(h, serviceAccountReview('u-down', CHECKOUT));
  t.equal(unavailable.allowed, false);
  t.match(unavailable.status?.message ?? '', /cannot be checked now: the identity inventory is unavailable .*\[InventoryUnavailable\]/);
  copyFileSync(join(examples, 'identities.json'), h.paths.identities);
  await waitReady(h);
  t.equal((await validate(h, serviceAccountReview('u-up', CHECKOUT))).allowed, true, 'approved once the inventory loaded');
});

void t.test('the identity source failing later: the last good inventory serves until max staleness, then InventoryUnavailable', async (t) => {
  const h = await harness(t, { extraArgs: ['--identity-refresh', '300ms', '--identity-max-staleness', '3s'] });
  await waitReady(h);
  t.equal((await validate(h, serviceAccountReview('s1', CHECKOUT))).allowed, true);
  writeFileSync(h.paths.identities, '{ this is not json');
  await eventually(async () => /wi_admission_inventory_refreshes_total\{trigger="[a-z_]+",result="error"\} [1-9]/.test((await getText(h.server.metricsPort, '/metrics')).body), GENEROUS_WAIT_MS, 'a failed refresh');
  t.equal((await validate(h, serviceAccountReview('s2', CHECKOUT))).allowed, true, 'stale inventory still answers');
  await eventually(async () => !(await validate(h, serviceAccountReview('s3', CHECKOUT))).allowed, GENEROUS_WAIT_MS, 'past max staleness the inventory is unavailable');
  const late = await validate(h, serviceAccountReview('s4', CHECKOUT));
  t.match(late.status?.message ?? '', /\[InventoryUnavailable\]/);
});

void t.test('every kind over TLS: the whole response for a template binding the other team\'s identity', async (t) => {
  const h = await harness(t);
  await waitReady(h);
  const template = { metadata: { labels: { 'azure.workload.identity/use': 'true' } }, spec: { serviceAccountName: 'batch', containers: [{ name: 'c', image: 'i:1' }] } };
  const kinds: [string, string, unknown][] = [
    ['Pod', '', { metadata: { name: 'p', labels: template.metadata.labels }, spec: template.spec }],
    ['StatefulSet', 'apps', { metadata: { name: 'w' }, spec: { template } }],
    ['DaemonSet', 'apps', { metadata: { name: 'w' }, spec: { template } }],
    ['ReplicaSet', 'apps', { metadata: { name: 'w' }, spec: { template } }],
    ['Job', 'batch', { metadata: { name: 'w' }, spec: { template } }],
    ['CronJob', 'batch', { metadata: { name: 'w' }, spec: { jobTemplate: { spec: { template } } } }],
  ];
  // The cache learns the ServiceAccount the templates use (bound to the billing identity).
  h.api.putServiceAccount('checkout-prod', 'batch', { 'azure.workload.identity/client-id': BILLING });
  await eventually(() => h.server.metrics.serviceAccountCacheSize.get().then((m) => (m.values[0]?.value ?? 0) >= 3), GENEROUS_WAIT_MS, 'ServiceAccount cached');
  for (const [kind, group, object] of kinds) {
    const name = kind === 'Pod' ? 'p' : 'w';
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: `u-${kind}`, kind: { group, version: 'v1', kind }, namespace: 'checkout-prod', operation: 'CREATE', object },
    });
    const response = await validate(h, body);
    t.same(
      response,
      {
        uid: `u-${kind}`,
        allowed: false,
        status: {
          code: 403,
          status: 'Failure',
          message:
            `wi-admission: ${kind} checkout-prod/${name} (ServiceAccount batch) is not allowed to use client ID ${BILLING} (managed identity id-billing-worker-prod, resource group rg-billing-prod): ` +
            'rule "team-must-own-identity" requires tag owner=checkout-team, the identity has owner=billing-team. Use an identity tagged owner=checkout-team, or ask the platform team to approve this one. [IdentityNotApproved]',
        },
        auditAnnotations: { reasons: 'IdentityNotApproved' },
      },
      `${kind}: the whole response`,
    );
  }
});
