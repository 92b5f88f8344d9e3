import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { delimiter, dirname, isAbsolute, join, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { basicAuth, bearerToken, NO_CREDENTIALS, tokenFile, type Credentials } from './credentials.js';
import { AUTH_PROVIDERS, pluginCredentials, pluginKind, type PluginUser } from './plugin-credentials.js';

/** The environment variables that say where the API server is (from `loadConfig`, never read here). */
export interface KubeEnvironment {
  readonly KUBECONFIG?: string | undefined;
  readonly KUBERNETES_SERVICE_HOST?: string | undefined;
  readonly KUBERNETES_SERVICE_PORT?: string | undefined;
  readonly HOME?: string | undefined;
}

export interface KubeTls {
  /** Trusted CAs (PEM); the system's when undefined. */
  readonly ca?: Buffer;
  /** Client certificate and key (PEM). */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly rejectUnauthorized: boolean;
  readonly servername?: string;
}

/** Where the API server is, how to trust it, and who we are to it. */
export interface KubeConnection {
  /** e.g. `https://10.0.0.1:443`, or with a path prefix behind a proxy; no trailing slash. */
  readonly server: string;
  readonly tls: KubeTls;
  readonly credentials: Credentials;
  /** For logs: `in-cluster`, or the kubeconfig file and context. */
  readonly origin: string;
  /**
   * The namespace of the context in use, or in a pod the one mounted with
   * its ServiceAccount token; undefined when neither says (client-go then
   * uses `default`).
   */
  readonly namespace?: string;
}

/** Where a pod's ServiceAccount token, CA and namespace are mounted. */
export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Finds the API server, in client-go's order (controller-runtime's
 * `GetConfig`, which upstream uses):
 *
 * 1. `--kubeconfig` (`path`), when not empty;
 * 2. `$KUBECONFIG`, a list of files: the first to name a cluster, user or
 *    context wins, and the first `current-context` set is used;
 * 3. in a pod: `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT` with the
 *    mounted ServiceAccount token (read again as the kubelet rotates it);
 * 4. `~/.kube/config`.
 *
 * Throws `WIA_ERR_KUBECONFIG_INVALID` naming the file and the field.
 */
export function loadKubeConnection(path: string, env: KubeEnvironment, options: { inClusterDir?: string } = {}): KubeConnection {
  if (path !== '') return connectionFromFiles(existsSync(path) ? [path] : [], `--kubeconfig ${path}`);
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter((p) => p !== '');
  if (listed.length > 0) return connectionFromFiles(listed.filter((p) => existsSync(p)), `KUBECONFIG=${env.KUBECONFIG ?? ''}`);
  const inClusterDir = options.inClusterDir ?? IN_CLUSTER_DIR;
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT && existsSync(join(inClusterDir, 'token'))) {
    return inClusterConnection(env.KUBERNETES_SERVICE_HOST, env.KUBERNETES_SERVICE_PORT, inClusterDir);
  }
  const home = env.HOME ? join(env.HOME, '.kube', 'config') : '';
  if (home !== '' && existsSync(home)) return connectionFromFiles([home], home);
  throw invalid('no API server configured: give --kubeconfig, set KUBECONFIG, run in a pod, or create ~/.kube/config (or serve from --objects)');
}

function inClusterConnection(host: string, port: string, dir: string): KubeConnection {
  const namespace = readOptional(join(dir, 'namespace'))?.trim();
  return {
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    tls: { ca: readFileOrFail(join(dir, 'ca.crt'), 'in-cluster CA'), rejectUnauthorized: true },
    credentials: tokenFile(join(dir, 'token')),
    origin: 'in-cluster',
    ...(namespace ? { namespace } : {}),
  };
}

const ClusterSchema = z.looseObject({
  server: z.string().regex(/^https?:\/\/[^/]/, 'must be an https:// (or http://) URL'),
  'certificate-authority': z.string().optional(),
  'certificate-authority-data': z.string().optional(),
  'insecure-skip-tls-verify': z.boolean().optional(),
  'tls-server-name': z.string().optional(),
  'proxy-url': z.string().optional(),
});

