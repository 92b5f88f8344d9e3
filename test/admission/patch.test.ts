import { applyPatch } from 'rfc6902';
import t from 'tap';
import { createPatch, encodePatch, type EncodedPatch } from '../../src/admission/patch.js';

function decoded(encoded: EncodedPatch): string {
  if (!encoded.ok) throw new Error('patch over the limit');
  return Buffer.from(encoded.patch, 'base64').toString('utf8');
}

void t.test('an inserted container is one add at its index, neighbours are patched in place', async (t) => {
  const input = { spec: { containers: [{ name: 'a', ports: [{ containerPort: 80 }] }, { name: 'b' }] } };
  const output = {
    spec: {
      containers: [
        { name: 'azwi-proxy', image: 'p' },
        { name: 'a', ports: [{ containerPort: 80 }], env: [{ name: 'X', value: '1' }] },
        { name: 'b', env: [{ name: 'X', value: '1' }] },
      ],
    },
  };
  const ops = createPatch(input, output);
  t.same(ops, [
    { op: 'add', path: '/spec/containers/0', value: { name: 'azwi-proxy', image: 'p' } },
    { op: 'add', path: '/spec/containers/1/env', value: [{ name: 'X', value: '1' }] },
    { op: 'add', path: '/spec/containers/2/env', value: [{ name: 'X', value: '1' }] },
  ]);
  const applied = structuredClone(input);
  t.same(applyPatch(applied, ops).filter(Boolean), []);
  t.same(applied, output);
});

void t.test('an element replaced by name becomes one replace, never a remove', async (t) => {
  const input = { spec: { volumes: [{ name: 'v', secret: { secretName: 's' } }, { name: 'w', emptyDir: {} }] } };
  const output = { spec: { volumes: [{ name: 'v', projected: { sources: [] } }, { name: 'w', emptyDir: {} }] } };
  t.same(createPatch(input, output), [{ op: 'replace', path: '/spec/volumes/0', value: { name: 'v', projected: { sources: [] } } }]);
});

void t.test('keys with / and ~ are escaped', async (t) => {
  const ops = createPatch({ metadata: { annotations: {} } }, { metadata: { annotations: { 'a/b~c': 'x' } } });
  t.same(ops, [{ op: 'add', path: '/metadata/annotations/a~1b~0c', value: 'x' }]);
});

void t.test('no change, no operations; encoding is base64 JSON', async (t) => {
  t.same(createPatch({ a: [1, 2] }, { a: [1, 2] }), []);
  t.equal(decoded(encodePatch([{ op: 'add', path: '/a', value: 1 }])), '[{"op":"add","path":"/a","value":1}]');
});

void t.test('encoding is base64 of the UTF-8 JSON, for any characters and any size', async (t) => {
  for (const value of ['ünïcødé 💥 \u2028', 'x'.repeat(10_000), 'x'.repeat(100_000), '']) {
    const ops = [{ op: 'add' as const, path: '/metadata/annotations/a', value }];
    t.equal(decoded(encodePatch(ops)), JSON.stringify(ops), `${value.slice(0, 12)}… (${value.length} characters)`);
  }
  // After a long patch, a short one: nothing of the first is left over.
  t.equal(decoded(encodePatch([])), '[]');
});

void t.test('a patch over the limit is refused, counted in UTF-8 bytes, and never built whole', async (t) => {
  const op = (value: string) => ({ op: 'add' as const, path: '/a', value });
  const exact = JSON.stringify([op('x')]).length;
  t.same(encodePatch([op('x')], exact).ok, true, 'a patch of exactly the limit is encoded');
  t.same(encodePatch([op('x')], exact - 1), { ok: false }, 'one byte more is refused');
  t.same(encodePatch([op('é')], exact), { ok: false }, 'é is two bytes in UTF-8');
  // Each operation shares one 256 KiB value: 400 of them would be 100 MiB of JSON.
  const big = 'v'.repeat(256 * 1024);
  t.same(encodePatch(Array.from({ length: 400 }, () => op(big))), { ok: false }, 'over 1 MiB by default, counted one operation at a time');
  t.same(encodePatch(Array.from({ length: 10 }, () => op(big))), { ok: false }, 'and when a short patch is serialised in one call');
});

void t.test('long arrays outside named lists are replaced whole, short ones diffed element by element', async (t) => {
  const long = Array.from({ length: 100_000 }, () => ({}));
  const input = { spec: { volumes: [{ name: 'v', projected: { sources: long } }] } };
  const output = { spec: { volumes: [{ name: 'v', projected: { sources: [{ serviceAccountToken: { path: 't' } }] } }] } };
  const ops = createPatch(input, output);
  t.same(ops, [{ op: 'replace', path: '/spec/volumes/0/projected/sources', value: output.spec.volumes[0]?.projected.sources }], 'one replace of the list');
  t.same(createPatch({ a: long }, { a: [1] }), [{ op: 'replace', path: '/a', value: [1] }], 'a long array alone: one replace');
  t.same(createPatch({ a: [1, 2, 3] }, { a: [1, 5, 3] }), [{ op: 'replace', path: '/a/1', value: 5 }], 'a short one: the changed element');
});

void t.test('an object losing more keys than a call has room for arguments', async (t) => {
  const input: Record<string, unknown> = {};
  for (let i = 0; i < 200_000; i++) input[`k${i}`] = i;
  const ops = createPatch({ x: input }, { x: { k0: 0, added: 1 } });
  t.equal(ops.length, 199_999 + 1);
  t.same(ops[0], { op: 'remove', path: '/x/k1' }, 'removals first');
  t.same(ops.at(-1), { op: 'add', path: '/x/added', value: 1 });
});
