// The scan that measures a body's JSON before it is parsed: it must agree
// with JSON.parse on every value (objects and arrays, the widest object,
// where request.object is), and a body over a limit is read without its
// objects.
import fc from 'fast-check';
import t from 'tap';
import { JSON_LIMITS, measureJson, parseAdmissionJson } from '../../src/server/json-body.js';
import { OneTurnEach, Slots } from '../../src/server/large-requests.js';

function shapeOf(value: unknown): { containers: number; widestObject: number } {
  let containers = 0;
  let widestObject = 0;
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    containers++;
    if (Array.isArray(v)) {
      v.forEach(walk);
      return;
    }
    const keys = Object.keys(v);
    widestObject = Math.max(widestObject, keys.length);
    for (const key of keys) walk((v as Record<string, unknown>)[key]);
  };
  walk(value);
  return { containers, widestObject };
}

// Keys and strings with quotes, backslashes and the structural characters in them.
const tricky = fc.oneof(fc.string(), fc.constantFrom('"', '\\', '\\"', '{', '}[', ']', ',', ':', 'request', 'object'));
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, tricky, fc.integer(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(tricky, tie('value'), { maxKeys: 5 }),
})).value;

void t.test('the scan counts what JSON.parse builds, for any JSON', async (t) => {
  fc.assert(
    fc.property(json, fc.boolean(), (value, pretty) => {
      const text = JSON.stringify(value, null, pretty ? 2 : undefined);
      const shape = measureJson(text);
      const expected = shapeOf(JSON.parse(text));
      if (shape?.containers !== expected.containers || shape.widestObject !== expected.widestObject) {
        throw new Error(`${text}: ${JSON.stringify(shape)} ≠ ${JSON.stringify(expected)}`);
      }
    }),
    { numRuns: 3000 },
  );
  t.pass('3,000 values');
});

void t.test('the spans of request.object and request.oldObject, and nothing else', async (t) => {
  fc.assert(
    fc.property(json, json, json, (object, oldObject, other) => {
      const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', other: { request: { object: other } }, request: { uid: 'u', nested: { object: other }, object, oldObject } };
      const text = JSON.stringify(review);
      const shape = measureJson(text);
      const spans = (shape?.objectSpans ?? []).map(([start, end]) => JSON.parse(text.slice(start, end)) as unknown);
      const expected = [object, oldObject].filter((v) => typeof v === 'object' && v !== null);
      if (JSON.stringify(spans) !== JSON.stringify(expected)) throw new Error(`${text}: ${JSON.stringify(shape?.objectSpans)}`);
    }),
    { numRuns: 2000 },
  );
  t.pass('2,000 reviews');
});

void t.test('not well-formed: the scan gives up and JSON.parse reports it', async (t) => {
  for (const text of ['{"a":"unterminated', '{"a":[1,2}', ']', '{"a":1']) t.equal(measureJson(text), undefined, text);
  t.throws(() => parseAdmissionJson(`{"a":"${'x'.repeat(50_000)}`), SyntaxError);
});

const review = (object: string): string => `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","namespace":"shop","object":${object},"oldObject":${object}}}`;

void t.test('a body over a limit is read without its objects, naming the limit', async (t) => {
  const objects = review(`{"spec":{"tolerations":[${Array.from({ length: JSON_LIMITS.maxContainers }, () => '{}').join(',')}]}}`);
  const read = parseAdmissionJson(objects);
  t.same(read, {
    ok: true,
    value: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', namespace: 'shop', object: null, oldObject: null } },
    overLimit: 'the request holds 400,008 JSON objects and arrays; the webhook reads at most 200,000 (a pod etcd can store holds at most about 125,000)',
  });
  const members = review(`{"metadata":{"annotations":{${Array.from({ length: JSON_LIMITS.maxMembers + 1 }, (_, i) => `"a${i}":""`).join(',')}}}}`);
  t.match(parseAdmissionJson(members), { ok: true, overLimit: 'an object in the request has 10,001 members; the webhook reads at most 10,000 per object' });
  const atTheLimit = review(`{"metadata":{"annotations":{${Array.from({ length: JSON_LIMITS.maxMembers }, (_, i) => `"a${i}":""`).join(',')}}}}`);
  t.equal(parseAdmissionJson(atTheLimit).ok && (parseAdmissionJson(atTheLimit) as { overLimit?: string }).overLimit, undefined, 'at the limit: parsed whole');
});

void t.test('over a limit outside the objects: not read at all', async (t) => {
  const text = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","userInfo":{"extra":[${Array.from({ length: 250_000 }, () => '[]').join(',')}]},"object":{}}}`;
  t.same(parseAdmissionJson(text), { ok: false, error: 'the request holds 250,005 JSON objects and arrays; the webhook reads at most 200,000 (a pod etcd can store holds at most about 125,000), and not only in request.object' });
});

void t.test('slots: handed out in arrival order; a waiter that leaves gives up its place', async (t) => {
  const slots = new Slots(1);
  const started: string[] = [];
  const releaseA = slots.take(() => started.push('a'));
  const releaseB = slots.take(() => started.push('b'));
  const releaseC = slots.take(() => started.push('c'));
  t.same(started, ['a']);
  releaseB();
  releaseA();
  t.same(started, ['a', 'c'], 'b left the queue, so c got the slot');
  releaseA();
  releaseC();
  const releaseD = slots.take(() => started.push('d'));
  t.same(started, ['a', 'c', 'd'], 'a second release did nothing; the slot is free again');
  releaseD();
});

void t.test('one job per turn: the event loop turns between two jobs, so what was queued meanwhile runs first', async (t) => {
  const turns = new OneTurnEach();
  const order: string[] = [];
  await new Promise<void>((resolve) => {
    turns.run(() => {
      order.push('job 1');
      // Queued while job 1 runs, as a request read meanwhile would be: it goes before job 2.
      setImmediate(() => order.push('queued during job 1'));
    });
    turns.run(() => {
      order.push('job 2');
      resolve();
    });
  });
  t.same(order, ['job 1', 'queued during job 1', 'job 2']);
});
