// "Where it enforces and what it only reports" through the real server over
// TLS, row by row of the docs table (docs/policy.md), with the example policy
// and identities and the stand-in API server: new bindings are judged by each
// finding's own action, existing bindings and controllers' pods only warn, a
// Namespace that cannot be read is NamespaceUnavailable (logged and counted),
// never a rule evaluated on empty labels.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { getText, post } from '../helpers/https-client.js';
import { startHarness, waitReady, type Harness } from '../helpers/harness.js';
import { metricValue, type ReviewResponse } from '../faults/support.js';

const examples = new URL('../../examples/', import.meta.url).pathname;
const CHECKOUT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
const BILLING = '0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b';
const DEVELOPER = { username: 'alice@example.com', groups: ['developers', 'system:authenticated'] };
const REPLICASET_CONTROLLER = { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] };
const DEPLOYMENT_CONTROLLER = { username: 'system:serviceaccount:kube-system:deployment-controller', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] };
const OWNER = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'batch-6d5f7c8b9', uid: '3c1a7e52-9b4d-4f0e-8a6c-2d5b7e9f1a30', controller: true, blockOwnerDeletion: true };

function review(uid: string, request: { kind: string; group?: string; namespace?: string; operation?: string; object: unknown; oldObject?: unknown; userInfo?: unknown }): string {
  const resource = `${request.kind.toLowerCase()}s`;
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: request.group ?? '', version: 'v1', kind: request.kind },
      resource: { group: request.group ?? '', version: 'v1', resource },
      namespace: request.namespace ?? 'checkout-prod',
      operation: request.operation ?? 'CREATE',
      userInfo: request.userInfo ?? DEVELOPER,
      object: request.object,
      oldObject: request.oldObject ?? null,
    },
  });
}

const serviceAccount = (name: string, annotations: Record<string, string>, namespace = 'checkout-prod') => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace, annotations } });
const template = (serviceAccountName: string, extra: { annotations?: Record<string, string>; image?: string } = {}) => ({
  metadata: { labels: { app: 'batch', 'azure.workload.identity/use': 'true' }, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
  spec: { serviceAccountName, containers: [{ name: 'batch', image: extra.image ?? 'batch:1' }] },
});
const deployment = (serviceAccountName: string, extra: Parameters<typeof template>[1] = {}, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'batch', namespace: 'checkout-prod', ...metadata },
  spec: { selector: { matchLabels: { app: 'batch' } }, template: template(serviceAccountName, extra) },
});
const pod = (serviceAccountName: string, metadata: Record<string, unknown> = {}, namespace = 'checkout-prod') => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'batch-6d5f7c8b9-', namespace, labels: { app: 'batch', 'azure.workload.identity/use': 'true' }, ...metadata },
  spec: { serviceAccountName, containers: [{ name: 'batch', image: 'batch:1' }] },
});

async function harness(t: Parameters<typeof startHarness>[0], identities = true): Promise<Harness> {
  const dir = t.testdirName;
  return startHarness(t, ['--policy', join(dir, 'policy.yaml'), '--identities', `file:${join(dir, 'identities.json')}`, '--identity-refresh', '1s'], (_dir, api) => {
    copyFileSync(join(examples, 'policy.yaml'), join(dir, 'policy.yaml'));
    if (identities) copyFileSync(join(examples, 'identities.json'), join(dir, 'identities.json'));
    api.putNamespace('checkout-prod', { 'platform.example.com/owner': 'checkout-team' });
    // Bound before the policy: the identity belongs to another team.
    api.putServiceAccount('checkout-prod', 'batch-runner', { 'azure.workload.identity/client-id': BILLING });
    api.putServiceAccount('checkout-prod', 'checkout-api', { 'azure.workload.identity/client-id': CHECKOUT });
    api.putServiceAccount('checkout-prod', 'plain');
    // A Namespace that exists but cannot be read; its ServiceAccount binds an identity the policy would approve there.
    api.unreadableNamespaces.add('orders-prod');
    api.putServiceAccount('orders-prod', 'api', { 'azure.workload.identity/client-id': CHECKOUT });
  });
}

