// Every error code and every mutation reason is documented in docs/errors.md.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ERROR_CODES } from '../src/errors.js';
import { VALIDATION_REASONS } from '../src/policy/evaluate.js';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
for (const code of Object.keys(ERROR_CODES)) t.ok(doc.includes(`\`${code}\``), `${code} is in docs/errors.md`);

const reasons = [
  'Mutated', 'Unchanged', 'NotOptedIn', 'NotAPod', 'NotCreate', 'InvalidPod', 'ServiceAccountNotFound',
  'ServiceAccountLookupFailed', 'HostNetworkProxy', 'InvalidProxyPort', 'InvalidTokenExpiration', 'KubernetesVersionUnknown',
  'LimitExceeded', 'InternalError',
];
const source = ['../src/admission/handle-mutation.ts', '../src/identity/mutate-pod.ts', '../src/server/routes/admission.ts']
  .map((file) => readFileSync(new URL(file, import.meta.url), 'utf8'))
  .join('');
for (const reason of reasons) {
  t.ok(source.includes(`'${reason}'`), `${reason} is a reason the code uses`);
  t.ok(doc.includes(`\`${reason}\``), `${reason} is in docs/errors.md`);
}
for (const reason of VALIDATION_REASONS) t.ok(doc.includes(`| \`${reason}\` |`), `validation reason ${reason} has a row in docs/errors.md`);
const all = [...reasons, ...VALIDATION_REASONS] as string[];
const documented = [...doc.matchAll(/^\| `([A-Z][A-Za-z]+)` \|/gm)].map((m) => m[1]);
t.same(documented.filter((r) => !all.includes(r ?? '')), [], 'docs/errors.md lists no reason the code does not have');
