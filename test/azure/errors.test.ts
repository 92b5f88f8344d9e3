import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { AuthenticationError, CredentialUnavailableError } from '@azure/identity';
import t from 'tap';
import { classifyArmError, describeArmError, isAuthError, isNotFound, isThrottled, retryAfterMs } from '../../src/azure/errors.js';

function rest(status: number | undefined, headers: Record<string, string> = {}, code?: string): RestError {
  const request = createPipelineRequest({ url: 'https://management.azure.com/x' });
  return new RestError(`status ${status}`, {
    ...(status === undefined ? {} : { statusCode: status, response: { status, headers: createHttpHeaders(headers), request } }),
    ...(code ? { code } : {}),
    request,
  });
}

void t.test('classifies SDK errors', async (t) => {
  const cases: [string, unknown, ReturnType<typeof classifyArmError>][] = [
    ['429 is throttled', rest(429), 'throttled'],
    ['404 is not found', rest(404), 'not_found'],
    ['401 is auth', rest(401), 'auth'],
    ['403 is auth', rest(403), 'auth'],
    ['a token request Entra refused is auth', new AuthenticationError(400, { error: 'invalid_client', error_description: 'AADSTS7000215' }), 'auth'],
    ['no credential at all is auth', new CredentialUnavailableError('no workload identity env'), 'auth'],
    ['500 is an error', rest(500), 'error'],
    ['a connection failure is an error', rest(undefined, {}, 'ECONNREFUSED'), 'error'],
    ['a plain Error is an error', new Error('x'), 'error'],
    ['a 429 look-alike that is not a RestError is an error', { statusCode: 429 }, 'error'],
  ];
  for (const [name, err, kind] of cases) t.equal(classifyArmError(err), kind, name);
  t.equal(isThrottled(rest(429)), true);
  t.equal(isNotFound(rest(404)), true);
  t.equal(isAuthError(rest(500)), false);
});

void t.test('reads Retry-After as seconds or an HTTP-date, and the millisecond variants', async (t) => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const cases: [string, Record<string, string>, number | undefined][] = [
    ['delta-seconds', { 'retry-after': '120' }, 120_000],
    ['an HTTP-date', { 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }, 30_000],
    ['an HTTP-date in the past means now', { 'retry-after': 'Tue, 31 Dec 2024 23:00:00 GMT' }, 0],
    ['retry-after-ms wins', { 'retry-after-ms': '1500', 'retry-after': '120' }, 1500],
    ['x-ms-retry-after-ms', { 'x-ms-retry-after-ms': '250' }, 250],
    ['garbage is ignored', { 'retry-after': 'soon' }, undefined],
    ['a negative number is ignored', { 'retry-after': '-5' }, undefined],
    ['no header', {}, undefined],
  ];
  for (const [name, headers, expected] of cases) t.equal(retryAfterMs(rest(429, headers), now), expected, name);
  t.equal(retryAfterMs(new Error('x')), undefined, 'not an SDK error');
});

void t.test('describes errors in one line, without headers', async (t) => {
  t.equal(describeArmError(rest(403, { authorization: 'Bearer secret' }, 'AuthorizationFailed')), 'ARM request failed (HTTP 403 AuthorizationFailed): status 403');
  t.equal(describeArmError(rest(undefined, {}, 'ECONNREFUSED')), 'ARM request failed (no response ECONNREFUSED): status undefined');
  t.match(describeArmError(new AuthenticationError(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret.\nTrace ID: 1' })), /^could not get a token for ARM \(HTTP 401: AADSTS7000215: Invalid client secret\.\)$/);
  t.match(describeArmError(new CredentialUnavailableError('WorkloadIdentityCredential: missing AZURE_FEDERATED_TOKEN_FILE')), /^no Azure credential is available/);
  t.equal(describeArmError('text'), 'text');
});
