import type { FastifyInstance } from 'fastify';
import { buildReviewResponse, decodeReview, serializeReviewResponse, type Decision, type DecodedReview } from '../../admission/review.js';
import { MAX_ECHOED_VALUE_CHARS } from '../../identity/constants.js';
import type { Metrics } from '../../metrics.js';
import { truncate } from '../../util/truncate.js';
import { bodyOverLimit } from '../json-body.js';

export interface AdmissionOutcome {
  readonly decision: Decision;
  /** Reason code for the log line and the metric label (a closed set). */
  readonly reason: string;
  /** Chosen fields for the log line; the route cuts each to MAX_ECHOED_VALUE_CHARS. */
  readonly context: Readonly<Record<string, string | undefined>>;
}

/**
 * One admission endpoint: decode the AdmissionReview (HTTP 400 with a reason
 * when it is not one) → decide → answer in the request's version, with one
 * log line and the request metrics per admission. A decodable review always
 * gets a 200 AdmissionReview echoing its uid: one whose body is over the
 * JSON limits is denied (LimitExceeded) without deciding, and a fault while
 * deciding becomes a denial with code 500 (InternalError), logged with the
 * error.
 */
export function registerAdmissionRoute(
  app: FastifyInstance,
  path: string,
  webhook: 'mutate' | 'validate',
  metrics: Metrics,
  decide: (review: DecodedReview) => Promise<AdmissionOutcome>,
): void {
  // At 0 from the start, so the first fault is an increase Prometheus sees (WiAdmissionInternalErrors).
  metrics.admissionRequests.inc({ webhook, decision: 'denied', reason: 'InternalError' }, 0);
  app.post(path, async (request, reply) => {
    const started = process.hrtime.bigint();
    const decoded = decodeReview(request.body);
    if (!decoded.ok) {
      metrics.badRequests.inc({ webhook: path, status: '400' });
      request.log.info({ webhook, status: 400, reason: truncate(decoded.error, MAX_ECHOED_VALUE_CHARS) }, 'request rejected');
      return reply.code(400).send({ code: 'WIA_ERR_REVIEW_INVALID', message: decoded.error });
    }
    const { review } = decoded;
    const uid = truncate(review.request.uid, MAX_ECHOED_VALUE_CHARS);
    const overLimit = bodyOverLimit(request.body);
    let outcome: AdmissionOutcome;
    try {
      // A body over the JSON limits was read without its objects: nothing to decide on.
      outcome = overLimit === undefined ? await decide(review) : denyOverLimit(review, overLimit);
    } catch (err) {
      request.log.error({ webhook, uid, err }, 'admission failed');
      outcome = internalError(review);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const decision = summarize(outcome.decision);
    metrics.admissionRequests.inc({ webhook, decision, reason: outcome.reason });
    metrics.admissionDuration.observe({ webhook, decision }, seconds);
    request.log.info(
      { webhook, uid, ...boundedFields(outcome.context), decision, reason: outcome.reason, durationMs: Math.round(seconds * 1e6) / 1e3 },
      'admission',
    );
    return reply.code(200).type('application/json; charset=utf-8').send(serializeReviewResponse(buildReviewResponse(review, outcome.decision)));
  });
}

/** The denial for a fault of the webhook itself: never admitted unreviewed, and the uid finds the log line. */
function internalError(review: DecodedReview): AdmissionOutcome {
  const { request } = review;
  const message =
    `wi-admission: ${describeObject(request)}: the webhook failed while reviewing this request, so it was not admitted. ` +
    `Retry; if it persists, give the webhook's operators the request uid ${truncate(request.uid, MAX_ECHOED_VALUE_CHARS)} (its log has the error). [InternalError]`;
  return { decision: { allowed: false, status: { code: 500, message } }, reason: 'InternalError', context: contextOf(request) };
}

/** The denial of a body over the JSON limits (server/json-body.ts). */
function denyOverLimit(review: DecodedReview, problem: string): AdmissionOutcome {
  const { request } = review;
  const message = `wi-admission: ${describeObject(request)}: ${problem}. [LimitExceeded]`;
  return { decision: { allowed: false, status: { code: 400, message } }, reason: 'LimitExceeded', context: contextOf(request) };
}

/** `<Kind> <namespace>/<name>` as far as the request tells, cut to a bounded length. */
function describeObject(request: DecodedReview['request']): string {
  return truncate(`${request.kind?.kind || 'object'} ${request.namespace ?? ''}/${request.name || nameOf(request.object)}`, MAX_ECHOED_VALUE_CHARS * 2);
}

function contextOf(request: DecodedReview['request']): AdmissionOutcome['context'] {
  return { kind: request.kind?.kind, namespace: request.namespace, name: request.name, operation: request.operation };
}

/** `metadata.name`, or `generateName*`, of a raw object, as far as it can be read. */
function nameOf(object: unknown): string {
  const metadata = (object as { metadata?: { name?: unknown; generateName?: unknown } } | null | undefined)?.metadata;
  if (typeof metadata?.name === 'string' && metadata.name !== '') return metadata.name;
  return typeof metadata?.generateName === 'string' && metadata.generateName !== '' ? `${metadata.generateName}*` : '<unnamed>';
}

/** Each field cut to MAX_ECHOED_VALUE_CHARS: they come from the request. */
function boundedFields(context: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const bounded: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(context)) bounded[key] = value === undefined ? undefined : truncate(value, MAX_ECHOED_VALUE_CHARS);
  return bounded;
}

/** denied | patched | warned | allowed: the bounded `decision` label. */
function summarize(decision: Decision): string {
  if (!decision.allowed) return 'denied';
  if (decision.patch) return 'patched';
  return decision.warnings && decision.warnings.length > 0 ? 'warned' : 'allowed';
}
