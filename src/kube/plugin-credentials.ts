import { AppError } from '../errors.js';
import type { Authorization, Credentials } from './credentials.js';

/** A kubeconfig user with a credential plugin, in the shape @kubernetes/client-node's authenticators read. */
export interface PluginUser {
  readonly name: string;
  /** `user.exec`, with `env` as a list of `{name, value}` and a resolved `command`. */
  readonly exec?: Readonly<Record<string, unknown>>;
  /** `user.auth-provider`: `{ name, config }`. */
  readonly authProvider?: { readonly name?: unknown; config?: Record<string, unknown> };
}

/** The auth-provider names client-node runs, each from its own module. */
export const AUTH_PROVIDERS = ['azure', 'gcp', 'oidc'] as const;

/** What every client-node authenticator offers (its `Authenticator` interface). */
interface Authenticator {
  applyAuthentication(user: PluginUser, opts: { headers?: Record<string, unknown>; cert?: unknown; key?: unknown }): Promise<void>;
}

interface ExecCredential {
  readonly status?: { readonly token?: string; readonly clientCertificateData?: string; readonly clientKeyData?: string; readonly expirationTimestamp?: string };
}

/** client-node's ExecAuth as used here: `getCredential` runs the plugin (private in its typings, a plain method in the pinned 2.0.1). */
interface ExecRunner {
  getCredential(user: PluginUser): Promise<ExecCredential | null>;
}

/** How the user's plugin is run. */
type PluginKind = 'exec' | (typeof AUTH_PROVIDERS)[number];

export function pluginKind(user: PluginUser): PluginKind | undefined {
  if (user.exec) return 'exec';
  const provider = user.authProvider;
  if (!provider) return undefined;
  if (provider.name === 'exec' || provider.config?.exec) return 'exec';
  return AUTH_PROVIDERS.find((name) => name === provider.name);
}

/**
 * Credentials from a kubeconfig `exec` plugin (kubelogin, `aws eks
 * get-token`, gke-gcloud-auth-plugin, ...) or a legacy `auth-provider`
 * (azure, gcp, oidc), run by @kubernetes/client-node's authenticator for
 * that kind alone. Each is imported by its file (the package has no
 * `exports` map, and the version is pinned in package.json): the exec
 * module needs only `node:child_process`, where the package's index loads
 * every generated API model (40–75 MiB of resident memory).
 *
 * An exec plugin's answer (token, or client certificate and key) is kept
 * until its `expirationTimestamp`, or, without one, until the API server
 * answers 401 (`refresh`), as client-go does. Concurrent callers share one
 * run of the plugin.
 */
export function pluginCredentials(user: PluginUser, options: { now?: () => number } = {}): Credentials {
  const kind = pluginKind(user);
  if (kind === undefined) throw new Error(`user "${user.name}" has no credential plugin that can be run`);
  const now = options.now ?? Date.now;
  if (kind !== 'exec') return authProviderCredentials(kind, user);

  let cached: { authorization: Authorization; expiresAt: number | undefined } | undefined;
  let pending: Promise<Authorization> | undefined;
  // A fresh runner after a 401: client-node's runner keeps an unexpired answer of its own.
  let runner: Promise<ExecRunner> | undefined;
  const run = async (): Promise<Authorization> => {
    runner ??= import('@kubernetes/client-node/dist/exec_auth.js').then(({ ExecAuth }) => new ExecAuth() as unknown as ExecRunner);
    let credential: ExecCredential | null;
    try {
      credential = await (await runner).getCredential(user);
    } catch (err) {
      const detail = ((err as Error).message ?? String(err)).trim().split('\n')[0] ?? '';
      throw pluginFailure(user, `failed: ${detail || 'it exited with an error and said nothing'}`, err);
    }
    const status = credential?.status;
    if (!status) throw pluginFailure(user, 'returned no status');
    const authorization: Authorization = {
      ...(status.token ? { header: `Bearer ${status.token}` } : {}),
      ...(status.clientCertificateData && status.clientKeyData ? { cert: status.clientCertificateData, key: status.clientKeyData } : {}),
    };
    if (!authorization.header && !authorization.cert) throw pluginFailure(user, 'returned neither a token nor a client certificate and key');
    const expiry = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : NaN;
    cached = { authorization, expiresAt: Number.isNaN(expiry) ? undefined : expiry };
    return authorization;
  };
  return {
    authorize: async () => {
      if (cached && (cached.expiresAt === undefined || now() < cached.expiresAt)) return cached.authorization;
      pending ??= run().finally(() => (pending = undefined));
      return pending;
    },
    refresh: () => {
      cached = undefined;
      runner = undefined;
    },
  };
}

function pluginFailure(user: PluginUser, what: string, cause?: unknown): AppError {
  return new AppError('WIA_ERR_KUBE_CREDENTIALS', `the exec credential plugin of user "${user.name}" ${what}`, cause === undefined ? undefined : { cause });
}

/** A legacy auth-provider: client-node's module for it sets the header (and keeps its tokens in the user's config). */
function authProviderCredentials(kind: Exclude<PluginKind, 'exec'>, user: PluginUser): Credentials {
  let authenticator: Promise<Authenticator> | undefined;
  const load = (): Promise<Authenticator> => {
    switch (kind) {
      case 'azure':
        return import('@kubernetes/client-node/dist/azure_auth.js').then(({ AzureAuth }) => new AzureAuth() as unknown as Authenticator);
      case 'gcp':
        return import('@kubernetes/client-node/dist/gcp_auth.js').then(({ GoogleCloudPlatformAuth }) => new GoogleCloudPlatformAuth() as unknown as Authenticator);
      case 'oidc':
        return import('@kubernetes/client-node/dist/oidc_auth.js').then(({ OpenIDConnectAuth }) => new OpenIDConnectAuth() as unknown as Authenticator);
    }
  };
  return {
    authorize: async () => {
      authenticator ??= load();
      const opts: { headers: Record<string, unknown> } = { headers: {} };
      await (await authenticator).applyAuthentication(user, opts);
      const header = opts.headers.Authorization;
      return typeof header === 'string' ? { header } : {};
    },
  };
}
