import { readFileSync } from 'node:fs';

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

/**
 * A bearer token read from a file and read again once `periodMs` has passed,
 * so a rotated token is picked up: the kubelet rewrites a pod's projected
 * ServiceAccount token well before it expires (client-go's
 * `NewCachedFileTokenSource` does the same, once a minute).
 */
export function tokenFile(path: string, options: { periodMs?: number; now?: () => number } = {}): Credentials {
  const periodMs = options.periodMs ?? 60_000;
  const now = options.now ?? Date.now;
  let cached: { authorization: Authorization; readAt: number } | undefined;
  return {
    authorize: async () => {
      if (cached && now() - cached.readAt < periodMs) return cached.authorization;
      let token: string;
      try {
        token = readFileSync(path, 'utf8').trim();
      } catch (err) {
        // A token that cannot be read again is still better than none (the file is being swapped).
        if (cached) return cached.authorization;
        throw new Error(`cannot read the API server token file ${path}: ${(err as Error).message}`, { cause: err });
      }
      cached = { authorization: { header: `Bearer ${token}` }, readAt: now() };
      return cached.authorization;
    },
  };
}

/**
 * Credentials from a kubeconfig `exec` or `auth-provider` plugin (kubelogin,
 * `aws eks get-token`, gke-gcloud-auth-plugin, ...). @kubernetes/client-node
 * runs the plugin and caches its token until it expires; it is loaded only
 * here, for such a user, as it costs about 80 MiB of resident memory.
 *
 * @param kubeconfigYaml a kubeconfig whose current context is the one in use
 */
export function pluginCredentials(kubeconfigYaml: string): Credentials {
  let config: Promise<{ applyToHTTPSOptions(options: object): Promise<void> }> | undefined;
  return {
    authorize: async () => {
      config ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
        const kc = new KubeConfig();
        kc.loadFromString(kubeconfigYaml);
        return kc;
      });
      const options: { headers?: Record<string, unknown>; cert?: unknown; key?: unknown } = {};
      await (await config).applyToHTTPSOptions(options);
      const header = options.headers?.Authorization ?? options.headers?.authorization;
      return {
        ...(typeof header === 'string' ? { header } : {}),
        ...(options.cert && options.key ? { cert: String(options.cert), key: String(options.key) } : {}),
      };
    },
  };
}
