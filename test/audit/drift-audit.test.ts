// The drift audit over in-memory caches: what a full run finds, what
// changes trigger, the totals behind the metrics, and the namespaces it says
// changed. The evaluation is admission's (a failing binding carries the
// admission message).
import t, { type Test } from 'tap';
import type { IdentityDirectory } from '../../src/admission/binding-check.js';
import { DriftAudit, type AuditTrigger } from '../../src/audit/drift-audit.js';
import type { ManagedIdentity, NamespaceRecord } from '../../src/identity/managed-identity.js';
import type { ServiceAccountRecord } from '../../src/identity/service-account.js';
import type { StoreChange } from '../../src/kube/informer.js';
import type { ValidationReason } from '../../src/policy/evaluate.js';
import { PolicySchema, type PolicySpec } from '../../src/policy/schema.js';
import { identity } from '../azure/fakes.js';
import { inlineCredentials } from '../helpers/inline-credentials.js';
import { createLogSink } from '../helpers/log-sink.js';

const APPROVED = identity(1, { name: 'id-shop', tags: { 'kubernetes.namespaces': 'shop,orders-prod', owner: 'team-a' }, federatedCredentials: 'unknown' });
const OTHER_TEAM = identity(2, { name: 'id-billing', tags: { 'kubernetes.namespaces': 'billing' }, federatedCredentials: 'unknown' });

class Caches {
  readonly serviceAccounts = new Map<string, ServiceAccountRecord>();
  readonly namespaces = new Map<string, NamespaceRecord>();
  synced = true;
  private readonly listeners = { sa: new Set<(c: StoreChange) => void>(), ns: new Set<(c: StoreChange) => void>() };

  putServiceAccount(namespace: string, name: string, clientId: string | undefined): void {
    this.serviceAccounts.set(`${namespace}/${name}`, { namespace, name, annotations: clientId ? { 'azure.workload.identity/client-id': clientId } : {} });
    for (const l of this.listeners.sa) l({ kind: 'key', key: `${namespace}/${name}` });
  }

  deleteServiceAccount(namespace: string, name: string): void {
    this.serviceAccounts.delete(`${namespace}/${name}`);
    for (const l of this.listeners.sa) l({ kind: 'key', key: `${namespace}/${name}` });
  }

  putNamespace(name: string, labels: Record<string, string> = {}): void {
    this.namespaces.set(name, { name, labels });
    for (const l of this.listeners.ns) l({ kind: 'key', key: name });
  }

  relist(): void {
    for (const l of this.listeners.sa) l({ kind: 'all' });
  }

  get serviceAccountPort() {
    return {
      annotated: () => [...this.serviceAccounts].filter(([, sa]) => Object.keys(sa.annotations).length > 0).map(([key, sa]) => [key, sa.annotations] as const),
      getCached: (namespace: string, name: string) => this.serviceAccounts.get(`${namespace}/${name}`),
      hasSynced: () => this.synced,
      subscribe: (l: (c: StoreChange) => void) => {
        this.listeners.sa.add(l);
        return () => this.listeners.sa.delete(l);
      },
    };
  }

  get namespacePort() {
    return {
      getCached: (name: string) => this.namespaces.get(name),
      hasSynced: () => this.synced,
      subscribe: (l: (c: StoreChange) => void) => {
        this.listeners.ns.add(l);
        return () => this.listeners.ns.delete(l);
      },
    };
  }
}

class Directory implements IdentityDirectory {
  down = false;
  constructor(public identities: ManagedIdentity[]) {}
  async lookupClientId(clientId: string) {
    if (this.down) return { status: 'unavailable' as const, reason: 'the identity source failed' };
    const found = this.identities.find((i) => i.clientId === clientId);
    return found ? { status: 'found' as const, identity: found } : { status: 'unknown' as const };
  }
  async federatedCredentials(identity: ManagedIdentity) {
    return inlineCredentials(identity);
  }
}

function policyOf(spec: Record<string, unknown>): PolicySpec {
  return PolicySchema.parse({ apiVersion: 'wi-admission.io/v1', kind: 'IdentityPolicy', spec }).spec;
}