async function validate(h: Harness, body: string): Promise<ReviewResponse> {
  const res = await post(h.server.webhookPort, '/validate', body, { ca: h.ca });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body}`);
  return (res.json as { response: ReviewResponse }).response;
}

interface Row {
  readonly row: string;
  readonly body: string;
  readonly allowed: boolean;
  /** A warning (allowed) or the denial message (denied) contains each. */
  readonly says: readonly string[];
}

void t.test('each row of the docs table through the server', async (t) => {
  const h = await harness(t);
  await waitReady(h);
  const rows: Row[] = [
    {
      row: 'ServiceAccount CREATE',
      body: review('sa-create', { kind: 'ServiceAccount', object: serviceAccount('batch', { 'azure.workload.identity/client-id': BILLING }) }),
      allowed: false,
      says: ['ServiceAccount checkout-prod/batch is not allowed to use client ID', '[IdentityNotApproved]'],
    },
    {
      row: 'ServiceAccount UPDATE changing `client-id` or `tenant-id`',
      body: review('sa-update-new', { kind: 'ServiceAccount', operation: 'UPDATE', object: serviceAccount('checkout-api', { 'azure.workload.identity/client-id': BILLING }), oldObject: serviceAccount('checkout-api', { 'azure.workload.identity/client-id': CHECKOUT }) }),
      allowed: false,
      says: ['ServiceAccount checkout-prod/checkout-api is not allowed to use client ID 0b5e1c9a'],
    },
    {
      row: 'ServiceAccount UPDATE leaving both as they were',
      body: review('sa-update-existing', { kind: 'ServiceAccount', operation: 'UPDATE', object: serviceAccount('batch-runner', { 'azure.workload.identity/client-id': BILLING, 'example.com/contact': 'ops' }), oldObject: serviceAccount('batch-runner', { 'azure.workload.identity/client-id': BILLING }) }),
      allowed: true,
      says: ['ServiceAccount checkout-prod/batch-runner is not allowed to use client ID', 'spec.enforcement.existingBindings: warn'],
    },
    {
      row: 'Workload CREATE',
      body: review('deploy-create', { kind: 'Deployment', group: 'apps', object: deployment('batch-runner') }),
      allowed: false,
      says: ['Deployment checkout-prod/batch (ServiceAccount batch-runner) is not allowed'],
    },
    {
      row: 'Workload UPDATE changing the template\'s ServiceAccount or `use` label',
      body: review('deploy-update-new', { kind: 'Deployment', group: 'apps', operation: 'UPDATE', object: deployment('batch-runner'), oldObject: deployment('plain') }),
      allowed: false,
      says: ['Deployment checkout-prod/batch (ServiceAccount batch-runner) is not allowed'],
    },
    {
      row: 'Workload UPDATE leaving both as they were',
      body: review('deploy-restart', { kind: 'Deployment', group: 'apps', operation: 'UPDATE', object: deployment('batch-runner', { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-12-04T07:00:00Z' } }), oldObject: deployment('batch-runner') }),
      allowed: true,
      says: ['Deployment checkout-prod/batch (ServiceAccount batch-runner) is not allowed', 'spec.enforcement.existingBindings: warn'],
    },
    {
      row: 'UPDATE without `oldObject`',
      body: review('deploy-update-no-old', { kind: 'Deployment', group: 'apps', operation: 'UPDATE', object: deployment('batch-runner', { image: 'batch:2' }) }),
      allowed: false,
      says: ['[IdentityNotApproved]'],
    },
    {
      row: 'Pod CREATE by anyone but a trusted controller',
      body: review('pod-forged', { kind: 'Pod', object: pod('batch-runner', { ownerReferences: [OWNER] }), userInfo: DEVELOPER }),
      allowed: false,
      says: ['Pod checkout-prod/batch-6d5f7c8b9-* (ServiceAccount batch-runner) is not allowed', '[IdentityNotApproved]'],
    },
    {
      row: 'Pod (or workload) CREATE by a trusted controller with a `controller: true` ownerReference',
      body: review('pod-controller', { kind: 'Pod', object: pod('batch-runner', { ownerReferences: [OWNER] }), userInfo: REPLICASET_CONTROLLER }),
      allowed: true,
      says: ['Pod checkout-prod/batch-6d5f7c8b9-* (ServiceAccount batch-runner) is not allowed', 'spec.enforcement.controllerPods: warn'],
    },
    {
      row: 'Pod (or workload) CREATE by a trusted controller with a `controller: true` ownerReference',
      body: review('rs-controller', {
        kind: 'ReplicaSet',
        group: 'apps',
        object: { ...deployment('batch-runner', {}, { name: 'batch-6d5f7c8b9', ownerReferences: [{ ...OWNER, kind: 'Deployment', name: 'batch' }] }), kind: 'ReplicaSet' },
        userInfo: DEPLOYMENT_CONTROLLER,
      }),
      allowed: true,
      says: ['ReplicaSet checkout-prod/batch-6d5f7c8b9 (ServiceAccount batch-runner) is not allowed', 'spec.enforcement.controllerPods: warn'],
    },
    {
      row: 'Namespace unreadable',
      body: review('ns-unreadable-new', { kind: 'ServiceAccount', namespace: 'orders-prod', object: serviceAccount('api', { 'azure.workload.identity/client-id': CHECKOUT }, 'orders-prod') }),
      allowed: false,
      says: ['rule "team-must-own-identity" cannot be evaluated: it needs the labels of namespace orders-prod, which are unknown: it could not be read from the API server', 'etcdserver: request timed out', '[NamespaceUnavailable]'],
    },
    {
      row: 'Namespace unreadable',
      body: review('ns-unreadable-controller', { kind: 'Pod', namespace: 'orders-prod', object: pod('api', { ownerReferences: [OWNER] }, 'orders-prod'), userInfo: REPLICASET_CONTROLLER }),
      allowed: true,
      says: ['which are unknown', 'never deny an existing binding', '[NamespaceUnavailable]'],
    },
    {
      row: 'DELETE, Pod UPDATE, other kinds',
      body: review('deploy-delete', { kind: 'Deployment', group: 'apps', operation: 'DELETE', object: null, oldObject: deployment('batch-runner') }),
      allowed: true,
      says: [],
    },
  ];
  for (const { row, body, allowed, says } of rows) {
    const uid = (JSON.parse(body) as { request: { uid: string } }).request.uid;
    const answer = await validate(h, body);
    t.equal(answer.uid, uid, `${row} (${uid}): the uid is echoed`);
    t.equal(answer.allowed, allowed, `${row} (${uid}): ${allowed ? 'admitted' : 'denied'}`);
    const text = allowed ? (answer.warnings ?? []).join('\n') : (answer.status?.message ?? '');
    for (const part of says) t.ok(text.includes(part), `${row} (${uid}): says ${JSON.stringify(part)}`, { got: text });
  }

  const metrics = (await getText(h.server.metricsPort, '/metrics')).body;
  t.equal(metricValue(metrics, 'wi_admission_namespace_unavailable_total'), 2, 'each unreadable Namespace lookup is counted');
  const warned = h.sink.lines.filter((l) => l.msg === 'namespace labels unknown: rules that need them are not evaluated');
  t.equal(warned.length, 2, 'and logged at warn');
  t.match(warned[0], { level: 40, namespace: 'orders-prod', reason: /could not be read from the API server .*503/ });
  const admissions = h.sink.lines.filter((l) => l.msg === 'admission' && l.webhook === 'validate');
  t.match(admissions.find((l) => l.uid === 'pod-controller'), { treatment: 'controller', decision: 'warned', reason: 'IdentityNotApproved' }, 'the log line names the treatment');
  t.match(admissions.find((l) => l.uid === 'deploy-restart'), { treatment: 'existing', decision: 'warned' });
  t.match(admissions.find((l) => l.uid === 'pod-forged'), { treatment: 'new', decision: 'denied' });
});

void t.test('inventory unavailable: new bindings by onInventoryUnavailable, existing bindings and controller pods never denied', async (t) => {
  // No identities file: the inventory never loads (and /readyz stays false), so every lookup is unavailable.
  const h = await harness(t, false);
  const newBinding = await validate(h, review('inv-new', { kind: 'ServiceAccount', object: serviceAccount('fresh', { 'azure.workload.identity/client-id': CHECKOUT }) }));
  t.equal(newBinding.allowed, false, 'a new binding is denied (onInventoryUnavailable: deny)');
  t.match(newBinding.status?.message, /the identity inventory is unavailable .*\[InventoryUnavailable\]/);
  const controller = await validate(h, review('inv-controller', { kind: 'Pod', object: pod('checkout-api', { ownerReferences: [OWNER] }), userInfo: REPLICASET_CONTROLLER }));
  t.equal(controller.allowed, true, 'a controller pod is admitted');
  t.match(controller.warnings, [/the identity inventory is unavailable .*never deny an existing binding.*\[InventoryUnavailable\]/]);
  const existing = await validate(h, review('inv-existing', { kind: 'Deployment', group: 'apps', operation: 'UPDATE', object: deployment('checkout-api', { image: 'batch:2' }), oldObject: deployment('checkout-api') }));
  t.equal(existing.allowed, true, 'an existing binding is admitted');
  t.match(existing.warnings, [/\[InventoryUnavailable\]/]);
});
