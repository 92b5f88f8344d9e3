import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { FileIdentitySource, parseIdentities } from '../../src/azure/file-source.js';
import { isAppError } from '../../src/errors.js';

const SUB = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';

// Verbatim shape of `az identity list -o json` (azure-cli 2.6x): extra fields, lower-case `resourcegroups`, null tags.
const AZ_IDENTITY_LIST = JSON.stringify(
  [
    {
      clientId: '6f1c2a3b-4c5d-4e6f-8a9b-0c1d2e3f40e2',
      id: `/subscriptions/${SUB}/resourcegroups/rg-billing-prod/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-billing-worker-prod`,
      isolationScope: 'None',
      location: 'westeurope',
      name: 'id-billing-worker-prod',
      principalId: 'a1b2c3d4-0000-4000-8000-000000000001',
      resourceGroup: 'rg-billing-prod',
      systemData: null,
      tags: { owner: 'billing-team', 'kubernetes.namespaces': 'billing-*' },
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      type: 'Microsoft.ManagedIdentity/userAssignedIdentities',
    },
    {
      clientId: '0D5E8A7C-1111-4222-8333-944455556666',
      id: `/subscriptions/${SUB}/resourcegroups/rg-shared/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-shared`,
      location: 'westeurope',
      name: 'id-shared',
      principalId: 'a1b2c3d4-0000-4000-8000-000000000002',
      resourceGroup: 'rg-shared',
      tags: null,
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      type: 'Microsoft.ManagedIdentity/userAssignedIdentities',
    },
  ],
  null,
  2,
);

void t.test('reads `az identity list -o json` output as it is', async (t) => {
  const identities = parseIdentities(AZ_IDENTITY_LIST, 'ids.json');
  t.same(identities, [
    {
      clientId: '6f1c2a3b-4c5d-4e6f-8a9b-0c1d2e3f40e2',
      principalId: 'a1b2c3d4-0000-4000-8000-000000000001',
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      name: 'id-billing-worker-prod',
      id: `/subscriptions/${SUB}/resourcegroups/rg-billing-prod/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-billing-worker-prod`,
      subscriptionId: SUB,
      resourceGroup: 'rg-billing-prod',
      tags: { owner: 'billing-team', 'kubernetes.namespaces': 'billing-*' },
      // az identity list does not print them: unknown, not "trusts nothing".
      federatedCredentials: 'unknown',
    },
    {
      clientId: '0D5E8A7C-1111-4222-8333-944455556666',
      principalId: 'a1b2c3d4-0000-4000-8000-000000000002',
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      name: 'id-shared',
      id: `/subscriptions/${SUB}/resourcegroups/rg-shared/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-shared`,
      subscriptionId: SUB,
      resourceGroup: 'rg-shared',
      tags: {},
      federatedCredentials: 'unknown',
    },
  ]);
  t.strictSame(Object.keys(identities[0] ?? {}).includes('location'), false, 'fields the inventory does not use are dropped');
});

void t.test('reads {identities: [...]} in JSON, and YAML with federated credentials in the az shape', async (t) => {
  const wrapped = parseIdentities(`{"identities": ${AZ_IDENTITY_LIST}}`, 'ids.json');
  t.equal(wrapped.length, 2);

  const yaml = [
    'identities:',
    '  - name: id-checkout-api',
    `    id: /subscriptions/${SUB}/resourceGroups/rg-checkout/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-checkout-api`,
    '    clientId: 11111111-2222-4333-8444-555555555555',
    '    principalId: 66666666-7777-4888-8999-000000000000',
    '    tenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47',
    '    tags: {owner: checkout-team, cost-center: 1234, shared: false}',
    '    federatedCredentials:',
    '      # as printed by az identity federated-credential list -o json',
    '      - name: checkout-api',
    `        id: /subscriptions/${SUB}/resourcegroups/rg-checkout/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-checkout-api/federatedIdentityCredentials/checkout-api`,
    '        issuer: https://westeurope.oic.prod-aks.azure.com/tenant/cluster/',
    '        subject: system:serviceaccount:checkout-prod:checkout-api',
    '        audiences: [api://AzureADTokenExchange]',
    '        resourceGroup: rg-checkout',
    '        type: Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials',
    '      - name: no-audiences-given',
    '        issuer: https://issuer.example/',
    '        subject: system:serviceaccount:checkout-dev:checkout-api',
  ].join('\n');
  const [checkout] = parseIdentities(yaml, 'ids.yaml');
  t.same(checkout, {
    clientId: '11111111-2222-4333-8444-555555555555',
    principalId: '66666666-7777-4888-8999-000000000000',
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    name: 'id-checkout-api',
    id: `/subscriptions/${SUB}/resourceGroups/rg-checkout/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-checkout-api`,
    subscriptionId: SUB,
    resourceGroup: 'rg-checkout',
    tags: { owner: 'checkout-team', 'cost-center': '1234', shared: 'false' },
    federatedCredentials: [
      {
        name: 'checkout-api',
        issuer: 'https://westeurope.oic.prod-aks.azure.com/tenant/cluster/',
        subject: 'system:serviceaccount:checkout-prod:checkout-api',
        audiences: ['api://AzureADTokenExchange'],
      },
      {
        name: 'no-audiences-given',
        issuer: 'https://issuer.example/',
        subject: 'system:serviceaccount:checkout-dev:checkout-api',
        audiences: ['api://AzureADTokenExchange'],
      },
    ],
  }, 'subscription, resource group and name come from id; tag scalars become strings; audiences default as in az');
  t.same(parseIdentities('[]', 'empty.json'), [], 'no identities is a valid file');
});