const UserSchema = z.looseObject({
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  'client-certificate': z.string().optional(),
  'client-certificate-data': z.string().optional(),
  'client-key': z.string().optional(),
  'client-key-data': z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  exec: z
    .looseObject({
      command: z.string().min(1, 'must name the plugin to run'),
      args: z.array(z.string()).optional(),
      env: z.array(z.object({ name: z.string(), value: z.string() })).nullish(),
      interactiveMode: z.enum(['Never', 'IfAvailable', 'Always']).optional(),
    })
    .optional(),
  'auth-provider': z.looseObject({ name: z.string().optional(), config: z.record(z.string(), z.unknown()).optional() }).optional(),
  as: z.string().optional(),
  'as-uid': z.string().optional(),
  'as-groups': z.array(z.string()).nullish(),
  'as-user-extra': z.record(z.string(), z.unknown()).nullish(),
});

const ContextSchema = z.looseObject({ cluster: z.string().min(1), user: z.string().optional(), namespace: z.string().optional() });

/** A named entry of a kubeconfig list, with the directory its relative paths are relative to. */
interface Entry {
  readonly value: Record<string, unknown>;
  readonly dir: string;
}

interface MergedConfig {
  readonly clusters: Map<string, Entry>;
  readonly users: Map<string, Entry>;
  readonly contexts: Map<string, Entry>;
  currentContext: string;
}

function connectionFromFiles(files: readonly string[], origin: string): KubeConnection {
  if (files.length === 0) throw invalid(`${origin}: no such file`);
  const merged: MergedConfig = { clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: '' };
  for (const file of files) mergeFile(merged, file);
  const contextName = merged.currentContext;
  if (contextName === '') throw invalid(`${origin}: current-context is not set`);
  const context = pick(ContextSchema, merged.contexts.get(contextName), `${origin}: context "${contextName}"`);
  const cluster = pick(ClusterSchema, merged.clusters.get(context.value.cluster), `${origin}: cluster "${context.value.cluster}"`);
  const userName = context.value.user ?? '';
  const user = userName === '' ? { value: UserSchema.parse({}), dir: '' } : pick(UserSchema, merged.users.get(userName), `${origin}: user "${userName}"`);
  const where = `${origin} (context ${contextName})`;

  const c = cluster.value;
  const u = user.value;
  refuseUnsupported(where, context.value.cluster, c, userName, u);
  const ca = fileOrData(c['certificate-authority'], c['certificate-authority-data'], cluster.dir, `${where}: certificate-authority`);
  const cert = fileOrData(u['client-certificate'], u['client-certificate-data'], user.dir, `${where}: client-certificate`);
  const key = fileOrData(u['client-key'], u['client-key-data'], user.dir, `${where}: client-key`);
  if (Boolean(cert) !== Boolean(key)) throw invalid(`${where}: user "${userName}" has a client certificate without a key, or a key without a certificate`);

  // client-go's precedence: literal credentials (token file, token, basic, a
  // client certificate) are used as they are; a plugin only when none is set.
  let credentials: Credentials = NO_CREDENTIALS;
  if (u.tokenFile) credentials = tokenFile(resolvePath(u.tokenFile, user.dir), u.token ? { fallbackToken: u.token } : {});
  else if (u.token) credentials = bearerToken(u.token);
  else if (u.username !== undefined) credentials = basicAuth(u.username, u.password ?? '');
  else if (!cert && (u.exec || u['auth-provider'])) credentials = pluginCredentials(pluginUser(userName, u, user.dir));

  const namespace = context.value.namespace;
  return {
    server: c.server.replace(/\/+$/, ''),
    tls: {
      ...(ca ? { ca } : {}),
      ...(cert && key ? { cert, key } : {}),
      rejectUnauthorized: c['insecure-skip-tls-verify'] !== true,
      ...(c['tls-server-name'] ? { servername: c['tls-server-name'] } : {}),
    },
    credentials,
    origin: where,
    ...(namespace ? { namespace } : {}),
  };
}

/** Kubeconfig settings this client would otherwise ignore or misapply: each refused in one line naming the entry. */
function refuseUnsupported(where: string, clusterName: string, c: z.infer<typeof ClusterSchema>, userName: string, u: z.infer<typeof UserSchema>): void {
  if (c['proxy-url']) throw invalid(`${where}: cluster "${clusterName}" sets proxy-url, which is not supported; reach the API server directly`);
  if (c['insecure-skip-tls-verify'] === true && (c['certificate-authority'] || c['certificate-authority-data'])) {
    throw invalid(`${where}: cluster "${clusterName}" sets both insecure-skip-tls-verify and a certificate-authority, which client-go refuses too; remove one of them`);
  }
  const impersonation = (['as', 'as-uid', 'as-groups', 'as-user-extra'] as const).filter((k) => u[k] !== undefined && u[k] !== null && u[k] !== '');
  if (impersonation.length > 0) {
    throw invalid(`${where}: user "${userName}" sets ${impersonation.join(', ')} (impersonation), which is not supported; give the webhook a user that is allowed to read ServiceAccounts itself`);
  }
  if (u.exec && u['auth-provider']) throw invalid(`${where}: user "${userName}" sets both exec and auth-provider; client-go refuses the combination, keep one`);
  if (u.exec?.interactiveMode === 'Always') throw invalid(`${where}: user "${userName}": the exec plugin needs an interactive terminal (interactiveMode: Always), which a server does not have; use a plugin mode that runs unattended`);
  const provider = u['auth-provider'];
  if (provider && !u.exec && pluginKind({ name: userName, authProvider: provider }) === undefined) {
    throw invalid(`${where}: user "${userName}": auth-provider "${String(provider.name)}" is not supported (supported: ${AUTH_PROVIDERS.join(', ')}, or an exec plugin)`);
  }
}

