import fc from 'fast-check';
import t from 'tap';
import { AdmissionReviewSchema, buildReviewResponse, decodeReview, isReviewShape, serializeReviewResponse, type Decision } from '../../src/admission/review.js';
import { checkProperty } from '../helpers/property.js';

void t.test('decodes v1 and v1beta1 envelopes and keeps the object raw', async (t) => {
  const object = { metadata: { name: 'p' }, spec: { futureField: { x: 1 } } };
  for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']) {
    const decoded = decodeReview({ apiVersion, kind: 'AdmissionReview', request: { uid: 'u', object, extra: true } });
    t.ok(decoded.ok);
    if (decoded.ok) {
      t.equal(decoded.review.apiVersion, apiVersion);
      t.equal(decoded.review.request.object, object, 'the very same object, not a copy');
    }
  }
});

void t.test('rejects what is not an AdmissionReview, naming the field', async (t) => {
  const cases: [unknown, RegExp][] = [
    [null, /not an AdmissionReview/],
    ['x', /not an AdmissionReview/],
    [[], /not an AdmissionReview/],
    [{ kind: 'AdmissionReview', request: { uid: 'u' } }, /apiVersion: apiVersion must be one of/],
    [{ apiVersion: 'admission.k8s.io/v2', kind: 'AdmissionReview', request: { uid: 'u' } }, /apiVersion/],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /request/],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '' } }, /request\.uid: request\.uid must be a non-empty string/],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 7 } }, /request\.uid/],
    [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', namespace: 5 } }, /request\.namespace/],
  ];
  for (const [body, pattern] of cases) {
    const decoded = decodeReview(body);
    t.equal(decoded.ok, false, JSON.stringify(body));
    if (!decoded.ok) t.match(decoded.error, pattern);
  }
});

void t.test('responses echo uid and version; denials carry status, patches their type', async (t) => {
  const review = { apiVersion: 'admission.k8s.io/v1beta1' as const, request: { uid: 'abc' } };
  t.same(buildReviewResponse(review, { allowed: true }), {
    apiVersion: 'admission.k8s.io/v1beta1',
    kind: 'AdmissionReview',
    response: { uid: 'abc', allowed: true },
  });
  t.same(buildReviewResponse(review, { allowed: true, patch: 'W10=', warnings: ['w'] }).response, {
    uid: 'abc',
    allowed: true,
    patchType: 'JSONPatch',
    patch: 'W10=',
    warnings: ['w'],
  });
  t.same(buildReviewResponse(review, { allowed: false, status: { code: 400, message: 'm' }, warnings: [] }).response, {
    uid: 'abc',
    allowed: false,
    status: { code: 400, message: 'm', status: 'Failure' },
  });
});

void t.test('the copy-free check never accepts what zod rejects; decodeReview answers as zod does, without copying', async (t) => {
  const anyJson = fc.jsonValue({ maxDepth: 2 });
  const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ arbitrary: arb, weight: 30 }, fc.constant(null), anyJson);
  const gvk = fc.record({ group: maybe(fc.string()), version: maybe(fc.string()), kind: maybe(fc.string()), resource: maybe(fc.string()) }, { requiredKeys: [] });
  const review = fc.record(
    {
      apiVersion: maybe(fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1', 'admission.k8s.io/v2')),
      kind: maybe(fc.constantFrom('AdmissionReview', 'Pod')),
      request: maybe(
        fc.record(
          {
            uid: maybe(fc.constantFrom('', 'u', '0d6f2c1e')),
            kind: maybe(gvk),
            resource: maybe(gvk),
            subResource: maybe(fc.string()),
            name: maybe(fc.string()),
            namespace: maybe(fc.string()),
            operation: maybe(fc.constantFrom('CREATE', 'UPDATE')),
            object: anyJson,
            dryRun: maybe(fc.boolean()),
          },
          { requiredKeys: [] },
        ),
      ),
    },
    { requiredKeys: [] },
  ).map((value) => JSON.parse(JSON.stringify(value)) as unknown);
  let accepted = 0;
  await checkProperty(
    t,
    'the fast shape check and decodeReview agree with zod, without copying',
    fc.property(review, (body) => {
      const valid = AdmissionReviewSchema.safeParse(body).success;
      if (isReviewShape(body)) {
        accepted++;
        if (!valid) throw new Error(`the check accepted what zod rejects: ${JSON.stringify(body)}`);
      }
      const decoded = decodeReview(body);
      if (decoded.ok !== valid) throw new Error(`decodeReview disagrees with zod on ${JSON.stringify(body)}`);
      if (decoded.ok && decoded.review.request !== (body as { request: unknown }).request) throw new Error('the request was copied');
    }),
    { numRuns: 20_000 },
  );
  t.ok(accepted > 500, `${accepted} of 20,000 accepted without zod`);
});

void t.test('serializeReviewResponse writes exactly what JSON.stringify writes', async (t) => {
  const text = fc.string({ unit: 'grapheme', maxLength: 30 });
  const decision: fc.Arbitrary<Decision> = fc.record(
    {
      allowed: fc.boolean(),
      status: fc.record({ code: fc.constantFrom(400, 403, 500), message: text, reason: text }, { requiredKeys: ['code', 'message'] }),
      patch: fc.oneof(fc.constant(''), fc.string({ maxLength: 300 }).map((s) => Buffer.from(s).toString('base64'))),
      warnings: fc.array(text, { maxLength: 3 }),
      auditAnnotations: fc.dictionary(text, text, { maxKeys: 2 }),
    },
    { requiredKeys: ['allowed'] },
  );
  await checkProperty(
    t,
    'serializeReviewResponse equals JSON.stringify',
    fc.property(fc.constantFrom('admission.k8s.io/v1' as const, 'admission.k8s.io/v1beta1' as const), fc.oneof(fc.uuid(), text), decision, (apiVersion, uid, d) => {
      const response = buildReviewResponse({ apiVersion, request: { uid } }, d);
      if (serializeReviewResponse(response) !== JSON.stringify(response)) throw new Error(`differs for ${JSON.stringify(response)}`);
    }),
    { numRuns: 5_000 },
  );
});