void t.test('a plainly valid item and one the schema has to convert give the same identity', async (t) => {
  const base = {
    id: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a`,
    clientId: '11111111-2222-4333-8444-555555555555',
    principalId: '66666666-7777-4888-8999-000000000000',
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    federatedCredentials: [{ name: 'fc', issuer: 'https://i/', subject: 'system:serviceaccount:a:b', audiences: ['api://AzureADTokenExchange'] }],
  };
  const [plain] = parseIdentities(JSON.stringify([{ ...base, tags: { owner: 'a', n: '1' } }]), 'a.json');
  const [converted] = parseIdentities(JSON.stringify([{ ...base, tags: { owner: 'a', n: 1 }, federatedCredentials: [{ name: 'fc', issuer: 'https://i/', subject: 'system:serviceaccount:a:b' }] }]), 'b.json');
  t.same(converted, plain, 'a number tag and a defaulted audience, through the schema');
  t.same(plain?.tags, { owner: 'a', n: '1' });
});

void t.test('errors name the file, the item and the field', async (t) => {
  const good = JSON.parse(AZ_IDENTITY_LIST) as Record<string, unknown>[];
  const item = (changes: Record<string, unknown>): string => JSON.stringify([good[0], { ...good[1], ...changes }]);
  const cases: [string, string, RegExp][] = [
    ['a client ID that is not a GUID', item({ clientId: 'not-a-guid' }), /^ids\.json: item 1 \("id-shared"\): field clientId: not a GUID: "not-a-guid"$/],
    ['a missing principal ID', item({ principalId: undefined }), /item 1 \("id-shared"\): field principalId: required$/],
    ['a bad resource ID', item({ id: '/subscriptions/x/resourceGroups/rg' }), /item 1 \("id-shared"\): field id: expected \/subscriptions\/<subscription>\/resourceGroups\/<group>\/providers\/Microsoft\.ManagedIdentity/],
    ['a tag that is not a string', item({ tags: { owner: { team: 'x' } } }), /item 1 \("id-shared"\): field tags\.owner: tag values must be strings/],
    [
      'a credential without a subject',
      item({ federatedCredentials: [{ name: 'fc', issuer: 'https://i' }] }),
      /item 1 \("id-shared"\): field federatedCredentials\[0\]\.subject: required$/,
    ],
    ['a duplicate client ID', JSON.stringify([good[0], { ...good[1], clientId: good[0]?.clientId }]), /item 1 \("id-shared"\): field clientId: 6f1c2a3b-4c5d-4e6f-8a9b-0c1d2e3f40e2 is also the clientId of item 0/],
    ['an item that is not an object', '[42]', /item 0: field \(the item itself\): Invalid input: expected object, received number/],
    ['neither a list nor {identities}', '{"value": []}', /^ids\.json: expected a list of identities \(the output of az identity list -o json\) or an object with an identities list, not an object without an identities list$/],
    ['an empty .json file', '', /^ids\.json:1:1: not JSON: the file is empty$/],
    ['an empty .yaml file', '', /^ids\.yaml: expected a list of identities .*, not an empty document$/],
    ['text in a .json file', 'this is { not json', /^ids\.json:1:1: not JSON: unexpected text$/],
    ['a missing value in a .json file', '[\n  {"name": "a",\n   "clientId": }\n]', /^ids\.json:3:16: not JSON: a value expected$/],
    ['a trailing comma in a .json file', '[{"name": "a"},\n]', /^ids\.json:2:1: not JSON: a value expected$/],
    ['invalid YAML', 'identities: [unclosed', /^ids\.yaml:1:22: not YAML: Flow sequence in block collection must be sufficiently indented and end with a \]$/],
    ['a mapping in a .yaml file', 'identities: 3', /^ids\.yaml: expected a list of identities/],
  ];
  for (const [name, text, pattern] of cases) {
    const err = catchError(() => parseIdentities(text, name.includes('.yaml') || name.includes('YAML') ? 'ids.yaml' : 'ids.json'));
    t.ok(isAppError(err, 'WIA_ERR_IDENTITIES_FILE_INVALID'), `${name}: typed error`);
    t.match((err as Error | undefined)?.message, pattern, name);
  }
  const many = JSON.stringify(Array.from({ length: 15 }, () => ({ ...good[0], clientId: 'x' })));
  t.match((catchError(() => parseIdentities(many, 'ids.json')) as Error).message, /item 9 .*; … and 5 more$/, 'long reports are capped');
});

void t.test('FileIdentitySource reads the file on every listing and names it in errors', async (t) => {
  const dir = t.testdir({ 'ids.json': AZ_IDENTITY_LIST });
  const path = join(dir, 'ids.json');
  const source = new FileIdentitySource(path);
  t.equal(source.description, `file:${path}`);
  const first = await source.listIdentities();
  t.equal(first.length, 2);
  // az identity list prints no federatedCredentials: unknown, which the source cannot list (never "trusts nothing").
  await t.rejects(source.listFederatedCredentials(first[0]!), { message: /gives no federatedCredentials for id-billing-worker-prod$/ });
  await writeFile(path, JSON.stringify([{ ...(JSON.parse(AZ_IDENTITY_LIST) as object[])[0], federatedCredentials: [] }]));
  const [trustsNothing] = await source.listIdentities();
  t.same(trustsNothing?.federatedCredentials, [], 'an explicit empty list is kept: it trusts nothing');
  t.same(await source.listFederatedCredentials(trustsNothing!), [], 'and lists as such');

  await writeFile(path, '[]');
  t.same(await source.listIdentities(), [], 'an edit is seen by the next listing');
  await writeFile(path, '[{"name": "x"}]');
  await t.rejects(source.listIdentities(), { code: 'WIA_ERR_IDENTITIES_FILE_INVALID', message: new RegExp(`^${escape(path)}: item 0 \\("x"\\): field id:`) });
  await t.rejects(new FileIdentitySource(join(dir, 'missing.json')).listIdentities(), {
    code: 'WIA_ERR_IDENTITIES_FILE_INVALID',
    // Once, not Node's "ENOENT: no such file or directory, open '…'" after the path.
    message: new RegExp(`^${escape(join(dir, 'missing.json'))}: cannot read: no such file or directory$`),
  });
});

void t.test('watch() reports edits and atomic replacements, debounced', async (t) => {
  const dir = t.testdir({ 'ids.json': '[]', 'other.txt': '' });
  const path = join(dir, 'ids.json');
  const source = new FileIdentitySource(path, { debounceMs: 20 });
  // The watch and its timer are unref'd (they must not keep a server alive); keep the test process alive instead.
  const keepAlive = setInterval(() => undefined, 60_000);
  t.teardown(() => clearInterval(keepAlive));
  let changes = 0;
  let notify = (): void => undefined;
  const stop = source.watch(() => {
    changes++;
    notify();
  });
  t.teardown(stop);
  const changed = (): Promise<void> => new Promise((resolve) => (notify = resolve));

  let next = changed();
  await writeFile(path, AZ_IDENTITY_LIST);
  await writeFile(path, AZ_IDENTITY_LIST);
  await next;
  t.equal(changes, 1, 'a burst of writes is one change');

  next = changed();
  await writeFile(join(dir, 'ids.json.tmp'), '[]');
  await rename(join(dir, 'ids.json.tmp'), path);
  await next;
  t.equal(changes, 2, 'a rename over the file is a change');
  t.same(await source.listIdentities(), []);
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