function setup(t: Test, options: { sliceMs?: number; ready?: () => boolean } = {}) {
  const caches = new Caches();
  const directory = new Directory([APPROVED, OTHER_TEAM]);
  let policy = policyOf({ exemptNamespaces: ['kube-system'], rules: [{ name: 'prod-owner', namespaces: { selector: { matchLabels: { tier: 'prod' } } }, requireTags: { owner: "{namespace.labels['team']}" } }] });
  const runs: AuditTrigger[] = [];
  const totals: { bindings: number; violations: Record<string, number> }[] = [];
  const changed: string[][] = [];
  const audit = new DriftAudit({
    policy: () => policy,
    serviceAccounts: caches.serviceAccountPort,
    namespaces: caches.namespacePort,
    binding: { identities: directory, audience: 'api://AzureADTokenExchange', oidcIssuer: undefined },
    inventoryReady: options.ready ?? (() => true),
    log: createLogSink().log,
    sliceMs: options.sliceMs ?? 1,
    hooks: {
      onRun: (trigger) => void runs.push(trigger),
      onTotals: (bindings, violations: ReadonlyMap<ValidationReason, number>) => void totals.push({ bindings, violations: Object.fromEntries(violations) }),
      onChanged: (namespaces) => void changed.push([...namespaces].sort()),
    },
  });
  t.teardown(() => audit.stop());
  return { caches, directory, audit, runs, totals, changed, setPolicy: (p: PolicySpec) => (policy = p) };
}

void t.test('a full run after sync: every binding judged as admission would judge it now', async (t) => {
  const { caches, audit, runs, totals, changed } = setup(t);
  caches.putNamespace('shop');
  caches.putNamespace('billing');
  caches.putNamespace('kube-system');
  caches.putServiceAccount('shop', 'api', APPROVED.clientId);
  caches.putServiceAccount('shop', 'borrowed', OTHER_TEAM.clientId);
  caches.putServiceAccount('shop', 'plain', undefined);
  caches.putServiceAccount('billing', 'worker', OTHER_TEAM.clientId);
  caches.putServiceAccount('kube-system', 'exempt', OTHER_TEAM.clientId);
  caches.putServiceAccount('shop', 'typo', 'not-a-guid');
  audit.start();
  await audit.idle();
  t.same(runs, ['sync']);
  t.same([...audit.namespaces()].sort(), ['billing', 'shop'], 'exempt namespaces and ServiceAccounts without a client ID are not bindings');
  const shop = await audit.resultsOf('shop');
  t.same(shop.map((r) => [r.name, r.result, r.rule, r.reason]), [
    ['api', 'pass', 'Approved', 'Approved'],
    ['borrowed', 'fail', 'IdentityNotApproved', 'IdentityNotApproved'],
    ['typo', 'fail', 'InvalidClientId', 'InvalidClientId'],
  ]);
  t.equal(shop[0]?.message, undefined, 'a passing binding keeps no message');
  t.match(shop[1]?.message, /^wi-admission: ServiceAccount shop\/borrowed is not allowed to use client ID c11e0000-0000-0000-0000-000000000002 \(managed identity id-billing, resource group rg-1\): its tag kubernetes\.namespaces=billing does not list namespace shop\..*\[IdentityNotApproved\]$/, 'the admission message');
  t.same(totals.at(-1), { bindings: 4, violations: { IdentityNotApproved: 1, InvalidClientId: 1 } });
  t.same(changed, [['billing', 'shop']]);
});

void t.test('waits for the caches and the inventory before its first run', async (t) => {
  let ready = false;
  const { caches, audit, runs } = setup(t, { ready: () => ready });
  caches.synced = false;
  caches.putServiceAccount('shop', 'api', APPROVED.clientId);
  audit.start();
  await audit.idle();
  t.same(runs, [], 'nothing before the caches have synced');
  caches.synced = true;
  caches.relist();
  await audit.idle();
  t.same(runs, [], 'nor before the inventory has loaded');
  ready = true;
  audit.request('inventory');
  await audit.idle();
  t.same(runs, ['sync'], 'the first run once everything is there');
});

void t.test('incremental: a ServiceAccount changed, added or deleted; a Namespace relabelled', async (t) => {
  const { caches, audit, runs, totals, changed } = setup(t);
  caches.putNamespace('orders-prod', { tier: 'prod', team: 'team-a' });
  caches.putServiceAccount('orders-prod', 'api', APPROVED.clientId);
  audit.start();
  await audit.idle();
  t.equal((await audit.resultsOf('orders-prod'))[0]?.result, 'pass');

  caches.putServiceAccount('orders-prod', 'api', OTHER_TEAM.clientId);
  await audit.idle();
  t.equal((await audit.resultsOf('orders-prod'))[0]?.result, 'fail', 'a client ID changed to another team\'s identity');
  t.equal(runs.at(-1), 'serviceaccount');

  caches.putServiceAccount('orders-prod', 'api', APPROVED.clientId);
  await audit.idle();
  caches.putNamespace('orders-prod', { tier: 'prod', team: 'team-b' });
  await audit.idle();
  t.equal(runs.at(-1), 'namespace');
  t.match((await audit.resultsOf('orders-prod'))[0], { result: 'fail', rule: 'prod-owner', reason: 'IdentityNotApproved' }, 'the team label changed: the rule now fails');

  caches.deleteServiceAccount('orders-prod', 'api');
  await audit.idle();
  t.same([...audit.namespaces()], [], 'a deleted binding is gone');
  t.same(totals.at(-1), { bindings: 0, violations: {} });
  t.same(changed.at(-1), ['orders-prod'], 'its namespace changed');

  caches.putServiceAccount('orders-prod', 'plain', undefined);
  await audit.idle();
  t.same(changed.at(-1), [], 'a ServiceAccount without a client ID changes nothing');
});

