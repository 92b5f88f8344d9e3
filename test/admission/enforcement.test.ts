// The docs table "Where it enforces and what it only reports" (docs/policy.md),
// row by row: how a request is classified, and what each treatment does to
// the findings. The rows of ROWS are the rows of the table; a test below
// checks that the docs still name each of them.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { applyTreatment, classifyRequest, hasControllerOwner, isTrustedController, type BindingTreatment, type ClassifiedRequest } from '../../src/admission/enforcement.js';
import type { Finding } from '../../src/policy/evaluate.js';
import { DEFAULT_TRUSTED_CONTROLLERS, PolicySchema } from '../../src/policy/schema.js';

const CLIENT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
const OTHER = '0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const REPLICASET_CONTROLLER = { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] };
const DEPLOYMENT_CONTROLLER = { username: 'system:serviceaccount:kube-system:deployment-controller', groups: ['system:serviceaccounts'] };
const DEVELOPER = { username: 'alice@example.com', groups: ['developers', 'system:authenticated'] };
const CONTROLLER_OWNER = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7c9d8f5b4', uid: 'u1', controller: true, blockOwnerDeletion: true }];

const sa = (annotations: Record<string, string>, extra: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name: 'app', namespace: 'team-a', annotations: { ...annotations, ...extra } },
});
const pod = (metadata: Record<string, unknown> = {}, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-7c9d8f5b4-', namespace: 'team-a', labels: { 'azure.workload.identity/use': 'true' }, ...metadata },
  spec: { serviceAccountName: 'app', containers: [{ name: 'web', image: 'web:1' }], ...spec },
});
const deployment = (template: { labels?: Record<string, string>; spec?: Record<string, unknown>; annotations?: Record<string, string> }) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'team-a' },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: template.labels ?? { app: 'web', 'azure.workload.identity/use': 'true' }, annotations: template.annotations ?? {} },
      spec: template.spec ?? { serviceAccountName: 'app', containers: [{ name: 'web', image: 'web:1' }] },
    },
  },
});
const cronJob = (serviceAccountName: string) => ({
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'nightly', namespace: 'team-a' },
  spec: { schedule: '0 1 * * *', jobTemplate: { spec: { template: { metadata: { labels: { 'azure.workload.identity/use': 'true' } }, spec: { serviceAccountName, containers: [] } } } } },
});

interface Row {
  /** The docs table row this case belongs to (its first cell, as written in docs/policy.md). */
  readonly row: string;
  readonly name: string;
  readonly request: ClassifiedRequest;
  readonly expect: BindingTreatment;
}

