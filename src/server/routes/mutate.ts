import type { FastifyInstance } from 'fastify';
import { handleMutation, type MutationDeps } from '../../admission/handle-mutation.js';
import { buildReviewResponse, decodeReview } from '../../admission/review.js';
import type { Metrics } from '../../metrics.js';

export const MUTATE_PATH = '/mutate-v1-pod';

export interface MutateRouteDeps {
  readonly mutation: MutationDeps;
  readonly metrics: Metrics;
}

/** POST /mutate-v1-pod: decode → handleMutation → encode, one log line per admission. */
export function registerMutateRoute(app: FastifyInstance, deps: MutateRouteDeps): void {
  app.post(MUTATE_PATH, async (request, reply) => {
    const started = process.hrtime.bigint();
    const decoded = decodeReview(request.body);
    if (!decoded.ok) {
      deps.metrics.badRequests.inc({ webhook: MUTATE_PATH, status: '400' });
      request.log.info({ webhook: 'mutate', status: 400, reason: decoded.error }, 'request rejected');
      return reply.code(400).send({ code: 'WIA_ERR_REVIEW_INVALID', message: decoded.error });
    }
    const outcome = await handleMutation(decoded.review, deps.mutation);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const decision = !outcome.decision.allowed ? 'denied' : outcome.decision.patch ? 'patched' : 'allowed';
    deps.metrics.admissionRequests.inc({ webhook: 'mutate', decision, reason: outcome.reason });
    deps.metrics.admissionDuration.observe({ webhook: 'mutate', decision }, seconds);
    request.log.info(
      {
        webhook: 'mutate',
        uid: decoded.review.request.uid,
        ...outcome.context,
        decision,
        reason: outcome.reason,
        durationMs: Math.round(seconds * 1e6) / 1e3,
      },
      'admission',
    );
    return reply.code(200).send(buildReviewResponse(decoded.review, outcome.decision));
  });
}
