import t from 'tap';
import { buildReviewResponse, decodeReview } from '../../src/admission/review.js';

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
