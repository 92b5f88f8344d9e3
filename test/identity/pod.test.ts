import fc from 'fast-check';
import t from 'tap';
import { checkPod, isPodShape, PodSchema } from '../../src/identity/pod.js';

// Values near the schema: right and wrong types in every field it reads,
// `__proto__` and `constructor` keys, and arbitrary JSON anywhere else.
const anyJson = fc.jsonValue({ maxDepth: 2 });
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null | undefined | unknown> =>
  fc.oneof({ arbitrary: arb, weight: 6 }, fc.constant(null), fc.constant(undefined), { arbitrary: anyJson, weight: 2 });
const keys = fc.constantFrom('app', 'azure.workload.identity/use', '__proto__', 'constructor', 'toString');
const stringMap = maybe(fc.dictionary(keys, fc.oneof({ arbitrary: fc.string(), weight: 8 }, anyJson)));
const named = maybe(fc.record({ name: maybe(fc.string()), other: anyJson }, { requiredKeys: [] }));
const container = fc.record({ name: maybe(fc.string()), env: maybe(fc.array(named, { maxLength: 3 })), volumeMounts: maybe(fc.array(named, { maxLength: 3 })) }, { requiredKeys: [] });
const pod = fc.record(
  {
    metadata: maybe(fc.record({ name: maybe(fc.string()), generateName: maybe(fc.string()), namespace: maybe(fc.string()), labels: stringMap, annotations: stringMap }, { requiredKeys: [] })),
    spec: maybe(
      fc.record(
        {
          serviceAccountName: maybe(fc.string()),
          hostNetwork: maybe(fc.boolean()),
          containers: maybe(fc.array(maybe(container), { maxLength: 3 })),
          initContainers: maybe(fc.array(maybe(container), { maxLength: 2 })),
          volumes: maybe(fc.array(named, { maxLength: 2 })),
        },
        { requiredKeys: [] },
      ),
    ),
  },
  { requiredKeys: [] },
);
// Through JSON, as a body arrives: own `__proto__` keys, no undefined values.
const viaJson = fc.oneof(pod, anyJson).map((value) => JSON.parse(JSON.stringify(value ?? null)) as unknown);

void t.test('isPodShape never accepts what PodSchema rejects', async (t) => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.oneof(pod, viaJson), (value) => {
      if (!isPodShape(value)) return;
      accepted++;
      if (!PodSchema.safeParse(value).success) throw new Error(`accepted ${JSON.stringify(value)}`);
    }),
    { numRuns: 20_000 },
  );
  // The fast path must also be the usual path, or it saves nothing.
  t.ok(accepted > 2_000, `${accepted} of 20,000 accepted`);
});

void t.test('checkPod answers as PodSchema does and returns the object itself', async (t) => {
  fc.assert(
    fc.property(viaJson, (value) => {
      const checked = checkPod(value);
      if (checked.ok !== PodSchema.safeParse(value).success) throw new Error(`disagrees on ${JSON.stringify(value)}`);
      if (checked.ok && checked.pod !== value) throw new Error('a copy was returned');
    }),
    { numRuns: 5_000 },
  );
  t.pass('5,000 values');
});

void t.test('the message names the first bad field', async (t) => {
  t.same(checkPod({ spec: { containers: [{ name: 'a', env: [{ value: 'x' }] }] } }), {
    ok: false,
    error: 'spec.containers.0.env.0.name: Invalid input: expected string, received undefined',
  });
  t.same(checkPod(undefined), { ok: false, error: 'object: Invalid input: expected object, received undefined' });
});

void t.test('the message is zod\'s first issue on the whole pod, though zod sees the lists cut at their first bad element', async (t) => {
  fc.assert(
    fc.property(viaJson, (value) => {
      const checked = checkPod(value);
      if (checked.ok) return;
      const parsed = PodSchema.safeParse(value);
      const issue = parsed.error?.issues[0];
      const expected = `${issue && issue.path.length > 0 ? issue.path.join('.') : 'object'}: ${issue?.message ?? 'invalid'}`;
      if (checked.error !== expected.slice(0, 256) && !checked.error.startsWith(expected.slice(0, 256))) throw new Error(`${checked.error} ≠ ${expected}`);
    }),
    { numRuns: 5_000 },
  );
  t.pass('5,000 values');
});

void t.test('150,000 bad entries in one list: one issue, no stack overflow', async (t) => {
  const env = Array.from({ length: 150_000 }, (_, i) => ({ name: i }));
  t.same(checkPod({ spec: { containers: [{ name: 'a' }, { name: 'b', env, volumeMounts: [{ name: 1 }] }] } }), {
    ok: false,
    error: 'spec.containers.1.env.0.name: Invalid input: expected string, received number',
  });
  t.same(checkPod({ spec: { initContainers: Array.from({ length: 200_000 }, () => ({ name: 'x', env: [{ name: 1 }] })) } }), {
    ok: false,
    error: 'spec.initContainers.0.env.0.name: Invalid input: expected string, received number',
  });
  t.same(checkPod({ spec: { volumes: [{ name: 'ok' }, ...Array.from({ length: 200_000 }, () => 7)] } }), {
    ok: false,
    error: 'spec.volumes.1: Invalid input: expected object, received number',
  });
});

void t.test('a message naming a huge key is cut to 256 characters with a marker', async (t) => {
  const checked = checkPod({ metadata: { labels: { ['k'.repeat(1_000_000)]: 1 } } });
  t.equal(checked.ok, false);
  if (!checked.ok) t.match(checked.error, /^metadata\.labels\.k{240}…\[\+999\d{3} chars\]$/);
});