/**
 * The user as client-node's authenticators read it. A relative exec command
 * that contains a path separator is relative to the kubeconfig's directory;
 * a bare name is looked up on PATH (client-go's ResolveLocalPaths).
 */
function pluginUser(name: string, u: z.infer<typeof UserSchema>, dir: string): PluginUser {
  if (!u.exec) return { name, authProvider: { ...u['auth-provider'] } };
  const command = u.exec.command.includes(sep) && dir !== '' ? resolvePath(u.exec.command, dir) : u.exec.command;
  const env = [...(u.exec.env ?? [])];
  // What client-go tells every plugin: this process has no terminal to prompt on.
  if (!env.some((e) => e.name === EXEC_INFO_ENV)) {
    env.push({ name: EXEC_INFO_ENV, value: JSON.stringify({ kind: 'ExecCredential', apiVersion: u.exec.apiVersion ?? 'client.authentication.k8s.io/v1beta1', spec: { interactive: false } }) });
  }
  return { name, exec: { ...u.exec, command, env } };
}

const EXEC_INFO_ENV = 'KUBERNETES_EXEC_INFO';

function mergeFile(merged: MergedConfig, file: string): void {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw invalid(`kubeconfig ${file}: ${(err as Error).message}`, err);
  }
  if (parsed === null || parsed === undefined) return;
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid(`kubeconfig ${file}: not a kubeconfig (expected a mapping)`);
  const doc = parsed as Record<string, unknown>;
  const dir = dirname(file);
  const lists = [
    ['clusters', 'cluster', merged.clusters],
    ['users', 'user', merged.users],
    ['contexts', 'context', merged.contexts],
  ] as const;
  for (const [listKey, itemKey, target] of lists) {
    const list = doc[listKey] ?? [];
    if (!Array.isArray(list)) throw invalid(`kubeconfig ${file}: ${listKey} must be a list`);
    list.forEach((item: unknown, index) => {
      const named = item as { name?: unknown; [key: string]: unknown } | null;
      if (typeof named?.name !== 'string') throw invalid(`kubeconfig ${file}: ${listKey}[${index}].name must be a string`);
      const value = named[itemKey] ?? {};
      if (typeof value !== 'object' || value === null) throw invalid(`kubeconfig ${file}: ${listKey}[${index}].${itemKey} must be a mapping`);
      if (!target.has(named.name)) target.set(named.name, { value: value as Record<string, unknown>, dir });
    });
  }
  const current = doc['current-context'];
  if (merged.currentContext === '' && typeof current === 'string') merged.currentContext = current;
}

function pick<S extends z.ZodType>(schema: S, entry: Entry | undefined, what: string): { value: z.infer<S>; dir: string } {
  if (!entry) throw invalid(`${what} is not defined`);
  const parsed = schema.safeParse(entry.value);
  if (!parsed.success) throw invalid(`${what}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return { value: parsed.data, dir: entry.dir };
}

/** `*-data` (base64) wins over the file, as in client-go. */
function fileOrData(file: string | undefined, data: string | undefined, dir: string, what: string): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (file) return readFileOrFail(resolvePath(file, dir), what);
  return undefined;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readFileOrFail(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw invalid(`${what}: cannot read ${path}: ${(err as Error).message}`, err);
  }
}

/** Relative paths in a kubeconfig are relative to its own directory. */
function resolvePath(path: string, dir: string): string {
  return isAbsolute(path) || dir === '' ? path : join(dir, path);
}

function invalid(message: string, cause?: unknown): AppError {
  return new AppError('WIA_ERR_KUBECONFIG_INVALID', message, cause === undefined ? undefined : { cause });
}
