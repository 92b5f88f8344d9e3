import t from 'tap';
import { parseIdentities } from '../../src/azure/file-source.js';
import { createInterner } from '../../src/util/intern.js';

void t.test('equal lists are one frozen list; records get interned values', async (t) => {
  const intern = createInterner();
  const a = intern.list(['api://AzureADTokenExchange']);
  t.equal(intern.list(['api://AzureADTokenExchange']), a, 'the same array');
  t.ok(Object.isFrozen(a));
  t.not(intern.list(['api://AzureADTokenExchange', 'other']), a);
  t.not(intern.list(['a\0b']), intern.list(['a', 'b']), 'not confused by the separator');
  t.same(intern.record({ owner: 'team-a' }), { owner: 'team-a' });
  t.equal(intern.string('x'), 'x');
});

void t.test('identities parsed from one file share their repeated lists', async (t) => {
  const identity = (n: number) => ({
    id: `/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-${n}`,
    clientId: `00000000-0000-4000-8000-00000000000${n}`,
    principalId: `10000000-0000-4000-8000-00000000000${n}`,
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    federatedCredentials: [{ name: 'fc', issuer: 'https://oidc.example/', subject: `system:serviceaccount:ns:sa-${n}` }],
  });
  const [first, second] = parseIdentities(JSON.stringify([identity(1), identity(2)]), 'ids.json');
  const audiences = (i: typeof first) => (Array.isArray(i?.federatedCredentials) ? i.federatedCredentials[0]?.audiences : undefined);
  t.same(audiences(first), ['api://AzureADTokenExchange'], 'the default audience');
  t.equal(audiences(first), audiences(second), 'one list for both');
});
