import type { FastifyInstance } from 'fastify';
import { handleValidation, type ValidationDeps } from '../../admission/handle-validation.js';
import type { Metrics } from '../../metrics.js';
import { registerAdmissionRoute } from './admission.js';

export const VALIDATE_PATH = '/validate';

export interface ValidateRouteDeps {
  readonly validation: ValidationDeps;
  readonly metrics: Metrics;
}

/** POST /validate: one path for every kind. */
export function registerValidateRoute(app: FastifyInstance, deps: ValidateRouteDeps): void {
  registerAdmissionRoute(app, VALIDATE_PATH, 'validate', deps.metrics, (review) => handleValidation(review, deps.validation));
}