void t.test('a policy reload or an inventory change re-judges everything', async (t) => {
  const { caches, directory, audit, runs, setPolicy } = setup(t);
  caches.putNamespace('shop');
  caches.putServiceAccount('shop', 'api', APPROVED.clientId);
  audit.start();
  await audit.idle();
  t.equal((await audit.resultsOf('shop'))[0]?.result, 'pass');

  // A tag edit in Azure: the identity no longer lists the namespace.
  directory.identities = [{ ...APPROVED, tags: { 'kubernetes.namespaces': 'elsewhere' } }, OTHER_TEAM];
  audit.request('inventory');
  await audit.idle();
  t.equal((await audit.resultsOf('shop'))[0]?.result, 'fail');

  setPolicy(policyOf({ defaultAction: 'warn', rules: [] }));
  directory.identities = [{ ...APPROVED, tags: {} }, OTHER_TEAM];
  audit.request('policy');
  await audit.idle();
  t.match((await audit.resultsOf('shop'))[0], { result: 'warn', reason: 'IdentityNotApproved' }, 'a warn finding is warn');
  t.same(runs, ['sync', 'inventory', 'policy']);

  directory.down = true;
  audit.request('inventory');
  await audit.idle();
  t.match((await audit.resultsOf('shop'))[0], { result: 'error', reason: 'InventoryUnavailable' }, 'an unreadable inventory is an error, not a failure');
});

void t.test('a Namespace missing from the cache: rules that need its labels make it an error', async (t) => {
  const { caches, audit } = setup(t);
  caches.putServiceAccount('orders-prod', 'api', APPROVED.clientId);
  audit.start();
  await audit.idle();
  t.match((await audit.resultsOf('orders-prod'))[0], { result: 'error', reason: 'NamespaceUnavailable' });
  t.match((await audit.resultsOf('orders-prod'))[0]?.message, /which are unknown: it is not in the webhook's Namespace cache \(yet\)/);
});

void t.test('triggers during a run are coalesced into one more run; the work yields every slice', async (t) => {
  const { caches, audit, runs, totals } = setup(t, { sliceMs: 0 });
  caches.putNamespace('shop');
  for (let i = 0; i < 300; i++) caches.putServiceAccount('shop', `sa-${i}`, i % 3 === 0 ? OTHER_TEAM.clientId : APPROVED.clientId);
  audit.start();
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  audit.request('policy');
  audit.request('inventory');
  await audit.idle();
  clearInterval(ticker);
  t.same(runs, ['sync'], 'requests before the first run started are part of it');
  t.ok(turns > 1, `timers ran while it worked (${turns} turns)`);
  t.same(totals.at(-1), { bindings: 300, violations: { IdentityNotApproved: 100 } });
  audit.request('policy');
  audit.request('inventory');
  await audit.idle();
  t.same(runs, ['sync', 'policy'], 'two requests before a run starts: one run');
});

void t.test('a failure whose message changes is a change; the messages are built again for the writer', async (t) => {
  const { caches, directory, audit, changed } = setup(t);
  caches.putNamespace('shop');
  caches.putServiceAccount('shop', 'borrowed', OTHER_TEAM.clientId);
  audit.start();
  await audit.idle();
  t.same(audit.verdictsOf('shop'), [{ name: 'borrowed', result: 'fail', reason: 'IdentityNotApproved' }]);
  t.match((await audit.resultsOf('shop'))[0]?.message, /kubernetes\.namespaces=billing does not list namespace shop/);
  directory.identities = [APPROVED, { ...OTHER_TEAM, tags: { 'kubernetes.namespaces': 'payments' } }];
  audit.request('inventory');
  await audit.idle();
  t.same(changed.at(-1), ['shop'], 'still failing, for another reason: the report must say so');
  t.match((await audit.resultsOf('shop'))[0]?.message, /kubernetes\.namespaces=payments does not list namespace shop/);
  audit.request('inventory');
  await audit.idle();
  t.same(changed.at(-1), [], 'the same message again: no change');
});