const ROWS: Row[] = [
  { row: 'ServiceAccount CREATE', name: 'a ServiceAccount CREATE', expect: 'new', request: { kind: 'ServiceAccount', operation: 'CREATE', object: sa({ 'azure.workload.identity/client-id': CLIENT }), userInfo: DEVELOPER } },
  { row: 'ServiceAccount CREATE', name: 'even by a trusted controller with a controller owner', expect: 'new', request: { kind: 'ServiceAccount', operation: 'CREATE', object: { ...sa({}), metadata: { name: 'app', ownerReferences: CONTROLLER_OWNER } }, userInfo: REPLICASET_CONTROLLER } },
  { row: 'ServiceAccount UPDATE changing `client-id` or `tenant-id`', name: 'client-id changed', expect: 'new', request: { kind: 'ServiceAccount', operation: 'UPDATE', object: sa({ 'azure.workload.identity/client-id': OTHER }), oldObject: sa({ 'azure.workload.identity/client-id': CLIENT }) } },
  { row: 'ServiceAccount UPDATE changing `client-id` or `tenant-id`', name: 'client-id added', expect: 'new', request: { kind: 'ServiceAccount', operation: 'UPDATE', object: sa({ 'azure.workload.identity/client-id': CLIENT }), oldObject: sa({}) } },
  { row: 'ServiceAccount UPDATE changing `client-id` or `tenant-id`', name: 'tenant-id added', expect: 'new', request: { kind: 'ServiceAccount', operation: 'UPDATE', object: sa({ 'azure.workload.identity/client-id': CLIENT, 'azure.workload.identity/tenant-id': TENANT }), oldObject: sa({ 'azure.workload.identity/client-id': CLIENT }) } },
  { row: 'ServiceAccount UPDATE changing `client-id` or `tenant-id`', name: 'tenant-id emptied', expect: 'new', request: { kind: 'ServiceAccount', operation: 'UPDATE', object: sa({ 'azure.workload.identity/client-id': CLIENT, 'azure.workload.identity/tenant-id': '' }), oldObject: sa({ 'azure.workload.identity/client-id': CLIENT, 'azure.workload.identity/tenant-id': TENANT }) } },
  { row: 'ServiceAccount UPDATE leaving both as they were', name: 'another annotation changed', expect: 'existing', request: { kind: 'ServiceAccount', operation: 'UPDATE', object: sa({ 'azure.workload.identity/client-id': CLIENT }, { 'example.com/rev': '2' }), oldObject: sa({ 'azure.workload.identity/client-id': CLIENT }) } },
  { row: 'ServiceAccount UPDATE leaving both as they were', name: 'the token expiration changed (not part of the binding)', expect: 'existing', request: { kind: 'ServiceAccount', operation: 'UPDATE', object: sa({ 'azure.workload.identity/client-id': CLIENT, 'azure.workload.identity/service-account-token-expiration': '7200' }), oldObject: sa({ 'azure.workload.identity/client-id': CLIENT }) } },
  { row: 'Workload CREATE', name: 'a Deployment CREATE', expect: 'new', request: { kind: 'Deployment', operation: 'CREATE', object: deployment({}), userInfo: DEVELOPER } },
  { row: 'Workload CREATE', name: 'a ReplicaSet CREATE by a developer with a forged controller owner', expect: 'new', request: { kind: 'ReplicaSet', operation: 'CREATE', object: { ...deployment({}), kind: 'ReplicaSet', metadata: { name: 'web-1', ownerReferences: CONTROLLER_OWNER } }, userInfo: DEVELOPER } },
  { row: 'Workload UPDATE changing the template\'s ServiceAccount or `use` label', name: 'serviceAccountName changed', expect: 'new', request: { kind: 'Deployment', operation: 'UPDATE', object: deployment({ spec: { serviceAccountName: 'other' } }), oldObject: deployment({}) } },
  { row: 'Workload UPDATE changing the template\'s ServiceAccount or `use` label', name: 'from the deprecated serviceAccount field to the default', expect: 'new', request: { kind: 'Deployment', operation: 'UPDATE', object: deployment({ spec: {} }), oldObject: deployment({ spec: { serviceAccount: 'app' } }) } },
  { row: 'Workload UPDATE changing the template\'s ServiceAccount or `use` label', name: 'use label added', expect: 'new', request: { kind: 'Deployment', operation: 'UPDATE', object: deployment({}), oldObject: deployment({ labels: { app: 'web' } }) } },
  { row: 'Workload UPDATE changing the template\'s ServiceAccount or `use` label', name: 'a CronJob\'s job template ServiceAccount changed', expect: 'new', request: { kind: 'CronJob', operation: 'UPDATE', object: cronJob('other'), oldObject: cronJob('app') } },
  { row: 'Workload UPDATE leaving both as they were', name: 'kubectl rollout restart (a template annotation)', expect: 'existing', request: { kind: 'Deployment', operation: 'UPDATE', object: deployment({ annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z' } }), oldObject: deployment({}), userInfo: DEVELOPER } },
  { row: 'Workload UPDATE leaving both as they were', name: 'an image bump', expect: 'existing', request: { kind: 'Deployment', operation: 'UPDATE', object: deployment({ spec: { serviceAccountName: 'app', containers: [{ name: 'web', image: 'web:2' }] } }), oldObject: deployment({}) } },
  { row: 'Workload UPDATE leaving both as they were', name: 'serviceAccount (deprecated) and serviceAccountName naming the same account', expect: 'existing', request: { kind: 'Deployment', operation: 'UPDATE', object: deployment({ spec: { serviceAccountName: 'app' } }), oldObject: deployment({ spec: { serviceAccount: 'app' } }) } },
  { row: 'Workload UPDATE leaving both as they were', name: 'a CronJob schedule change', expect: 'existing', request: { kind: 'CronJob', operation: 'UPDATE', object: { ...cronJob('app'), spec: { ...cronJob('app').spec, schedule: '0 2 * * *' } }, oldObject: cronJob('app') } },
  { row: 'UPDATE without `oldObject`', name: 'a ServiceAccount UPDATE without oldObject', expect: 'new', request: { kind: 'ServiceAccount', operation: 'UPDATE', object: sa({ 'azure.workload.identity/client-id': CLIENT }) } },
  { row: 'UPDATE without `oldObject`', name: 'a Deployment UPDATE whose oldObject is null', expect: 'new', request: { kind: 'Deployment', operation: 'UPDATE', object: deployment({}), oldObject: null } },
  { row: 'Pod CREATE by anyone but a trusted controller', name: 'a bare pod by a developer', expect: 'new', request: { kind: 'Pod', operation: 'CREATE', object: pod(), userInfo: DEVELOPER } },
  { row: 'Pod CREATE by anyone but a trusted controller', name: 'a forged controller ownerReference from a developer', expect: 'new', request: { kind: 'Pod', operation: 'CREATE', object: pod({ ownerReferences: CONTROLLER_OWNER }), userInfo: DEVELOPER } },
  { row: 'Pod CREATE by anyone but a trusted controller', name: 'a developer in a group named like a controller user', expect: 'new', request: { kind: 'Pod', operation: 'CREATE', object: pod({ ownerReferences: CONTROLLER_OWNER }), userInfo: { username: 'mallory', groups: ['system:serviceaccount:kube-system:replicaset'] } } },
  { row: 'Pod CREATE by anyone but a trusted controller', name: 'no userInfo at all', expect: 'new', request: { kind: 'Pod', operation: 'CREATE', object: pod({ ownerReferences: CONTROLLER_OWNER }) } },
  { row: 'Pod CREATE by anyone but a trusted controller', name: 'a trusted controller, but no owner reference', expect: 'new', request: { kind: 'Pod', operation: 'CREATE', object: pod(), userInfo: REPLICASET_CONTROLLER } },
  { row: 'Pod CREATE by anyone but a trusted controller', name: 'a trusted controller, owner reference without controller: true', expect: 'new', request: { kind: 'Pod', operation: 'CREATE', object: pod({ ownerReferences: [{ ...CONTROLLER_OWNER[0], controller: false }] }), userInfo: REPLICASET_CONTROLLER } },
  { row: 'Pod CREATE by anyone but a trusted controller', name: 'a trusted controller, controller: "true" as a string', expect: 'new', request: { kind: 'Pod', operation: 'CREATE', object: pod({ ownerReferences: [{ ...CONTROLLER_OWNER[0], controller: 'true' }] }), userInfo: REPLICASET_CONTROLLER } },
  { row: 'Pod (or workload) CREATE by a trusted controller with a `controller: true` ownerReference', name: 'the ReplicaSet controller\'s pod', expect: 'controller', request: { kind: 'Pod', operation: 'CREATE', object: pod({ ownerReferences: CONTROLLER_OWNER }), userInfo: REPLICASET_CONTROLLER } },
  { row: 'Pod (or workload) CREATE by a trusted controller with a `controller: true` ownerReference', name: 'kube-controller-manager as itself', expect: 'controller', request: { kind: 'Pod', operation: 'CREATE', object: pod({ ownerReferences: CONTROLLER_OWNER }), userInfo: { username: 'system:kube-controller-manager' } } },
  { row: 'Pod (or workload) CREATE by a trusted controller with a `controller: true` ownerReference', name: 'the ReplicaSet of a rollout, by the deployment controller', expect: 'controller', request: { kind: 'ReplicaSet', operation: 'CREATE', object: { ...deployment({}), kind: 'ReplicaSet', metadata: { name: 'web-2', ownerReferences: [{ ...CONTROLLER_OWNER[0], kind: 'Deployment' }] } }, userInfo: DEPLOYMENT_CONTROLLER } },
  { row: 'Pod (or workload) CREATE by a trusted controller with a `controller: true` ownerReference', name: 'a Job of a CronJob, by the CronJob controller', expect: 'controller', request: { kind: 'Job', operation: 'CREATE', object: { kind: 'Job', metadata: { name: 'nightly-1', ownerReferences: [{ ...CONTROLLER_OWNER[0], kind: 'CronJob' }] }, spec: { template: {} } }, userInfo: { username: 'system:serviceaccount:kube-system:cronjob-controller' } } },
];

const trusted: string[] = [...DEFAULT_TRUSTED_CONTROLLERS];
for (const { row, name, request, expect } of ROWS) {
  t.equal(classifyRequest(request, trusted), expect, `${row}: ${name} → ${expect}`);
}

void t.test('the docs table has every row tested here, with its treatment', async (t) => {
  const docs = readFileSync(new URL('../../docs/policy.md', import.meta.url), 'utf8');
  const section = docs.slice(docs.indexOf('## Where it enforces and what it only reports'));
  t.ok(section.length < docs.length, 'docs/policy.md has the section');
  const words: Record<BindingTreatment, string> = { new: 'new binding', existing: 'existing binding', controller: 'controller pod' };
  for (const row of new Set(ROWS.map((r) => r.row))) {
    const line = section.split('\n').find((l) => l.startsWith(`| ${row} |`));
    t.ok(line, `the table has the row "${row}"`);
    const expected = ROWS.find((r) => r.row === row)?.expect ?? 'new';
    t.match(line ?? '', words[expected], `"${row}" is judged as ${words[expected]} in the docs too`);
  }
});

void t.test('trusted controllers: username or group globs, nothing else', async (t) => {
  t.ok(isTrustedController({ username: 'system:serviceaccount:kube-system:job-controller' }, trusted), 'a default controller');
  t.notOk(isTrustedController({ username: 'system:serviceaccount:kube-system:job-controller-2' }, trusted), 'globs match whole names');
  t.ok(isTrustedController({ username: 'x', groups: ['platform:controllers'] }, ['platform:*']), 'a group glob');
  t.ok(isTrustedController({ username: 'system:serviceaccount:argo:argo-workflows' }, ['system:serviceaccount:argo:*']), 'a username glob');
  t.notOk(isTrustedController({ username: 'system:serviceaccount:argo:argo-workflows' }, []), 'an empty list trusts nobody');
  t.notOk(isTrustedController({ username: 42, groups: 'system:kube-controller-manager' }, trusted), 'values of the wrong type are ignored');
  t.notOk(isTrustedController('system:kube-controller-manager', trusted), 'userInfo that is not an object');
  t.notOk(hasControllerOwner({ metadata: { ownerReferences: { controller: true } } }), 'ownerReferences that is not a list');
  t.notOk(hasControllerOwner({ metadata: Object.create({ ownerReferences: CONTROLLER_OWNER }) as object }), 'inherited keys are not owner references');
});

void t.test('operations other than CREATE and UPDATE are new (the handler checks neither)', async (t) => {
  t.equal(classifyRequest({ kind: 'Deployment', operation: 'DELETE', object: null, oldObject: deployment({}) }, trusted), 'new');
});

const enforcement = (spec: Record<string, unknown> = {}) =>
  PolicySchema.parse({ apiVersion: 'wi-admission.io/v1', kind: 'IdentityPolicy', spec: { enforcement: spec } }).spec.enforcement;
const finding = (reason: Finding['reason'], action: Finding['action']): Finding => ({ reason, action, code: 403, message: `wi-admission: ServiceAccount team-a/app: something. [${reason}]` });

void t.test('the policy defaults', async (t) => {
  const spec = PolicySchema.parse({ apiVersion: 'wi-admission.io/v1', kind: 'IdentityPolicy', spec: {} }).spec;
  t.same(spec.enforcement, { existingBindings: 'warn', controllerPods: 'warn', trustedControllers: trusted });
  t.equal(spec.onNamespaceUnavailable, 'deny');
  t.ok(trusted.includes('system:kube-controller-manager'));
  for (const controller of ['replicaset', 'statefulset', 'daemon-set', 'job', 'cronjob', 'replication', 'deployment']) {
    t.ok(trusted.includes(`system:serviceaccount:kube-system:${controller}-controller`), `${controller}-controller is trusted by default`);
  }
});

void t.test('new bindings keep every action', async (t) => {
  const findings = [finding('IdentityNotApproved', 'deny'), finding('InventoryUnavailable', 'deny'), finding('NamespaceUnavailable', 'deny'), finding('MissingUseLabel', 'warn')];
  t.same(applyTreatment(findings, 'new', enforcement()), findings);
});

void t.test('existing bindings and controller pods: capped at their setting, with a note', async (t) => {
  for (const treatment of ['existing', 'controller'] as const) {
    const setting = treatment === 'existing' ? 'existingBindings' : 'controllerPods';
    const [denied, warned, audited] = applyTreatment([finding('IdentityNotApproved', 'deny'), finding('MissingUseLabel', 'warn'), finding('ClientSecretInPod', 'audit')], treatment, enforcement());
    t.equal(denied?.action, 'warn', `${treatment}: deny becomes warn`);
    t.match(denied?.message ?? '', new RegExp(`something\\. Admitted because .*\\(spec\\.enforcement\\.${setting}: warn\\).* \\[IdentityNotApproved\\]$`), 'the message says why, the reason stays last');
    t.same(warned, finding('MissingUseLabel', 'warn'), 'a warning stays as it was');
    t.same(audited, finding('ClientSecretInPod', 'audit'), 'audit is never raised');

    const [asAudit] = applyTreatment([finding('IdentityNotApproved', 'deny')], treatment, enforcement({ [setting]: 'audit' }));
    t.equal(asAudit?.action, 'audit', `${setting}: audit`);
    const [asDeny] = applyTreatment([finding('IdentityNotApproved', 'deny')], treatment, enforcement({ [setting]: 'deny' }));
    t.same(asDeny, finding('IdentityNotApproved', 'deny'), `${setting}: deny judges them like new bindings`);
  }
});

void t.test('an unavailable inventory or namespace never denies an existing binding or a controller pod', async (t) => {
  for (const treatment of ['existing', 'controller'] as const) {
    const setting = treatment === 'existing' ? 'existingBindings' : 'controllerPods';
    for (const reason of ['InventoryUnavailable', 'NamespaceUnavailable'] as const) {
      const [judged] = applyTreatment([finding(reason, 'deny')], treatment, enforcement({ [setting]: 'deny' }));
      t.equal(judged?.action, 'warn', `${treatment}, ${setting}: deny, ${reason} → warn`);
      t.match(judged?.message ?? '', /never deny an existing binding/);
      const [audited] = applyTreatment([finding(reason, 'deny')], treatment, enforcement({ [setting]: 'audit' }));
      t.equal(audited?.action, 'audit', `${treatment}, ${setting}: audit, ${reason} → audit`);
    }
  }
});
