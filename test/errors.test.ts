// Every error code and every reason is documented in docs/errors.md: a
// section (with its anchor, which the SARIF rules link to) for each reason
// with a finding, a table row for those that admit without one.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CHECK_RULE_IDS } from '../src/check/rules.js';
import { ERROR_CODES } from '../src/errors.js';
import { VALIDATION_REASONS } from '../src/policy/evaluate.js';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
for (const code of Object.keys(ERROR_CODES)) t.ok(doc.includes(`\`${code}\``), `${code} is in docs/errors.md`);

const admitting = ['Mutated', 'Unchanged', 'NotOptedIn', 'NotAPod', 'NotCreate'];
const mutationDenials = ['InvalidPod', 'ServiceAccountNotFound', 'ServiceAccountLookupFailed', 'HostNetworkProxy', 'InvalidProxyPort', 'InvalidTokenExpiration', 'KubernetesVersionUnknown', 'LimitExceeded'];
const source = readFileSync(new URL('../src/admission/handle-mutation.ts', import.meta.url), 'utf8') + readFileSync(new URL('../src/identity/mutate-pod.ts', import.meta.url), 'utf8');
for (const reason of [...admitting, ...mutationDenials]) t.ok(source.includes(`'${reason}'`), `${reason} is a reason the code uses`);
// Denials of both webhooks, decided by the route itself.
const routeDenials = ['InternalError', 'LimitExceeded'];
const route = readFileSync(new URL('../src/server/routes/admission.ts', import.meta.url), 'utf8');
for (const reason of routeDenials) t.ok(route.includes(`'${reason}'`), `${reason} is a reason the route uses`);

const sections = [...doc.matchAll(/^### ([A-Za-z]+)$/gm)].map((m) => m[1] ?? '');
const rows = [...doc.matchAll(/^\| `([A-Z][A-Za-z]+)` \|/gm)].map((m) => m[1] ?? '');
for (const reason of admitting) t.ok(rows.includes(reason), `${reason} has a row in docs/errors.md`);
for (const reason of new Set([...mutationDenials, ...routeDenials, ...VALIDATION_REASONS, ...CHECK_RULE_IDS])) {
  t.ok(sections.includes(reason), `${reason} has a section (### ${reason}) in docs/errors.md`);
}
const known: string[] = [...admitting, ...mutationDenials, ...routeDenials, ...VALIDATION_REASONS];
t.same([...sections, ...rows].filter((r) => !known.includes(r)), [], 'docs/errors.md documents no reason the code does not have');
t.equal(new Set(sections).size, sections.length, 'one section per reason (anchors are unique)');
