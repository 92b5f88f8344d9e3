import t from 'tap';
import type { IdentityDirectory } from '../../src/admission/handle-validation.js';
import type { CredentialResolution, FederatedCredential, IdentityResolution, ManagedIdentity, NamespaceRecord } from '../../src/identity/managed-identity.js';
import type { ServiceAccountRecord } from '../../src/identity/service-account.js';
import { PolicySchema, type PolicySpec } from '../../src/policy/schema.js';
import { buildInventoryRows, type InventoryInput, type InventoryRow } from '../../src/report/inventory-rows.js';
import { inlineCredentials } from '../helpers/inline-credentials.js';

const CLIENT_ID = 'azure.workload.identity/client-id';
const AUDIENCE = 'api://AzureADTokenExchange';
const ISSUER = 'https://oidc.example/issuer';

function identity(n: number, name: string, tags: Record<string, string>, subjects: string[]): ManagedIdentity {
  const hex = n.toString(16).padStart(12, '0');
  return {
    clientId: `c11e0000-0000-0000-0000-${hex}`,
    principalId: `9a1c0000-0000-0000-0000-${hex}`,
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    name,
    id: `/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-${name}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
    resourceGroup: `rg-${name}`,
    subscriptionId: '00000000-0000-0000-0000-000000000001',
    tags,
    federatedCredentials: subjects.map((subject): FederatedCredential => ({ name: subject.replace(/\W+/g, '-'), issuer: ISSUER, subject, audiences: [AUDIENCE] })),
  };
}

/** Answers from a fixed list, like the inventory; counts and times its calls. */
class FakeDirectory implements IdentityDirectory {
  lookups: string[] = [];
  credentialCalls: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly identities: readonly ManagedIdentity[], private readonly down = false) {}

  async lookupClientId(clientId: string): Promise<IdentityResolution> {
    this.lookups.push(clientId);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    this.inFlight--;
    if (this.down) return { status: 'unavailable', reason: 'the identity source failed: 503 Service Unavailable' };
    const id = clientId.toLowerCase();
    const byClient = this.identities.find((i) => i.clientId === id);
    if (byClient) return { status: 'found', identity: byClient };
    const byPrincipal = this.identities.find((i) => i.principalId === id);
    return byPrincipal ? { status: 'principalId', identity: byPrincipal } : { status: 'unknown' };
  }

  async federatedCredentials(identity: ManagedIdentity): Promise<CredentialResolution> {
    this.credentialCalls.push(identity.name);
    return inlineCredentials(identity);
  }
}

const policy: PolicySpec = PolicySchema.parse({
  apiVersion: 'wi-admission.io/v1',
  kind: 'IdentityPolicy',
  spec: {
    rules: [
      {
        name: 'team-must-own-identity',
        namespaces: { names: ['*-prod'] },
        requireTags: { owner: "{namespace.labels['platform.example.com/owner']}" },
      },
    ],
  },
}).spec;

const checkoutApi = identity(1, 'id-checkout-api', { Owner: 'checkout-team', ENVIRONMENT: 'prod' }, ['system:serviceaccount:checkout-prod:checkout-api']);
const billing = identity(2, 'id-billing-worker', { owner: 'billing-team', environment: 'prod' }, ['system:serviceaccount:billing-prod:worker']);
const untrusted = identity(3, 'id-checkout-batch', { owner: 'checkout-team' }, []);

const namespaces = new Map<string, NamespaceRecord>([
  ['checkout-prod', { name: 'checkout-prod', labels: { 'platform.example.com/owner': 'checkout-team' } }],
  ['kube-system', { name: 'kube-system', labels: {} }],
]);

function sa(namespace: string, name: string, clientId: string | undefined, extra: Record<string, string> = {}): ServiceAccountRecord {
  return { namespace, name, annotations: { ...(clientId === undefined ? {} : { [CLIENT_ID]: clientId }), ...extra } };
}

function input(overrides: Partial<InventoryInput>): InventoryInput {
  return { serviceAccounts: [], namespaces, namespacesComplete: true, directory: new FakeDirectory([checkoutApi, billing, untrusted]), policy, audience: AUDIENCE, oidcIssuer: ISSUER, ...overrides };
}

/** The identity columns of a row for `id`. */
function columns(id: ManagedIdentity | undefined, owner?: string, environment?: string): Pick<InventoryRow, 'identityName' | 'resourceGroup' | 'owner' | 'environment'> {
  return { identityName: id?.name, resourceGroup: id?.resourceGroup, owner, environment };
}

void t.test('an approved binding: identity columns from the directory, tag names case-insensitive', async (t) => {
  const directory = new FakeDirectory([checkoutApi]);
  const rows = await buildInventoryRows(input({ directory, serviceAccounts: [sa('checkout-prod', 'checkout-api', checkoutApi.clientId)] }));
  t.same(rows, [
    {
      namespace: 'checkout-prod',
      serviceAccount: 'checkout-api',
      clientId: checkoutApi.clientId,
      ...columns(checkoutApi, 'checkout-team', 'prod'),
      status: 'approved',
      reasons: [],
      detail: undefined,
      pods: undefined,
    },
  ]);
  t.same(directory.credentialCalls, ['id-checkout-api'], 'an admitted binding has its federated credentials checked');
});

void t.test('an identity owned by another team is denied, with the webhook\'s message as detail', async (t) => {
  const directory = new FakeDirectory([billing]);
  const rows = await buildInventoryRows(input({ directory, serviceAccounts: [sa('checkout-prod', 'checkout-api', billing.clientId)] }));
  t.same(rows, [
    {
      namespace: 'checkout-prod',
      serviceAccount: 'checkout-api',
      clientId: billing.clientId,
      ...columns(billing, 'billing-team', 'prod'),
      status: 'denied',
      reasons: ['IdentityNotApproved'],
      detail:
        `ServiceAccount checkout-prod/checkout-api is not allowed to use client ID ${billing.clientId} (managed identity id-billing-worker, resource group rg-id-billing-worker): ` +
        'rule "team-must-own-identity" requires tag owner=checkout-team, the identity has owner=billing-team. Use an identity tagged owner=checkout-team, or ask the platform team to approve this one.',
      pods: undefined,
    },
  ]);
  t.same(directory.credentialCalls, [], 'a denied binding is not asked for credentials (as in admission)');
});

void t.test('an unknown client ID is denied and has no identity columns', async (t) => {
  const unknown = 'deadbeef-0000-4000-8000-000000000000';
  const [row] = await buildInventoryRows(input({ serviceAccounts: [sa('checkout-prod', 'checkout-api', unknown)] }));
  t.match(row, { clientId: unknown, ...columns(undefined), status: 'denied', reasons: ['UnknownIdentity'] });
  t.match(row?.detail, /^ServiceAccount checkout-prod\/checkout-api uses client ID deadbeef-0000-4000-8000-000000000000, which is not a managed identity the webhook knows\. .*inventory\.$/);
});

void t.test('a principal ID used as client ID names the identity it belongs to', async (t) => {
  const [row] = await buildInventoryRows(input({ serviceAccounts: [sa('checkout-prod', 'checkout-api', checkoutApi.principalId)] }));
  t.match(row, { clientId: checkoutApi.principalId, ...columns(checkoutApi, 'checkout-team', 'prod'), status: 'denied', reasons: ['PrincipalIdUsedAsClientId'] });
  t.equal(
    row?.detail,
    `ServiceAccount checkout-prod/checkout-api has ${CLIENT_ID}=${checkoutApi.principalId}, which is the principal (object) ID of managed identity id-checkout-api (resource group rg-id-checkout-api), not its client ID. ` +
      `Set ${CLIENT_ID}: ${checkoutApi.clientId}.`,
  );
});

void t.test('without a policy every row is unchecked, identity columns still filled', async (t) => {
  const directory = new FakeDirectory([billing]);
  const rows = await buildInventoryRows(input({ directory, policy: undefined, serviceAccounts: [sa('checkout-prod', 'checkout-api', billing.clientId), sa('web', 'site', 'not-a-guid')] }));
  t.same(rows, [
    { namespace: 'checkout-prod', serviceAccount: 'checkout-api', clientId: billing.clientId, ...columns(billing, 'billing-team', 'prod'), status: 'unchecked', reasons: [], detail: undefined, pods: undefined },
    { namespace: 'web', serviceAccount: 'site', clientId: 'not-a-guid', ...columns(undefined), status: 'unchecked', reasons: [], detail: undefined, pods: undefined },
  ]);
  t.same(directory.credentialCalls, [], 'no policy, no credential check');
  t.same(directory.lookups, [billing.clientId], 'a value that is not a GUID is not looked up');
});

void t.test('an exempt namespace is approved with reason Exempt, without checks', async (t) => {
  const directory = new FakeDirectory([billing]);
  const rows = await buildInventoryRows(input({ directory, serviceAccounts: [sa('kube-system', 'azure-agent', billing.clientId), sa('kube-system', 'bad', 'not-a-guid')] }));
  t.same(rows, [
    { namespace: 'kube-system', serviceAccount: 'azure-agent', clientId: billing.clientId, ...columns(billing, 'billing-team', 'prod'), status: 'approved', reasons: ['Exempt'], detail: undefined, pods: undefined },
    { namespace: 'kube-system', serviceAccount: 'bad', clientId: 'not-a-guid', ...columns(undefined), status: 'approved', reasons: ['Exempt'], detail: undefined, pods: undefined },
  ]);
  t.same(directory.credentialCalls, []);
});

void t.test('exemptNamespaces are globs', async (t) => {
  const globPolicy = { ...policy, exemptNamespaces: ['platform-*'] };
  const rows = await buildInventoryRows(input({ policy: globPolicy, serviceAccounts: [sa('platform-dns', 'external-dns', billing.clientId), sa('kube-system', 'agent', billing.clientId)] }));
  t.same(rows.map((r) => [r.namespace, r.status, r.reasons]), [
    ['kube-system', 'denied', ['IdentityNotApproved']],
    ['platform-dns', 'approved', ['Exempt']],
  ]);
});

void t.test('pod counts: the count by namespace/name, 0 when absent; undefined without counts', async (t) => {
  const serviceAccounts = [sa('checkout-prod', 'checkout-api', checkoutApi.clientId), sa('checkout-prod', 'idle', checkoutApi.clientId)];
  const podCounts = new Map([['checkout-prod/checkout-api', 3], ['checkout-prod/other', 7]]);
  const counted = await buildInventoryRows(input({ serviceAccounts, podCounts }));
  t.same(counted.map((r) => [r.serviceAccount, r.pods]), [['checkout-api', 3], ['idle', 0]]);
  const uncounted = await buildInventoryRows(input({ serviceAccounts }));
  t.same(uncounted.map((r) => r.pods), [undefined, undefined]);
});

void t.test('a namespace missing from a complete map (listed from a cluster) has no labels', async (t) => {
  // payments-prod is not in the map, so the rule's owner label cannot be read.
  const [row] = await buildInventoryRows(input({ serviceAccounts: [sa('payments-prod', 'api', checkoutApi.clientId)] }));
  t.match(row, { namespace: 'payments-prod', identityName: 'id-checkout-api', status: 'denied', reasons: ['IdentityNotApproved'] });
  t.match(row?.detail, /rule "team-must-own-identity" needs label platform\.example\.com\/owner on namespace payments-prod to know the required owner tag, and the namespace has none\./);
});

void t.test('a namespace missing from files has unknown labels: the rule is not evaluated, the row warns and says how to give it', async (t) => {
  const [row] = await buildInventoryRows(input({ namespacesComplete: false, serviceAccounts: [sa('payments-prod', 'api', checkoutApi.clientId)] }));
  t.match(row, { namespace: 'payments-prod', status: 'warned', reasons: ['NamespaceUnavailable'] });
  t.match(row?.detail, /rule "team-must-own-identity" cannot be evaluated: it needs the labels of namespace payments-prod, which are unknown: the Namespace was not given: include its manifest in the input, or give --objects FILE with it, or --kubeconfig/);
  t.notMatch(row?.detail, /has none/);
  const [given] = await buildInventoryRows(input({ namespacesComplete: false, serviceAccounts: [sa('checkout-prod', 'checkout-api', checkoutApi.clientId)] }));
  t.match(given, { status: 'approved', reasons: [] }, 'a namespace that is in the files is judged on its labels');
});

void t.test('a missing federated credential warns (onMissingFederatedCredential defaults to warn)', async (t) => {
  const [row] = await buildInventoryRows(input({ serviceAccounts: [sa('checkout-prod', 'batch', untrusted.clientId)] }));
  t.match(row, { identityName: 'id-checkout-batch', owner: 'checkout-team', environment: undefined, status: 'warned', reasons: ['NoMatchingFederatedCredential'] });
  t.match(row?.detail, /^ServiceAccount checkout-prod\/batch: managed identity id-checkout-batch has no federated credential for system:serviceaccount:checkout-prod:batch/);
  t.notMatch(row?.detail, /\[NoMatchingFederatedCredential\]$/);
});

void t.test('audit findings alone leave a row approved, with their reasons', async (t) => {
  const auditPolicy = { ...policy, onMissingFederatedCredential: 'audit' as const };
  const [row] = await buildInventoryRows(input({ policy: auditPolicy, serviceAccounts: [sa('checkout-prod', 'batch', untrusted.clientId)] }));
  t.match(row, { status: 'approved', reasons: ['NoMatchingFederatedCredential'] });
});

void t.test('several findings: reasons in order, detail from the first', async (t) => {
  const [row] = await buildInventoryRows(input({
    serviceAccounts: [sa('checkout-prod', 'checkout-api', checkoutApi.clientId, { 'azure.workload.identity/tenant-id': '00000000-0000-0000-0000-00000000beef', 'azure.workload.identity/service-account-token-expiration': '60' })],
  }));
  t.match(row, { status: 'denied', reasons: ['InvalidTokenExpiration', 'TenantMismatch'] });
  t.match(row?.detail, /^ServiceAccount checkout-prod\/checkout-api has azure\.workload\.identity\/service-account-token-expiration="60", which pods would be rejected for/);
});

void t.test('a client ID that is not a GUID is denied without asking the directory', async (t) => {
  const directory = new FakeDirectory([]);
  const [row] = await buildInventoryRows(input({ directory, serviceAccounts: [sa('checkout-prod', 'checkout-api', 'id-checkout-api')] }));
  t.match(row, { clientId: 'id-checkout-api', status: 'denied', reasons: ['InvalidClientId'] });
  t.same(directory.lookups, []);
});

void t.test('without a directory every client ID is unavailable (deny by default)', async (t) => {
  const [row] = await buildInventoryRows(input({ directory: undefined, serviceAccounts: [sa('checkout-prod', 'checkout-api', checkoutApi.clientId)] }));
  t.match(row, { ...columns(undefined), status: 'denied', reasons: ['InventoryUnavailable'] });
  t.match(row?.detail, /the identity inventory is unavailable \(no identity source is configured \(--identities\)\)/);
});

void t.test('an unavailable inventory follows onInventoryUnavailable', async (t) => {
  const warnPolicy = { ...policy, onInventoryUnavailable: 'warn' as const };
  const [row] = await buildInventoryRows(input({ policy: warnPolicy, directory: new FakeDirectory([], true), serviceAccounts: [sa('checkout-prod', 'checkout-api', checkoutApi.clientId)] }));
  t.match(row, { status: 'warned', reasons: ['InventoryUnavailable'] });
  t.match(row?.detail, /503 Service Unavailable/);
});

void t.test('only ServiceAccounts with a non-empty client ID, sorted by namespace then name; the input is not mutated', async (t) => {
  const serviceAccounts = [
    sa('web', 'b', checkoutApi.clientId),
    sa('checkout-prod', 'z', checkoutApi.clientId),
    sa('web', 'empty', ''),
    sa('web', 'none', undefined, { 'azure.workload.identity/tenant-id': '72f988bf-86f1-41af-91ab-2d7cd011db47' }),
    sa('web', 'a', checkoutApi.clientId),
    sa('Web', 'upper', checkoutApi.clientId),
  ];
  const before = structuredClone(serviceAccounts);
  const rows = await buildInventoryRows(input({ serviceAccounts }));
  t.same(rows.map((r) => `${r.namespace}/${r.serviceAccount}`), ['Web/upper', 'checkout-prod/z', 'web/a', 'web/b']);
  t.same(serviceAccounts, before);
  t.same(await buildInventoryRows(input({ serviceAccounts: [] })), []);
});

void t.test('lookups run at most `concurrency` at once and rows keep their order', async (t) => {
  const serviceAccounts = Array.from({ length: 40 }, (_, i) => sa(`ns-${String(i).padStart(2, '0')}`, 'sa', checkoutApi.clientId));
  const directory = new FakeDirectory([checkoutApi]);
  const rows = await buildInventoryRows(input({ directory, serviceAccounts: [...serviceAccounts].reverse(), concurrency: 3 }));
  t.equal(directory.maxInFlight, 3);
  t.same(rows.map((r) => r.namespace), serviceAccounts.map((s) => s.namespace));
  const defaulted = new FakeDirectory([checkoutApi]);
  await buildInventoryRows(input({ directory: defaulted, serviceAccounts }));
  t.equal(defaulted.maxInFlight, 8, 'default 8');
  await t.rejects(buildInventoryRows(input({ concurrency: 0 })), RangeError);
  await t.rejects(buildInventoryRows(input({ concurrency: 1.5 })), RangeError);
});
