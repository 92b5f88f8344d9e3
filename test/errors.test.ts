// Every error code and every reason is documented in docs/errors.md: a
// section (with its anchor, which the SARIF rules link to) for each reason
// with a finding, a table row for those that admit without one.
import { readFileSync } from 'node:fs';
import { applyPatch, type Operation } from 'rfc6902';
import t from 'tap';
import { handleMutation, MUTATION_REASONS, type MutationOutcome, type MutationReason } from '../src/admission/handle-mutation.js';
import type { DecodedReview } from '../src/admission/review.js';
import { CHECK_RULE_IDS } from '../src/check/rules.js';
import { ERROR_CODES } from '../src/errors.js';
import { MAX_POD_CONTAINERS } from '../src/identity/constants.js';
import { VALIDATION_REASONS } from '../src/policy/evaluate.js';
import { ROUTE_DENIAL_REASONS } from '../src/server/routes/admission.js';
import { FakeServiceAccountLookup } from './helpers/fake-service-accounts.js';
import { testSettings } from './helpers/settings.js';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
for (const code of Object.keys(ERROR_CODES)) t.ok(doc.includes(`\`${code}\``), `${code} is in docs/errors.md`);

// Each mutation reason (the closed list the type is derived from) is what
// handleMutation answers in the situation its docs/errors.md row describes.
const LABEL = { 'azure.workload.identity/use': 'true' };
const PROXY = 'azure.workload.identity/inject-proxy-sidecar';
const pod = (spec: Record<string, unknown> = {}, annotations: Record<string, string> = {}, labels: Record<string, string> = LABEL): Record<string, unknown> => ({
  metadata: { name: 'web', labels, annotations },
  spec: { serviceAccountName: 'api', containers: [{ name: 'app', image: 'app:1' }], ...spec },
});
const review = (object: unknown, request: Record<string, unknown> = {}): DecodedReview => ({
  apiVersion: 'admission.k8s.io/v1',
  request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object, ...request },
});
const lookup = (live?: Error): FakeServiceAccountLookup => {
  const accounts = new FakeServiceAccountLookup([{ namespace: 'shop', name: 'api', annotations: { 'azure.workload.identity/client-id': '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2' } }]);
  accounts.liveError = live;
  return accounts;
};
const decide = (r: DecodedReview, options: { nativeSidecar?: boolean | undefined; lookupError?: Error } = { nativeSidecar: true }) =>
  handleMutation(r, { serviceAccounts: lookup(options.lookupError), settings: () => testSettings({ nativeSidecar: options.nativeSidecar }), serviceAccountLookupTimeoutMs: 100 });

const sections = [...doc.matchAll(/^### ([A-Za-z]+)$/gm)].map((m) => m[1] ?? '');
const rows = [...doc.matchAll(/^\| `([A-Z][A-Za-z]+)` \|/gm)].map((m) => m[1] ?? '');
/** The text of the section `### reason`, up to the next heading. */
const section = (reason: string): string => new RegExp(`^### ${reason}\\n([\\s\\S]*?)(?=^##)`, 'm').exec(`${doc}\n##`)?.[1] ?? '';

void t.test('every mutation reason is answered for the case docs/errors.md describes, and documented as such', async (t) => {
  const mutated = await decide(review(pod()));
  const patched = structuredClone(pod());
  applyPatch(patched, JSON.parse(Buffer.from(mutated.decision.patch ?? '', 'base64').toString('utf8')) as Operation[]);
  const cases: Record<MutationReason, () => Promise<MutationOutcome>> = {
    Mutated: async () => mutated,
    Unchanged: () => decide(review(patched)),
    NotOptedIn: () => decide(review(pod({}, {}, {}))),
    NotAPod: () => decide(review({ metadata: { name: 'cm' } }, { kind: { group: '', version: 'v1', kind: 'ConfigMap' } })),
    NotCreate: () => decide(review(pod(), { operation: 'UPDATE' })),
    InvalidPod: () => decide(review(pod({ containers: { app: {} } }))),
    ServiceAccountNotFound: () => decide(review(pod({ serviceAccountName: 'nope' }))),
    ServiceAccountLookupFailed: () => decide(review(pod({ serviceAccountName: 'new' })), { nativeSidecar: true, lookupError: new Error('connection refused') }),
    HostNetworkProxy: () => decide(review(pod({ hostNetwork: true }, { [PROXY]: 'true' }))),
    InvalidProxyPort: () => decide(review(pod({}, { [PROXY]: 'true', 'azure.workload.identity/proxy-sidecar-port': 'abc' }))),
    InvalidTokenExpiration: () => decide(review(pod({}, { 'azure.workload.identity/service-account-token-expiration': '3600s' }))),
    KubernetesVersionUnknown: () => decide(review(pod({}, { [PROXY]: 'true' })), { nativeSidecar: undefined }),
    LimitExceeded: () => decide(review(pod({ containers: Array.from({ length: MAX_POD_CONTAINERS + 1 }, (_, i) => ({ name: `c${i}`, image: 'app:1' })) }))),
  };
  t.same(Object.keys(cases).sort(), [...MUTATION_REASONS].sort(), 'one case per reason');
  for (const reason of MUTATION_REASONS) {
    const outcome = await cases[reason]();
    t.equal(outcome.reason, reason, `${reason}: ${outcome.decision.status?.message ?? (outcome.decision.patch ? 'patched' : 'admitted unchanged')}`);
    if (outcome.decision.allowed) {
      t.match(doc, new RegExp(`^\\| \`${reason}\` \\| mutation \\|`, 'm'), `${reason}: admitted, and docs/errors.md has a mutation row for it`);
    } else {
      t.match(outcome.decision.status?.message, new RegExp(`\\[${reason}\\]$`), `${reason}: the denial names its reason`);
      t.match(section(reason), /\*\*Webhook, action:\*\*.*mutation[,;] deny \(400\)/, `${reason}: denied with 400, as its docs/errors.md section says`);
    }
  }
});

// Denials of both webhooks that the route decides (test/server/internal-error.test.ts and the hostile tests reach them).
for (const reason of new Set([...ROUTE_DENIAL_REASONS, ...VALIDATION_REASONS, ...CHECK_RULE_IDS])) {
  t.ok(sections.includes(reason), `${reason} has a section (### ${reason}) in docs/errors.md`);
}
const known: string[] = [...MUTATION_REASONS, ...ROUTE_DENIAL_REASONS, ...VALIDATION_REASONS];
t.same([...sections, ...rows].filter((r) => !known.includes(r)), [], 'docs/errors.md documents no reason the code does not have');
t.equal(new Set(sections).size, sections.length, 'one section per reason (anchors are unique)');
