/**
 * A request the API server answered with an error: the HTTP status, and the
 * `reason` and `message` of the `Status` object it sent (kube-apiserver
 * answers every failure with one). Never carries request headers or tokens.
 */
export class KubeApiError extends Error {
  /** The HTTP status, as `Status.code` (404, 409, 410, ...). */
  readonly code: number;
  /** `Status.reason` (`NotFound`, `Conflict`, `Expired`, `Forbidden`, ...), or the HTTP status text. */
  readonly reason: string;

  constructor(method: string, path: string, code: number, reason: string, detail: string) {
    super(`${method} ${path}: ${code} ${reason}${detail ? `: ${detail}` : ''}`);
    this.name = 'KubeApiError';
    this.code = code;
    this.reason = reason;
  }
}

/** The body of a failed request as a KubeApiError: a `Status` object when it is one, else its first line. */
export function toKubeApiError(method: string, path: string, code: number, statusText: string, body: string): KubeApiError {
  let status: { kind?: unknown; reason?: unknown; message?: unknown } | undefined;
  try {
    status = JSON.parse(body) as typeof status;
  } catch {
    status = undefined;
  }
  if (status?.kind === 'Status') {
    const reason = typeof status.reason === 'string' && status.reason !== '' ? status.reason : statusText;
    return new KubeApiError(method, path, code, reason, typeof status.message === 'string' ? status.message : '');
  }
  const firstLine = body.split('\n', 1)[0]?.trim() ?? '';
  return new KubeApiError(method, path, code, statusText, firstLine.length > 300 ? `${firstLine.slice(0, 300)}…` : firstLine);
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 404;
}

/** Another writer changed the object since it was read (optimistic concurrency), or it already exists. */
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 409;
}

/** A watch whose connection stayed silent past its timeout: the peer is gone without a FIN or RST (a half-open connection). */
export class WatchStalledError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WatchStalledError';
  }
}

/**
 * A list from the watch cache that the API server cannot serve at the
 * resourceVersion asked for: 410 Expired, or a resourceVersion newer than
 * the cache has (a 504 whose Status carries ResourceVersionTooLarge).
 * client-go falls back to a consistent read from etcd on either.
 */
export function isResourceVersionUnavailable(err: unknown): boolean {
  if (!(err instanceof KubeApiError)) return false;
  return err.code === 410 || (err.code === 504 && /too large resource version/i.test(err.message));
}
