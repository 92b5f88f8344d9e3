import type { ListPage, ListWatchSource, WatchHandle } from './informer.js';
import { loadKubeConnection, type KubeEnvironment } from './kubeconfig.js';
import { KUBE_PATHS } from './paths.js';
import { KubeRestClient } from './rest-client.js';

/** A client for the API server found by `loadKubeConnection` (`--kubeconfig`, `$KUBECONFIG`, in-cluster, `~/.kube/config`). */
export function createKubeClient(kubeconfig: string, env: KubeEnvironment): KubeRestClient {
  return new KubeRestClient(loadKubeConnection(kubeconfig, env));
}

/** `GET /version` → gitVersion. */
export async function fetchServerGitVersion(client: Pick<KubeRestClient, 'get'>): Promise<string> {
  const info = (await client.get(KUBE_PATHS.version)) as { gitVersion?: unknown } | null;
  if (typeof info?.gitVersion !== 'string') throw new Error('GET /version: the answer has no gitVersion');
  return info.gitVersion;
}

/** Page size of list calls: bounded memory per page on clusters with 50,000+ ServiceAccounts. */
export const LIST_PAGE_SIZE = 500;
/** Watches end after this long and are resumed, so a silently dead connection cannot linger. */
const WATCH_TIMEOUT_SECONDS = 300;
/** A watch that sends nothing (not even its end) for this long is treated as cut. */
const WATCH_IDLE_TIMEOUT_MS = (WATCH_TIMEOUT_SECONDS + 60) * 1000;

interface ListBody {
  readonly items?: unknown;
  readonly metadata?: { readonly resourceVersion?: unknown; readonly continue?: unknown };
}

/** One page of a list call (`limit`, `continue`). */
export async function listPage(client: Pick<KubeRestClient, 'get'>, path: string, continueToken: string | undefined): Promise<ListPage> {
  const body = (await client.get(path, { query: { limit: LIST_PAGE_SIZE, continue: continueToken } })) as ListBody | null;
  const metadata = body?.metadata;
  return {
    items: Array.isArray(body?.items) ? (body.items as unknown[]) : [],
    resourceVersion: typeof metadata?.resourceVersion === 'string' ? metadata.resourceVersion : '',
    continueToken: typeof metadata?.continue === 'string' && metadata.continue !== '' ? metadata.continue : undefined,
  };
}

/** Every item of a list, page by page. */
export async function listAll(client: Pick<KubeRestClient, 'get'>, path: string, visit: (item: unknown) => void): Promise<void> {
  let continueToken: string | undefined;
  do {
    const page = await listPage(client, path, continueToken);
    page.items.forEach(visit);
    continueToken = page.continueToken;
  } while (continueToken);
}

/** Cluster-wide list/watch of one resource path, e.g. `/api/v1/serviceaccounts`. */
export function createListWatchSource(client: Pick<KubeRestClient, 'get' | 'watch'>, path: string): ListWatchSource {
  return {
    list: (continueToken) => listPage(client, path, continueToken),
    watch: (resourceVersion, onEvent, onDone): Promise<WatchHandle> =>
      client.watch(path, { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_SECONDS }, onEvent, onDone, WATCH_IDLE_TIMEOUT_MS),
  };
}
