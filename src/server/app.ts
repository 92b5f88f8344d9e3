import Fastify, { errorCodes, LogController, type FastifyError, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Server } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { registerMutateRoute, type MutateRouteDeps } from './routes/mutate.js';
import { registerValidateRoute, type ValidateRouteDeps } from './routes/validate.js';
import { parseAdmissionJson, type JsonBody } from './json-body.js';
import { hasLargeBody, LARGE_REQUESTS, OneTurnEach, Slots } from './large-requests.js';
import { guardConnections, listenerTimeouts, TLS_CIPHERS, TRANSPORT_LIMITS } from './transport.js';

/** The API server sends at most a few hundred KiB; 3 MiB is Kubernetes' own request limit. */
export const BODY_LIMIT_BYTES = 3 * 1024 * 1024;

export interface AdmissionAppDeps extends MutateRouteDeps, ValidateRouteDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** True once shutdown began: answers carry `Connection: close`. */
  readonly isDraining?: () => boolean;
}

export interface AdmissionAppOptions {
  /** TLS for the listener; omitted in `inject()` tests. */
  readonly https?: SecureContextOptions & { minVersion?: 'TLSv1.2' | 'TLSv1.3' };
}

/**
 * The admission server: routes only, never listens (tests use `inject()` or
 * listen on port 0 themselves). Undecodable bodies get an HTTP 400 with a
 * reason; everything decodable gets a 200 AdmissionReview.
 */
export function buildAdmissionApp(deps: AdmissionAppDeps, options: AdmissionAppOptions = {}): FastifyInstance {
  const serverOptions: FastifyServerOptions & { https?: unknown } = {
    loggerInstance: deps.log,
    // One line per admission is written by the route itself.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // Longer than the API server's idle-connection timeout (90 s), so the
    // server never closes a connection the client is about to reuse.
    keepAliveTimeout: 120_000,
    requestTimeout: TRANSPORT_LIMITS.requestTimeoutMs,
    // On close, idle keep-alive connections go at once; in-flight requests finish.
    forceCloseConnections: 'idle',
    return503OnClosing: false,
  };
  // Timeouts and ciphers of the listener (server/transport.ts); the caller's TLS settings win.
  if (options.https) serverOptions.https = { ...listenerTimeouts(), ciphers: TLS_CIPHERS, ...options.https };
  const app = Fastify(serverOptions as FastifyServerOptions) as unknown as FastifyInstance;
  if (options.https) guardConnections(app.server as unknown as Server, () => deps.metrics.connectionsRefused.inc());

  // AdmissionReviews are JSON; fastify's default text/plain parser would let a
  // string body through to the decoder with a less helpful message.
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);
  // At most a few large bodies are read at once (server/large-requests.ts);
  // the slot is given back when the answer is sent or the connection drops.
  const largeSlots = new Slots(LARGE_REQUESTS.maxInFlight);
  app.addHook('onRequest', (request, reply, done) => {
    if (!hasLargeBody(request.headers)) {
      done();
      return;
    }
    reply.raw.once('close', largeSlots.take(() => done()));
  });
  // While draining, ask clients to reconnect (to another replica) after this answer.
  // A callback hook, not an async one: no promise per answer.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (deps.isDraining?.()) void reply.header('connection', 'close');
    done(null, payload);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode === 413 ? 413 : error.statusCode && error.statusCode < 500 ? 400 : 500;
    const message = describeBodyError(error);
    deps.metrics.badRequests.inc({ webhook: request.routeOptions.url ?? 'unknown', status: String(status) });
    if (status === 500) request.log.error({ err: error }, 'admission request failed');
    else request.log.info({ status, reason: message }, 'request rejected');
    void reply.code(status).send({ code: 'WIA_ERR_REVIEW_INVALID', message });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ code: 'WIA_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url}; admission paths: POST /mutate-v1-pod, POST /validate` });
  });

  registerMutateRoute(app, deps);
  registerValidateRoute(app, deps);
  return app;
}

/**
 * Plain `JSON.parse`, not fastify's secure-json-parse, which scans every body
 * twice more for `__proto__` and `constructor` keys. `JSON.parse` never
 * touches a prototype: such a key becomes an ordinary own property, inert
 * data here, because nothing merges request objects by assignment (the
 * mutation copies with spread, zod skips `__proto__`, and the patch holds
 * only values the webhook builds). test/hostile checks both. A large body
 * is first measured (server/json-body.ts): one over the JSON limits is read
 * without its objects, and the route denies it.
 */
function parseJsonBody(_request: FastifyRequest, body: string, done: (err: Error | null, body?: unknown) => void): void {
  if (body.length === 0) {
    done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY());
    return;
  }
  // A large body is parsed (and then handled) in a turn of the event loop of its own.
  if (body.length > LARGE_REQUESTS.minBytes) largeParses.run(() => parseInto(body, done));
  else parseInto(body, done);
}

const largeParses = new OneTurnEach();

function parseInto(body: string, done: (err: Error | null, body?: unknown) => void): void {
  let parsed: JsonBody;
  try {
    parsed = parseAdmissionJson(body);
  } catch {
    done(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY());
    return;
  }
  if (!parsed.ok) done(Object.assign(new Error(parsed.error), { statusCode: 400, code: 'WIA_ERR_REVIEW_INVALID' }));
  else done(null, parsed.value);
}

function describeBodyError(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body is larger than ${BODY_LIMIT_BYTES} bytes`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Content-Type must be application/json (an AdmissionReview)';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'request body is empty; expected an AdmissionReview';
    case 'WIA_ERR_REVIEW_INVALID':
      return error.message;
    default:
      return error.statusCode && error.statusCode < 500 ? `body is not valid JSON: ${error.message}` : 'internal error';
  }
}
