/**
 * `npm run bench:stages`: microseconds per request of the mutation path in
 * one process, stage by stage, on the pod of bench/throughput.ts. Relative
 * figures for profiling work (they hold up on a busy machine where the socket
 * benchmark does not); nothing is asserted.
 *
 * - `fastify floor`: a Fastify app with our logger and parser options and one
 *   POST route that returns a canned answer of the same size, through `inject()`.
 * - `mutate route`: our admission app through `inject()`, logging at info to
 *   /dev/null.
 * - the stages of the route called directly, each call on its own parsed
 *   copy of the same body.
 */
import Fastify, { LogController } from 'fastify';
import pino from 'pino';
import type { MutationDeps } from '../src/admission/handle-mutation.js';
import type { Pod } from '../src/identity/pod.js';
import { FakeServiceAccountLookup } from '../test/helpers/fake-service-accounts.js';
import { testSettings } from '../test/helpers/settings.js';
import { realisticPod, review } from './bodies.js';

// The compiled code from dist/ (npm run build), as production runs it: the
// TypeScript transform adds helpers to some functions that skew microseconds.
const load = async <T>(path: string): Promise<T> => (await import(new URL(`../dist/src/${path}`, import.meta.url).href)) as T;
const { handleMutation } = await load<typeof import('../src/admission/handle-mutation.js')>('admission/handle-mutation.js');
const { createPatch, encodePatch } = await load<typeof import('../src/admission/patch.js')>('admission/patch.js');
const { buildReviewResponse, decodeReview, serializeReviewResponse } = await load<typeof import('../src/admission/review.js')>('admission/review.js');
const { mutatePod } = await load<typeof import('../src/identity/mutate-pod.js')>('identity/mutate-pod.js');
const { checkPod } = await load<typeof import('../src/identity/pod.js')>('identity/pod.js');
const { createLogger } = await load<typeof import('../src/log.js')>('log.js');
const { createMetrics } = await load<typeof import('../src/metrics.js')>('metrics.js');
const { buildAdmissionApp } = await load<typeof import('../src/server/app.js')>('server/app.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20_000);
const BATCHES = 10;
const body = review('0d6f2c1e-0000-4000-8000-000000000001', 'Pod', realisticPod());
const serviceAccounts = new FakeServiceAccountLookup([
  { namespace: 'checkout-prod', name: 'checkout-api', annotations: { 'azure.workload.identity/client-id': '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2', 'azure.workload.identity/service-account-token-expiration': '7200' } },
]);
const settings = testSettings({ nativeSidecar: true });
const mutation: MutationDeps = { serviceAccounts, settings: () => settings, serviceAccountLookupTimeoutMs: 2000 };
const headers = { 'content-type': 'application/json' };

/**
 * µs per call: the fastest of BATCHES batches of ROUNDS / BATCHES calls,
 * after a warm-up batch; the fastest batch is the one least disturbed by
 * whatever else runs on the machine.
 */
async function time(fn: () => unknown): Promise<number> {
  const size = Math.ceil(ROUNDS / BATCHES);
  let best = Infinity;
  for (let batch = -1; batch < BATCHES; batch++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < size; i++) await fn();
    if (batch >= 0) best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e3 / size);
  }
  return best;
}

const log = createLogger('info', pino.destination('/dev/null'));
const ours = buildAdmissionApp({ log, metrics: createMetrics(), mutation, validation: { policy: () => undefined, serviceAccounts, namespaces: { getCached: () => undefined, getLive: async () => undefined, hasSynced: () => true, size: () => 0 }, identities: undefined, audience: 'api://AzureADTokenExchange', oidcIssuer: undefined, lookupTimeoutMs: 2000 } });
const answer = (await ours.inject({ method: 'POST', url: '/mutate-v1-pod', headers, payload: body })).body;
if (!answer.includes('"patch"')) throw new Error(`the pod was not mutated: ${answer.slice(0, 300)}`);

// The floor: our logger and parser options, one route answering a canned
// object of the same size; the difference to it is our route's own cost.
const floor = Fastify({ loggerInstance: log, logController: new LogController({ disableRequestLogging: true }), onProtoPoisoning: 'remove', onConstructorPoisoning: 'remove' });
const canned = JSON.parse(answer) as unknown;
floor.post('/', async () => canned);

// Every call works on its own parsed copy of the body, as every request does:
// one object reused a million times would sit in the CPU caches.
const COPIES = 256;
const serviceAccount = serviceAccounts.getCached('checkout-prod', 'checkout-api');
if (!serviceAccount) throw new Error('no ServiceAccount');
const copies = await Promise.all(
  Array.from({ length: COPIES }, async () => {
    const parsed = JSON.parse(body) as unknown;
    const decoded = decodeReview(parsed);
    if (!decoded.ok) throw new Error(decoded.error);
    const pod = decoded.review.request.object as Pod;
    const mutated = mutatePod({ pod, namespace: 'checkout-prod', serviceAccount }, settings);
    if (mutated.outcome !== 'mutated') throw new Error('not mutated');
    const outcome = await handleMutation(decoded.review, mutation);
    return { parsed, review: decoded.review, pod, mutated: mutated.pod, operations: createPatch(pod, mutated.pod), outcome };
  }),
);
let next = 0;
const copy = (): (typeof copies)[number] => copies[next++ % COPIES] as (typeof copies)[number];

const stages: [string, () => unknown][] = [
  ['fastify floor (inject, canned answer)', () => floor.inject({ method: 'POST', url: '/', headers, payload: body })],
  ['mutate route (inject)', () => ours.inject({ method: 'POST', url: '/mutate-v1-pod', headers, payload: body })],
  ['JSON.parse', () => JSON.parse(body)],
  ['decodeReview', () => decodeReview(copy().parsed)],
  ['checkPod', () => checkPod(copy().pod)],
  ['mutatePod', () => mutatePod({ pod: copy().pod, namespace: 'checkout-prod', serviceAccount }, settings)],
  ['createPatch', () => { const c = copy(); return createPatch(c.pod, c.mutated); }],
  ['encodePatch', () => encodePatch(copy().operations)],
  ['handleMutation (all of the above after decode)', () => handleMutation(copy().review, mutation)],
  ['answer: buildReviewResponse + serializeReviewResponse', () => { const c = copy(); return serializeReviewResponse(buildReviewResponse(c.review, c.outcome.decision)); }],
];

const results: Record<string, number> = {};
for (const [name, fn] of stages) results[name] = +(await time(fn)).toFixed(1);
console.log(JSON.stringify({ rounds: ROUNDS, bodyBytes: body.length, answerBytes: answer.length, microsecondsPerCall: results }, null, 2));
await Promise.all([ours.close(), floor.close()]);
