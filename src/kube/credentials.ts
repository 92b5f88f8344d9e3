import { readFileSync } from 'node:fs';
import { AppError } from '../errors.js';

/** What a request to the API server carries to authenticate. */
export interface Authorization {
  /** The `Authorization` header, when the user has one. */
  readonly header?: string;
  /** A client certificate and key (PEM) issued by a credential plugin. */
  readonly cert?: string;
  readonly key?: string;
}

/** The kubeconfig user (or in-cluster ServiceAccount) behind every request. */
export interface Credentials {
  authorize(): Promise<Authorization>;
  /**
   * Called after the API server answered 401 to `used`: forget what is
   * cached, so the next `authorize()` reads the token file again or runs the
   * plugin again (client-go resets its token source the same way). Sources
   * that cannot change (a literal token) do not implement it.
   */
  refresh?(used: Authorization): void;
}

export const NO_CREDENTIALS: Credentials = { authorize: async () => ({}) };

export function bearerToken(token: string): Credentials {
  const authorization = { header: `Bearer ${token}` };
  return { authorize: async () => authorization };
}

export function basicAuth(username: string, password: string): Credentials {
  const authorization = { header: `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}` };
  return { authorize: async () => authorization };
}

export interface TokenFileOptions {
  /** How long a read token is used before the file is read again. Default one minute. */
  readonly periodMs?: number;
  /** The kubeconfig's literal `token`, used only while the file cannot be read. */
  readonly fallbackToken?: string;
  readonly now?: () => number;
}

/**
 * A bearer token read from a file, and read again once `periodMs` has passed
 * or after a 401, so a rotated token is picked up: the kubelet rewrites a
 * pod's projected ServiceAccount token well before it expires, and tools
 * rewrite a kubeconfig's `tokenFile` (client-go's `NewCachedFileTokenSource`
 * reads it once a minute too).
 *
 * Precedence, as client-go: the file's content wins over a literal `token`
 * from the same kubeconfig user; the literal token is used only when the
 * file cannot be read and nothing was read from it before.
 */
export function tokenFile(path: string, options: TokenFileOptions = {}): Credentials {
  const periodMs = options.periodMs ?? 60_000;
  const now = options.now ?? Date.now;
  let cached: { authorization: Authorization; readAt: number } | undefined;
  let stale = false;
  return {
    authorize: async () => {
      if (cached && !stale && now() - cached.readAt < periodMs) return cached.authorization;
      let token: string;
      try {
        token = readFileSync(path, 'utf8').trim();
      } catch (err) {
        // A token that cannot be read again is still better than none (the file is being swapped).
        if (cached) return cached.authorization;
        if (options.fallbackToken) return { header: `Bearer ${options.fallbackToken}` };
        throw new AppError('WIA_ERR_KUBE_CREDENTIALS', `cannot read the API server token file ${path}: ${(err as Error).message}`, { cause: err });
      }
      stale = false;
      cached = { authorization: { header: `Bearer ${token}` }, readAt: now() };
      return cached.authorization;
    },
    refresh: () => {
      stale = true;
    },
  };
}

/** Two authorizations carry the same credential. */
export function sameAuthorization(a: Authorization, b: Authorization): boolean {
  return a.header === b.header && a.cert === b.cert && a.key === b.key;
}
