import { ClientSecretCredential } from '@azure/identity';
import t, { type Test } from 'tap';
import { parseArmScope } from '../../src/azure/arm-scope.js';
import { ArmMsiIdentitySource, type ArmMsiIdentitySourceOptions, type ArmOperation, type ArmRequestResult } from '../../src/azure/arm-source.js';
import { classifyArmError, isAuthError, isNotFound, isThrottled, retryAfterMs } from '../../src/azure/errors.js';
import { IdentityInventory } from '../../src/azure/inventory.js';
import { isAppError } from '../../src/errors.js';
import { FakeArm, type FakeArmIdentity } from '../helpers/fake-arm.js';
import { createLogSink } from '../helpers/log-sink.js';

const SUB = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';
const OTHER_SUB = '5c1a0000-0000-4000-8000-0000000000ff';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

function fakeIdentity(n: number, resourceGroup: string, subscriptionId = SUB): FakeArmIdentity {
  const hex = n.toString(16).padStart(12, '0');
  return {
    subscriptionId,
    resourceGroup,
    name: `id-${n}`,
    clientId: `c11e0000-0000-4000-8000-${hex}`,
    principalId: `9a1c0000-0000-4000-8000-${hex}`,
    tenantId: TENANT,
    tags: { owner: `team-${n}` },
  };
}

/** A fake ARM with six identities (one in another subscription), stopped when the test ends. */
async function startArm(t: Test): Promise<FakeArm> {
  const arm = new FakeArm();
  await arm.start();
  t.teardown(() => arm.stop());
  arm.identities.push(
    fakeIdentity(1, 'rg-a'),
    fakeIdentity(2, 'rg-a'),
    fakeIdentity(3, 'rg-b'),
    fakeIdentity(4, 'rg-b'),
    fakeIdentity(5, 'rg-a'),
    fakeIdentity(9, 'rg-a', OTHER_SUB),
  );
  arm.credentials.set('id-1', [
    { name: 'checkout', issuer: 'https://oidc.example/', subject: 'system:serviceaccount:checkout:api', audiences: ['api://AzureADTokenExchange'] },
    { name: 'billing', issuer: 'https://oidc.example/', subject: 'system:serviceaccount:billing:worker', audiences: ['api://AzureADTokenExchange'] },
    { name: 'extra', issuer: 'https://other.example/', subject: 'system:serviceaccount:x:y', audiences: ['custom'] },
  ]);
  return arm;
}

/** The real SDK stack (ClientSecretCredential → MSAL → fake Entra; arm-msi → fake ARM), trusting only the fake's CA. */
function createSource(arm: FakeArm, overrides: Partial<ArmMsiIdentitySourceOptions> & { secret?: string } = {}) {
  const calls: [ArmOperation, ArmRequestResult][] = [];
  const tlsOptions = { ca: arm.caCert };
  const credential = new ClientSecretCredential(TENANT, 'webhook-client-id', overrides.secret ?? 'fake-secret', {
    authorityHost: arm.url,
    disableInstanceDiscovery: true,
    tlsOptions,
    retryOptions: { maxRetries: 0 },
  });
  const source = new ArmMsiIdentitySource({
    scope: { subscriptionId: SUB },
    credential,
    endpoint: arm.url,
    tlsOptions,
    retry: { maxRetries: 1, retryDelayInMs: 1, maxRetryDelayInMs: 2 },
    onArmRequest: (operation, result, seconds) => {
      calls.push([operation, result]);
      if (!(seconds >= 0)) throw new Error(`bad duration ${seconds}`);
    },
    ...overrides,
  });
  return { source, calls };
}

void t.test('lists every page of a subscription and maps each identity', async (t) => {
  const arm = await startArm(t);
  const { source, calls } = createSource(arm);
  t.equal(source.description, `arm:/subscriptions/${SUB}`);
  const identities = await source.listIdentities();
  t.same(identities.map((i) => i.name), ['id-1', 'id-2', 'id-3', 'id-4', 'id-5'], 'all three pages, only this subscription');
  t.same(identities[2], {
    clientId: 'c11e0000-0000-4000-8000-000000000003',
    principalId: '9a1c0000-0000-4000-8000-000000000003',
    tenantId: TENANT,
    name: 'id-3',
    id: `/subscriptions/${SUB}/resourcegroups/rg-b/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-3`,
    subscriptionId: SUB,
    resourceGroup: 'rg-b',
    tags: { owner: 'team-3' },
  });
  t.equal(identities[0]?.federatedCredentials, undefined, 'credentials are left to listFederatedCredentials');

  const armRequests = arm.armRequests();
  t.same(armRequests.map((r) => r.url.replace(/\?.*/, '')), Array(3).fill(`/subscriptions/${SUB}/providers/Microsoft.ManagedIdentity/userAssignedIdentities`));
  t.match(armRequests[0]?.url, /\?api-version=2024-11-30$/);
  t.match(armRequests[2]?.url, /%24skipToken=4|\$skipToken=4/, 'followed nextLink');
  t.ok(armRequests.every((r) => r.authorization === `Bearer ${arm.accessToken}`), 'every ARM request carried the token from the fake Entra ID');
  const tokenRequests = arm.requests.filter((r) => r.url.includes('/oauth2/v2.0/token'));
  t.equal(tokenRequests.length, 1, 'one token, cached by MSAL across pages');
  t.match(tokenRequests[0]?.body, new RegExp(`scope=${encodeURIComponent(`${arm.url}/.default`)}`), 'token scope is <endpoint>/.default');
  t.same(calls, Array(3).fill(['listBySubscription', 'success']), 'one duration sample per page');
});

