// A fault inside a handler (here: a ServiceAccount or Namespace lookup that
// throws instead of answering) must not become an HTTP 500: the review was
// decodable, so it gets a 200 AdmissionReview echoing its uid that denies
// with code 500 and reason InternalError, logged at error with the error
// and counted.
import t from 'tap';
import { createMetrics } from '../../src/metrics.js';
import { PolicySchema } from '../../src/policy/schema.js';
import { buildAdmissionApp } from '../../src/server/app.js';
import { createLogSink } from '../helpers/log-sink.js';
import { labelledPod, podReview } from '../helpers/reviews.js';
import { testSettings } from '../helpers/settings.js';

const broken = {
  getCached: () => {
    throw new TypeError('lookup exploded');
  },
  getLive: async () => undefined,
  hasSynced: () => true,
  size: () => 0,
};

// A policy as the server holds one (parsed, every default filled in), that exempts nothing.
const policy = PolicySchema.parse({ apiVersion: 'wi-admission.io/v1', kind: 'IdentityPolicy', spec: { exemptNamespaces: [] } }).spec;

void t.test('a handler fault: 200 AdmissionReview denying with 500 and InternalError, logged and counted', async (t) => {
  const sink = createLogSink('info');
  const metrics = createMetrics({ defaultMetrics: false });
  const app = buildAdmissionApp({
    log: sink.log,
    metrics,
    mutation: { serviceAccounts: broken, settings: () => testSettings(), serviceAccountLookupTimeoutMs: 100 },
    validation: {
      policy: () => policy,
      serviceAccounts: broken,
      namespaces: broken,
      identities: undefined,
      audience: 'api://AzureADTokenExchange',
      oidcIssuer: undefined,
      lookupTimeoutMs: 100,
    },
  });
  t.teardown(() => app.close());

  for (const [path, webhook] of [['/mutate-v1-pod', 'mutate'], ['/validate', 'validate']] as const) {
    const uid = `uid-${webhook}`;
    const res = await app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/json' }, payload: podReview(labelledPod('web', 'api'), { uid, namespace: 'shop' }) });
    t.equal(res.statusCode, 200, `${path}: HTTP 200`);
    const { response } = JSON.parse(res.body) as { response: { uid: string; allowed: boolean; status: { code: number; message: string } } };
    t.equal(response.uid, uid, 'the uid is echoed');
    t.equal(response.allowed, false, 'denied, never admitted unreviewed');
    t.equal(response.status.code, 500);
    t.equal(
      response.status.message,
      `wi-admission: Pod shop/web: the webhook failed while reviewing this request, so it was not admitted. Retry; if it persists, give the webhook's operators the request uid ${uid} (its log has the error). [InternalError]`,
    );
    const logged = sink.lines.find((l) => l.level === 50 && l.uid === uid);
    t.match(logged, { webhook, msg: 'admission failed', err: { type: 'TypeError', message: 'lookup exploded' } }, 'logged at error with err');
    const counted = (await metrics.admissionRequests.get()).values.find((v) => v.labels.webhook === webhook && v.labels.reason === 'InternalError');
    t.equal(counted?.value, 1, 'counted under reason InternalError');
  }
});
