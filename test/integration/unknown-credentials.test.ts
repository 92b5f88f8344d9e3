// An identities file straight from `az identity list -o json` carries no
// federated credentials: they are unknown, not "trusts nothing". The server
// says so once at start, with how to give them, and admissions get no
// NoMatchingFederatedCredential for those identities; an item with an
// explicit empty list still does.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { eventually, post } from '../helpers/https-client.js';
import { startHarness, waitReady } from '../helpers/harness.js';
import { serviceAccountReview } from '../helpers/reviews.js';
import type { ReviewResponse } from '../faults/support.js';

const examples = new URL('../../examples/', import.meta.url).pathname;
const CHECKOUT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';

void t.test('unknown federated credentials: noted once at start, never reported as missing', async (t) => {
  const identitiesPath = join(t.testdirName, 'identities.json');
  const asListed = (JSON.parse(readFileSync(join(examples, 'identities.json'), 'utf8')) as Record<string, unknown>[]).map(({ federatedCredentials: _omitted, ...item }) => item);
  const h = await startHarness(t, ['--policy', join(examples, 'policy.yaml'), '--identities', `file:${identitiesPath}`], (_dir, api) => {
    writeFileSync(identitiesPath, JSON.stringify(asListed));
    api.putNamespace('checkout-prod', { 'platform.example.com/owner': 'checkout-team' });
  });
  await waitReady(h);
  const notes = () => h.sink.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('federated credentials unknown'));
  t.equal(notes().length, 1, 'one note');
  t.match(notes()[0], {
    level: 40,
    component: 'inventory',
    source: `file:${identitiesPath}`,
    identities: 2,
    examples: ['rg-checkout-prod/id-checkout-api-prod', 'rg-billing-prod/id-billing-worker-prod'],
    msg: /az identity federated-credential list --identity-name <name> --resource-group <group> -o json .*or use an arm: source/,
  });

  const answer = (await post(h.server.webhookPort, '/validate', serviceAccountReview('u-1', CHECKOUT, 'new-api'), { ca: h.ca })).json as { response: ReviewResponse };
  t.same(answer.response, { uid: 'u-1', allowed: true }, 'approved, and no NoMatchingFederatedCredential for credentials nobody read');

  // A later listing (the file edited: one item now says it trusts nothing) is not noted again.
  writeFileSync(identitiesPath, JSON.stringify(asListed.map((item, i) => (i === 0 ? { ...item, federatedCredentials: [] } : item))));
  await eventually(async () => {
    const again = (await post(h.server.webhookPort, '/validate', serviceAccountReview('u-2', CHECKOUT, 'new-api'), { ca: h.ca })).json as { response: ReviewResponse };
    return (again.response.warnings ?? []).some((w) => w.includes('[NoMatchingFederatedCredential]') && w.includes('it trusts no subject at all'));
  }, 20_000, 'the explicit empty list to be read and reported as trusting nothing');
  t.equal(notes().length, 1, 'still one note');
});
