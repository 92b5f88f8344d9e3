import { applyPatch } from 'rfc6902';
import t from 'tap';
import { createPatch, encodePatch } from '../../src/admission/patch.js';

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
  t.equal(Buffer.from(encodePatch([{ op: 'add', path: '/a', value: 1 }]), 'base64').toString(), '[{"op":"add","path":"/a","value":1}]');
});

void t.test('encoding is base64 of the UTF-8 JSON, for any characters and any size', async (t) => {
  // Named by label: a U+2028 in an assertion's name makes tap drop the subtest's assertions.
  const values: [string, string][] = [
    ['non-ASCII, an emoji and a line separator', 'ünïcødé 💥 \u2028'],
    ['10,000 characters', 'x'.repeat(10_000)],
    ['100,000 characters', 'x'.repeat(100_000)],
    ['empty', ''],
  ];
  for (const [label, value] of values) {
    const ops = [{ op: 'add' as const, path: '/metadata/annotations/a', value }];
    t.equal(Buffer.from(encodePatch(ops), 'base64').toString('utf8'), JSON.stringify(ops), label);
  }
  // After a long patch, a short one: nothing of the first is left over.
  t.equal(Buffer.from(encodePatch([]), 'base64').toString(), '[]');
});
