import type { FastifyInstance } from 'fastify';
import { handleMutation, type MutationDeps } from '../../admission/handle-mutation.js';
import type { Metrics } from '../../metrics.js';
import { registerAdmissionRoute } from './admission.js';

export const MUTATE_PATH = '/mutate-v1-pod';

export interface MutateRouteDeps {
  readonly mutation: MutationDeps;
  readonly metrics: Metrics;
}

/** POST /mutate-v1-pod (upstream's path). */
export function registerMutateRoute(app: FastifyInstance, deps: MutateRouteDeps): void {
  registerAdmissionRoute(app, MUTATE_PATH, 'mutate', deps.metrics, (review) => handleMutation(review, deps.mutation));
}
