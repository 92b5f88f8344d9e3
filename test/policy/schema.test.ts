import { readFileSync } from 'node:fs';
import t from 'tap';
import { parsePolicy } from '../../src/policy/schema.js';

void t.test('the example policy parses, with defaults filled in', async (t) => {
  const parsed = parsePolicy(readFileSync(new URL('../../examples/policy.yaml', import.meta.url), 'utf8'), 'examples/policy.yaml');
  if (!parsed.ok) throw new Error(parsed.error);
  t.equal(parsed.policy.spec.rules.length, 2);
  t.equal(parsed.policy.spec.defaultAction, 'deny');
  t.equal(parsed.policy.spec.onClientSecretInPod, 'warn');
  t.equal(parsed.policy.spec.rules[1]?.action, 'deny');
  const minimal = parsePolicy('apiVersion: wi-admission.io/v1\nkind: IdentityPolicy\nspec: {}\n', 'p');
  t.match(minimal, { ok: true, policy: { spec: { exemptNamespaces: ['kube-system'], namespaceTag: 'kubernetes.namespaces', onUnknownIdentity: 'deny', onMissingFederatedCredential: 'warn', rules: [] } } });
});

void t.test('errors point at the bad field', async (t) => {
  const base = 'apiVersion: wi-admission.io/v1\nkind: IdentityPolicy\n';
  const cases: [string, RegExp][] = [
    ['spec: [unclosed', /^p:1:16: not YAML: Flow sequence in block collection must be sufficiently indented and end with a \]$/],
    ['apiVersion: v2\nkind: IdentityPolicy\nspec: {}', /p: apiVersion: must be wi-admission\.io\/v1/],
    [`${base}spec:\n  onUnknownIdentity: reject`, /p: spec\.onUnknownIdentity: must be deny, warn or audit/],
    [`${base}spec:\n  rules:\n    - name: a\n      requireTags: {owner: x}\n      action: block`, /spec\.rules\[0\]\.action: must be deny, warn or audit/],
    [`${base}spec:\n  rules:\n    - name: a`, /spec\.rules\[0\]: a rule needs requireTags or forbidDefaultServiceAccount: true/],
    [`${base}spec:\n  rules:\n    - name: Bad_Name\n      requireTags: {owner: x}`, /spec\.rules\[0\]\.name: must be a lowercase name/],
    [`${base}spec:\n  rules:\n    - {name: a, requireTags: {owner: x}}\n    - {name: a, requireTags: {owner: y}}`, /spec\.rules\[1\]\.name: duplicate rule name "a"/],
    [`${base}spec:\n  rules:\n    - name: a\n      requireTags: {owner: "{namespace.annotations['x']}"}`, /has a reference other than \{namespace\.name\}/],
    [`${base}spec:\n  rulez: []`, /^p: spec: unknown field "rulez" \(docs\/policy.md lists the fields\)$/],
    [`${base}spec:\n  rules:\n    - name: a\n      namespaces: {selector: {matchExpressions: [{key: k, operator: Equals}]}}\n      requireTags: {o: x}`, /operator: must be In, NotIn, Exists or DoesNotExist/],
  ];
  for (const [text, pattern] of cases) {
    const parsed = parsePolicy(text, 'p');
    t.equal(parsed.ok, false, JSON.stringify(text));
    if (!parsed.ok) t.match(parsed.error, pattern);
  }
});
