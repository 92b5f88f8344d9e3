import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, isAppError } from '../errors.js';
import { KubeApiError } from './api-error.js';
import type { ListPage, ListRequest, ListWatchSource, WatchHandle } from './informer.js';
import { loadKubeConnection, type KubeEnvironment } from './kubeconfig.js';
import { KUBE_PATHS } from './paths.js';
import { KubeRestClient, type KubeRestClientOptions } from './rest-client.js';

/** A client for the API server found by `loadKubeConnection` (`--kubeconfig`, `$KUBECONFIG`, in-cluster, `~/.kube/config`). */
export function createKubeClient(kubeconfig: string, env: KubeEnvironment, options: KubeRestClientOptions = {}): KubeRestClient {
  return new KubeRestClient(loadKubeConnection(kubeconfig, env), options);
}

/** `GET /version` → gitVersion. */
export async function fetchServerGitVersion(client: Pick<KubeRestClient, 'get'>, signal?: AbortSignal): Promise<string> {
  const info = (await client.get(KUBE_PATHS.version, signal ? { signal } : {})) as { gitVersion?: unknown } | null;
  if (typeof info?.gitVersion !== 'string') throw new Error('GET /version: the answer has no gitVersion');
  return info.gitVersion;
}

/**
 * Asks `/version` until the API server answers anything, for at most
 * `timeoutMs`. Resolves its gitVersion, or undefined when it answered
 * without one (503 while it starts, 403, ...): reachable, and the rest is
 * retried in the background. Rejects with WIA_ERR_KUBE_UNREACHABLE when no
 * answer came at all (wrong address, a CA that does not match, no route),
 * which a later retry rarely fixes: the start fails, as upstream's does.
 * Credentials that cannot be obtained (WIA_ERR_KUBE_CREDENTIALS) fail it too.
 */
export async function reachApiServer(client: Pick<KubeRestClient, 'get' | 'origin'>, timeoutMs: number): Promise<string | undefined> {
  const deadline = AbortSignal.timeout(timeoutMs);
  let failure: unknown;
  while (!deadline.aborted) {
    try {
      return await fetchServerGitVersion(client, deadline);
    } catch (err) {
      if (isAppError(err)) throw err;
      if (err instanceof KubeApiError || !isConnectionFailure(err)) return undefined;
      // The deadline cutting an attempt short says less than the refusal or TLS error before it.
      if (!(deadline.aborted && failure)) failure = err;
    }
    await sleep(200, undefined, { signal: deadline }).catch(() => undefined);
  }
  const reason = failure ? describeConnectionFailure(failure) : 'no answer';
  throw new AppError('WIA_ERR_KUBE_UNREACHABLE', `cannot reach the API server (${client.origin}) within ${timeoutMs / 1000} s: ${reason}`, { cause: failure });
}

/** No HTTP answer: a socket, DNS or TLS error, or the deadline. */
function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown };
  return typeof e.code === 'string' || e.name === 'TimeoutError' || e.name === 'AbortError';
}

function describeConnectionFailure(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; name?: unknown };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer';
  const message = typeof e.message === 'string' ? e.message : String(err);
  return typeof e.code === 'string' && !message.includes(e.code) ? `${message} (${e.code})` : message;
}

/** Page size of list calls: bounded memory per page on clusters with 50,000+ ServiceAccounts. */
export const LIST_PAGE_SIZE = 500;

interface ListBody {
  readonly items?: unknown;
  readonly metadata?: { readonly resourceVersion?: unknown; readonly continue?: unknown };
}

/**
 * One page of a list call. The first page is asked at `resourceVersion`;
 * pages after it follow the continue token alone (the API server refuses a
 * resourceVersion beside one). As client-go's reflector: a list at a
 * specific version other than `0` is not paged, so the API server can answer
 * it from its watch cache (it ignores `limit` at `0` anyway).
 */
export async function listPage(client: Pick<KubeRestClient, 'get'>, path: string, request: Partial<ListRequest> = {}): Promise<ListPage> {
  const { resourceVersion = '', continueToken, signal } = request;
  const paged = continueToken !== undefined || resourceVersion === '' || resourceVersion === '0';
  const query = continueToken !== undefined ? { limit: LIST_PAGE_SIZE, continue: continueToken } : { ...(paged ? { limit: LIST_PAGE_SIZE } : {}), resourceVersion };
  const body = (await client.get(path, { query, ...(signal ? { signal } : {}) })) as ListBody | null;
  const metadata = body?.metadata;
  return {
    items: Array.isArray(body?.items) ? (body.items as unknown[]) : [],
    resourceVersion: typeof metadata?.resourceVersion === 'string' ? metadata.resourceVersion : '',
    continueToken: typeof metadata?.continue === 'string' && metadata.continue !== '' ? metadata.continue : undefined,
  };
}

/** Every item of a list (a consistent read), page by page. */
export async function listAll(client: Pick<KubeRestClient, 'get'>, path: string, visit: (item: unknown) => void): Promise<void> {
  let continueToken: string | undefined;
  do {
    const page = await listPage(client, path, { continueToken });
    page.items.forEach(visit);
    continueToken = page.continueToken;
  } while (continueToken);
}

export interface WatchTiming {
  /** Each watch asks the API server to end it after a random time in this range (seconds). Default 300–600, as client-go. */
  readonly timeoutSeconds?: { readonly min: number; readonly max: number };
  /**
   * How long past its timeout a silent watch is kept: with bookmarks
   * allowed, the API server sends something (an event, a bookmark, or the
   * end of the stream) within the timeout, so silence beyond it means the
   * connection is half-open. Default 60 s.
   */
  readonly silenceMarginMs?: number;
  readonly random?: () => number;
}

/**
 * Cluster-wide list/watch of one resource path, e.g. `/api/v1/serviceaccounts`.
 * Watch timeouts are spread over 5–10 minutes so replicas do not all
 * reconnect at once (client-go's reflector).
 */
export function createListWatchSource(client: Pick<KubeRestClient, 'get' | 'watch'>, path: string, timing: WatchTiming = {}): ListWatchSource {
  const { min, max } = timing.timeoutSeconds ?? { min: 300, max: 600 };
  const margin = timing.silenceMarginMs ?? 60_000;
  const random = timing.random ?? Math.random;
  return {
    list: (request) => listPage(client, path, request),
    watch: (resourceVersion, onEvent, onDone): Promise<WatchHandle> => {
      const timeoutSeconds = Math.floor(min + random() * (max - min));
      return client.watch(path, { resourceVersion, allowWatchBookmarks: true, timeoutSeconds }, onEvent, onDone, timeoutSeconds * 1000 + margin);
    },
  };
}
