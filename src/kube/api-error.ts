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
