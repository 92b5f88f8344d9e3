import { CoreV1Api, KubeConfig, VersionApi, Watch } from '@kubernetes/client-node';
import type { ListPage, ListWatchSource, WatchHandle } from './informer.js';

/**
 * KubeConfig from `--kubeconfig`, else in-cluster when running in a pod,
 * else `$KUBECONFIG`, else `~/.kube/config`.
 */
export function createKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  if (path !== '') kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/** `GET /version` → gitVersion. */
export async function fetchServerGitVersion(kc: KubeConfig): Promise<string> {
  const info = await kc.makeApiClient(VersionApi).getCode();
  return info.gitVersion;
}

/** Page size of list calls: bounded memory per page on clusters with 50,000+ ServiceAccounts. */
const LIST_PAGE_SIZE = 500;
/** Watches end after this long and are resumed, so a silently dead connection cannot linger. */
const WATCH_TIMEOUT_SECONDS = 300;

/** Cluster-wide list/watch of one resource path, e.g. `/api/v1/serviceaccounts`. */
export function createListWatchSource(
  kc: KubeConfig,
  path: string,
  list: (continueToken: string | undefined, limit: number) => Promise<{ items: unknown[]; metadata?: { resourceVersion?: string; _continue?: string } }>,
): ListWatchSource {
  const watcher = new Watch(kc);
  return {
    async list(continueToken): Promise<ListPage> {
      const result = await list(continueToken, LIST_PAGE_SIZE);
      return {
        items: result.items,
        resourceVersion: result.metadata?.resourceVersion ?? '',
        continueToken: result.metadata?._continue || undefined,
      };
    },
    async watch(resourceVersion, onEvent, onDone): Promise<WatchHandle> {
      const controller = await watcher.watch(
        path,
        { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_SECONDS },
        onEvent,
        onDone,
      );
      return { abort: () => controller.abort() };
    },
  };
}

export function createServiceAccountSource(kc: KubeConfig): { source: ListWatchSource; core: CoreV1Api } {
  const core = kc.makeApiClient(CoreV1Api);
  const source = createListWatchSource(kc, '/api/v1/serviceaccounts', (continueToken, limit) =>
    core.listServiceAccountForAllNamespaces({ _continue: continueToken, limit }),
  );
  return { source, core };
}

/** True for the client's NotFound error. */
export function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 404;
}

/**
 * One object GET bounded by `signal`: the object, or undefined on NotFound.
 * The generated client takes no signal, so the wait is raced instead; a late
 * answer is dropped.
 */
export async function readOrUndefined<T>(read: Promise<unknown>, signal: AbortSignal, toRecord: (object: unknown) => T | undefined): Promise<T | undefined> {
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason as Error);
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
  try {
    return toRecord(await Promise.race([read, aborted]));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
