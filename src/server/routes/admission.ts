import type { FastifyInstance } from 'fastify';
import { buildReviewResponse, decodeReview, serializeReviewResponse, type Decision, type DecodedReview } from '../../admission/review.js';
import type { Metrics } from '../../metrics.js';

export interface AdmissionOutcome {
  readonly decision: Decision;
  /** Reason code for the log line and the metric label (a closed set). */
  readonly reason: string;
  /** Chosen, bounded fields for the log line. */
  readonly context: Readonly<Record<string, string | undefined>>;
}

/**
 * One admission endpoint: decode the AdmissionReview (HTTP 400 with a reason
 * when it is not one) → decide → answer in the request's version, with one
 * log line and the request metrics per admission.
 */
export function registerAdmissionRoute(
  app: FastifyInstance,
  path: string,
  webhook: 'mutate' | 'validate',
  metrics: Metrics,
  decide: (review: DecodedReview) => Promise<AdmissionOutcome>,
): void {
  app.post(path, async (request, reply) => {
    const started = process.hrtime.bigint();
    const decoded = decodeReview(request.body);
    if (!decoded.ok) {
      metrics.badRequests.inc({ webhook: path, status: '400' });
      request.log.info({ webhook, status: 400, reason: decoded.error }, 'request rejected');
      return reply.code(400).send({ code: 'WIA_ERR_REVIEW_INVALID', message: decoded.error });
    }
    const outcome = await decide(decoded.review);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const decision = summarize(outcome.decision);
    metrics.admissionRequests.inc({ webhook, decision, reason: outcome.reason });
    metrics.admissionDuration.observe({ webhook, decision }, seconds);
    request.log.info(
      { webhook, uid: decoded.review.request.uid, ...outcome.context, decision, reason: outcome.reason, durationMs: Math.round(seconds * 1e6) / 1e3 },
      'admission',
    );
    return reply.code(200).type('application/json; charset=utf-8').send(serializeReviewResponse(buildReviewResponse(decoded.review, outcome.decision)));
  });
}

/** denied | patched | warned | allowed: the bounded `decision` label. */
function summarize(decision: Decision): string {
  if (!decision.allowed) return 'denied';
  if (decision.patch) return 'patched';
  return decision.warnings && decision.warnings.length > 0 ? 'warned' : 'allowed';
}