void t.test('a resource group scope lists only that group', async (t) => {
  const arm = await startArm(t);
  const { source, calls } = createSource(arm, { scope: { subscriptionId: SUB, resourceGroup: 'rg-b' } });
  t.equal(source.description, `arm:/subscriptions/${SUB}/resourceGroups/rg-b`);
  t.same((await source.listIdentities()).map((i) => i.name), ['id-3', 'id-4']);
  t.match(arm.armRequests()[0]?.url, new RegExp(`^/subscriptions/${SUB}/resourceGroups/rg-b/providers/Microsoft.ManagedIdentity/userAssignedIdentities\\?`));
  t.same(calls, [['listByResourceGroup', 'success']]);
});

void t.test('lists an identity\'s federated credentials, all pages', async (t) => {
  const arm = await startArm(t);
  const { source, calls } = createSource(arm);
  const [first] = await source.listIdentities();
  calls.length = 0;
  arm.requests.length = 0;
  const credentials = await source.listFederatedCredentials(first!);
  t.same(credentials, [
    { name: 'checkout', issuer: 'https://oidc.example/', subject: 'system:serviceaccount:checkout:api', audiences: ['api://AzureADTokenExchange'] },
    { name: 'billing', issuer: 'https://oidc.example/', subject: 'system:serviceaccount:billing:worker', audiences: ['api://AzureADTokenExchange'] },
    { name: 'extra', issuer: 'https://other.example/', subject: 'system:serviceaccount:x:y', audiences: ['custom'] },
  ]);
  t.match(arm.armRequests()[0]?.url, new RegExp(`^/subscriptions/${SUB}/resourceGroups/rg-a/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1/federatedIdentityCredentials\\?api-version=`));
  t.same(calls, [['listFederatedCredentials', 'success'], ['listFederatedCredentials', 'success']]);

  const err = await source.listFederatedCredentials({ ...first!, name: 'id-deleted' }).catch((e: unknown) => e);
  t.equal(isNotFound(err), true, '404 for an identity that is gone');
  t.equal(calls.at(-1)?.[1], 'not_found');
});

void t.test('429 surfaces at once as a throttled error with its Retry-After', async (t) => {
  const arm = await startArm(t);
  const { source, calls } = createSource(arm);
  arm.failNext(429, { headers: { 'Retry-After': '7' } });
  const err = await source.listIdentities().catch((e: unknown) => e);
  t.equal(isThrottled(err), true);
  t.equal(retryAfterMs(err), 7000);
  t.equal(arm.armRequests().length, 1, 'not retried inside the SDK: the inventory owns the wait');
  t.same(calls, [['listBySubscription', 'throttled']]);

  // Read against the instant the date was written for, so a slow machine cannot shorten the wait.
  const now = Date.now();
  const date = new Date(now + 120_000).toUTCString();
  arm.failNext(429, { headers: { 'Retry-After': date } });
  const dated = await source.listIdentities().catch((e: unknown) => e);
  const wait = retryAfterMs(dated, now) ?? 0;
  t.ok(wait > 119_000 && wait <= 120_000, `an HTTP-date Retry-After, to the second (${wait} ms)`);
});

void t.test('5xx is retried with backoff, then surfaces as an error', async (t) => {
  const arm = await startArm(t);
  const { source, calls } = createSource(arm);
  arm.failNext(500);
  t.equal((await source.listIdentities()).length, 5, 'one 500 then success');
  t.same(calls[0], ['listBySubscription', 'success'], 'the retried page counts once, by its outcome');

  arm.requests.length = 0;
  arm.failNext(503, { count: 2, code: 'ServiceUnavailable' });
  const err = await source.listIdentities().catch((e: unknown) => e);
  t.equal(classifyArmError(err), 'error');
  t.equal(arm.armRequests().length, 2, 'maxRetries 1');
});

