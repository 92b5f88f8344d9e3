/**
 * The one place that looks inside Azure SDK errors (as upstream's
 * pkg/cloud/errors.go): everything else asks these predicates, so an SDK
 * upgrade that changes error shapes is fixed here.
 *
 * The checks are structural, by `name`, as core-rest-pipeline's own
 * `isRestError` is, so this module does not load the Azure SDK: the server
 * imports it even when no `arm:` source is configured.
 */

/** Bounded label values for metrics and logs. */
export type ArmErrorKind = 'throttled' | 'not_found' | 'auth' | 'error';

/** The fields of core-rest-pipeline's RestError read here. */
interface RestErrorShape extends Error {
  readonly name: 'RestError';
  readonly code?: string;
  readonly statusCode?: number;
  readonly response?: { readonly headers: { get(name: string): string | undefined } };
}

/** The fields of @azure/identity's AuthenticationError read here. */
interface AuthenticationErrorShape extends Error {
  readonly name: 'AuthenticationError';
  readonly statusCode: number;
  readonly errorResponse: { readonly error: string; readonly errorDescription: string };
}

/** @azure/identity's errors for "no token": each sets its own `name`. */
const CREDENTIAL_ERROR_NAMES = ['AuthenticationError', 'AuthenticationRequiredError', 'AggregateAuthenticationError', 'CredentialUnavailableError'];

function isNamedError(err: unknown, name: string): boolean {
  return err instanceof Error && err.name === name;
}

function isRestError(err: unknown): err is RestErrorShape {
  return isNamedError(err, 'RestError');
}

function isAuthenticationError(err: unknown): err is AuthenticationErrorShape {
  return isNamedError(err, 'AuthenticationError') && typeof (err as { errorResponse?: unknown }).errorResponse === 'object';
}

/** ARM answered 429 Too Many Requests. */
export function isThrottled(err: unknown): boolean {
  return isRestError(err) && err.statusCode === 429;
}

/** ARM answered 404 (the identity, resource group or subscription is gone). */
export function isNotFound(err: unknown): boolean {
  return isRestError(err) && err.statusCode === 404;
}

/**
 * The webhook's own identity could not get a token (Entra ID refused it, or
 * no credential is configured), or ARM refused the token: 401/403.
 */
export function isAuthError(err: unknown): boolean {
  if (CREDENTIAL_ERROR_NAMES.some((name) => isNamedError(err, name))) return true;
  return isRestError(err) && (err.statusCode === 401 || err.statusCode === 403);
}

export function classifyArmError(err: unknown): ArmErrorKind {
  if (isThrottled(err)) return 'throttled';
  if (isNotFound(err)) return 'not_found';
  if (isAuthError(err)) return 'auth';
  return 'error';
}

/**
 * How long a throttled caller must wait, in ms, or undefined when the answer
 * says nothing usable. Reads `retry-after-ms` / `x-ms-retry-after-ms`
 * (milliseconds) first, then `Retry-After` as delta-seconds or an HTTP-date
 * (RFC 9110 §10.2.3), the same precedence as core-rest-pipeline's own
 * throttling policy. A date in the past means "now" (0).
 */
export function retryAfterMs(err: unknown, nowMs: number = Date.now()): number | undefined {
  const headers = isRestError(err) ? err.response?.headers : undefined;
  if (!headers) return undefined;
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const ms = parseNonNegative(headers.get(name));
    if (ms !== undefined) return ms;
  }
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  const seconds = parseNonNegative(value);
  if (seconds !== undefined) return seconds * 1000;
  // Date.parse reads "-5" as a year; an HTTP-date always names a day and month.
  const date = /[a-z]/i.test(value) ? Date.parse(value) : Number.NaN;
  return Number.isFinite(date) ? Math.max(0, date - nowMs) : undefined;
}

/**
 * A one-line reason for logs and "unavailable" answers: the HTTP status and
 * ARM error code when there are some, never headers or tokens.
 */
export function describeArmError(err: unknown): string {
  if (isRestError(err)) return describeRestError(err);
  if (isAuthenticationError(err)) return `could not get a token for ARM (HTTP ${err.statusCode}: ${firstLine(err.errorResponse.errorDescription || err.errorResponse.error)})`;
  if (isNamedError(err, 'CredentialUnavailableError')) return `no Azure credential is available (${firstLine((err as Error).message)})`;
  if (isAuthError(err)) return `could not get a token for ARM (${firstLine((err as Error).message)})`;
  if (err instanceof Error) return firstLine(err.message);
  return String(err);
}

function describeRestError(err: RestErrorShape): string {
  const status = err.statusCode === undefined ? 'no response' : `HTTP ${err.statusCode}`;
  const code = err.code ? ` ${err.code}` : '';
  return `ARM request failed (${status}${code}): ${firstLine(err.message)}`;
}

function parseNonNegative(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d+(\.\d+)?\s*$/.test(value)) return undefined;
  return Number(value);
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