void t.test('a slow answer is cut off by the abort signal', async (t) => {
  const arm = await startArm(t);
  const { source } = createSource(arm);
  await source.listIdentities(); // token first, so only ARM is slow
  arm.delayMs = 200;
  const err = await source.listIdentities(AbortSignal.timeout(10)).catch((e: unknown) => e);
  t.match(err, { name: 'AbortError' });
});

void t.test('authentication failures are auth errors', async (t) => {
  const arm = await startArm(t);
  const { source, calls } = createSource(arm, { secret: 'wrong' });
  const err = await source.listIdentities().catch((e: unknown) => e);
  t.equal(isAuthError(err), true);
  t.same(calls, [['listBySubscription', 'auth']]);

  const ok = createSource(arm);
  arm.failNext(403, { code: 'AuthorizationFailed' });
  t.equal(classifyArmError(await ok.source.listIdentities().catch((e: unknown) => e)), 'auth');
});

void t.test('TLS verification stays on: a client that does not trust the fake CA fails', async (t) => {
  const arm = await startArm(t);
  const { source } = createSource(arm, { tlsOptions: {} });
  const err = await source.listIdentities().catch((e: unknown) => e);
  t.match(String(err), /self[- ]signed|unable to (get|verify)|certificate/i);
  t.equal(arm.armRequests().length, 0);
});

void t.test('the inventory over the real adapter: lookups, lazy credentials, no ARM call per admission', async (t) => {
  const arm = await startArm(t);
  const { source } = createSource(arm);
  const inventory = new IdentityInventory({ sources: [source], log: createLogSink().log });
  t.teardown(() => inventory.stop());
  inventory.start();
  const found = await inventory.lookupClientId('C11E0000-0000-4000-8000-000000000004');
  t.equal(found.status === 'found' && found.identity.name, 'id-4');
  const one = await inventory.lookupClientId('c11e0000-0000-4000-8000-000000000001');
  if (one.status !== 'found') throw new Error('id-1 not found');
  const before = arm.armRequests().length;
  const first = await inventory.federatedCredentials(one.identity);
  t.equal(first.status === 'found' && first.credentials.length, 3);
  for (let i = 0; i < 20; i++) await inventory.federatedCredentials(one.identity);
  t.equal(arm.armRequests().length - before, 2, 'two pages once, then answered from the cache');
});

void t.test('parseArmScope', async (t) => {
  const valid: [string, ReturnType<typeof parseArmScope>][] = [
    [`arm:/subscriptions/${SUB}`, { subscriptionId: SUB }],
    [`arm:/subscriptions/${SUB}/`, { subscriptionId: SUB }],
    [`arm:/subscriptions/${SUB}/resourceGroups/rg-identities`, { subscriptionId: SUB, resourceGroup: 'rg-identities' }],
    [`arm:/Subscriptions/${SUB.toUpperCase()}/resourcegroups/My_RG.(prod)-1`, { subscriptionId: SUB.toUpperCase(), resourceGroup: 'My_RG.(prod)-1' }],
  ];
  for (const [text, scope] of valid) t.same(parseArmScope(text), scope, text);
  const invalid: [string, RegExp][] = [
    [`/subscriptions/${SUB}`, /does not start with arm:/],
    [`arm:subscriptions/${SUB}`, /the path must start with \/subscriptions\//],
    ['arm:/subscriptions/not-a-guid', /subscription ID "not-a-guid" is not a GUID/],
    ['arm:/subscriptions/', /subscription ID "" is not a GUID/],
    [`arm:/subscriptions/${SUB}/providers/x`, /only \/resourceGroups\/<name> may follow the subscription/],
    [`arm:/subscriptions/${SUB}/resourceGroups`, /only \/resourceGroups\/<name> may follow/],
    [`arm:/subscriptions/${SUB}/resourceGroups/rg/extra`, /only \/resourceGroups\/<name> may follow/],
    [`arm:/subscriptions/${SUB}/resourceGroups/rg.`, /resource group name "rg\." is not valid/],
    [`arm:/subscriptions/${SUB}/resourceGroups/rg%20x`, /resource group name "rg%20x" is not valid/],
  ];
  for (const [text, pattern] of invalid) {
    const err = (() => {
      try {
        parseArmScope(text);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(isAppError(err, 'WIA_ERR_IDENTITY_SOURCE_INVALID'), `${text} is rejected`);
    t.match((err as Error | undefined)?.message, pattern);
    t.match((err as Error | undefined)?.message, /expected arm:\/subscriptions\/<subscription GUID>\[\/resourceGroups\/<name>\]$/);
  }
});
