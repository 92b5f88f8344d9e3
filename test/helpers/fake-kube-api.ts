import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { startLoopbackTlsServer, type LoopbackTlsServer } from './loopback-tls.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface ServiceAccountObject {
  apiVersion: 'v1';
  kind: 'ServiceAccount';
  metadata: { name: string; namespace: string; resourceVersion: string; uid: string; annotations?: Record<string, string> };
}

/**
 * One request as RBAC sees it: verb, API group, resource and, when the URL
 * names them, namespace and object name. `/version` and other non-resource
 * URLs have `nonResourceURL` instead of a resource.
 */
export interface KubeCall {
  verb: string;
  apiGroup: string;
  resource: string;
  namespace?: string;
  name?: string;
  nonResourceURL?: string;
  /** The request came on a connection that had carried an earlier request (a reused keep-alive connection). */
  reusedConnection?: boolean;
  /** The bearer token it carried, and the common name of its client certificate, if any. */
  bearer?: string;
  clientCommonName?: string;
  /** performance.now() when the request arrived, and when its answer was sent (undefined while pending). */
  at: number;
  answeredAt?: number;
  status?: number;
}

/** RBAC's view of a request URL (the API server's RequestInfoFactory, for the URL shapes a client sends). */
export function describeKubeRequest(method: string, url: URL): Omit<KubeCall, 'at'> {
  const parts = url.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  let rest: string[];
  let apiGroup: string;
  if (parts[0] === 'api' && parts.length >= 3) {
    apiGroup = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    apiGroup = parts[1] ?? '';
    rest = parts.slice(3);
  } else {
    return { verb: method.toLowerCase(), apiGroup: '', resource: '', nonResourceURL: url.pathname };
  }
  let namespace: string | undefined;
  // namespaces/{ns}/{resource}... is namespaced; namespaces/{name} is the Namespace itself.
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const resource = rest[0] ?? '';
  const name = rest[1];
  const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
  const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: name === undefined ? 'deletecollection' : 'delete' };
  const verb = method === 'GET' || method === 'HEAD' ? (watch ? 'watch' : name === undefined ? 'list' : 'get') : (verbs[method] ?? method.toLowerCase());
  return { verb, apiGroup, resource, ...(namespace !== undefined ? { namespace } : {}), ...(name !== undefined ? { name } : {}) };
}

/** Resources the stand-in keeps as plain stored objects. */
const STORED_RESOURCES = new Set(['/secrets', 'admissionregistration.k8s.io/mutatingwebhookconfigurations', 'admissionregistration.k8s.io/validatingwebhookconfigurations', 'wgpolicyk8s.io/policyreports', 'events.k8s.io/events', 'coordination.k8s.io/leases']);

/**
 * Takes over one request before the stand-in answers it (a fault): return
 * true when it has answered (or destroyed the connection) itself.
 */
export type KubeInterceptor = (call: KubeCall, req: IncomingMessage, res: ServerResponse) => boolean;

export interface FakeKubeApiOptions {
  /** Only clients with a certificate signed by this CA (PEM) get through the handshake. */
  readonly clientCa?: string;
}

interface StoredObject {
  resourceVersion: string;
  object: Record<string, unknown>;
}

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: ServiceAccountObject;
}

/**
 * A loopback stand-in for the parts of kube-apiserver the webhook uses:
 * `GET /version`, paged list and watch of `/api/v1/serviceaccounts`, and
 * `GET /api/v1/namespaces/{ns}/serviceaccounts/{name}`, Namespaces, the
 * Secret and webhook configurations of self-managed certificates, and the
 * audit's PolicyReports (with discovery of their API), Events and Lease. It speaks
 * the real wire format, so the server's own API client (src/kube) runs against
 * it, and records every request as RBAC sees it (`calls`).
 */
export class FakeKubeApi {
  gitVersion = 'v1.31.4';
  /** Delay before answering single-object GETs (slow API server). */
  getDelayMs = 0;
  /** When true every request gets a 503 (API server down). */
  down = false;
  /** Namespaces whose GET answers 503 (and which the list leaves out): they exist, but cannot be read. */
  readonly unreadableNamespaces = new Set<string>();
  readonly requests: string[] = [];
  /** Every request as RBAC sees it (see describeKubeRequest). */
  readonly calls: KubeCall[] = [];
  private server: LoopbackTlsServer | undefined;
  private readonly objects = new Map<string, ServiceAccountObject>();
  /** Namespaces: listed, read, and watched (the watch tells only of putNamespace(…, { notify: true })). */
  private readonly namespaceLabels = new Map<string, Record<string, string>>();
  private readonly namespaceWatchers = new Set<ServerResponse>();
  private readonly events: WatchEvent[] = [];
  /** Watches from a resourceVersion older than this get 410 Gone. */
  private oldestWatchableRv = 0;
  private rv = 100;
  private readonly watchers = new Set<{ res: ServerResponse; sent: number }>();
  /**
   * Objects other than ServiceAccounts, Namespaces and Pods (Secrets, webhook
   * configurations, PolicyReports, Events, Leases), by `<group>/<resource>`
   * then `<namespace>/<name>` ('' for cluster-scoped): read, listed, created,
   * replaced and deleted with optimistic concurrency, as the API server does.
   */
  private readonly stored = new Map<string, Map<string, StoredObject>>();
  /** Whether the PolicyReport CRD (wgpolicyk8s.io/v1alpha2) is installed. */
  policyReportsInstalled = false;
  /** Called before each write of a stored object is answered (tests change state in between). */
  beforeWrite: ((call: KubeCall) => void) | undefined;

  private caCert = '';
  /** When set, only these bearer tokens are accepted; anything else gets 401 (a revoked or rotated token). */
  acceptedTokens: Set<string> | undefined;
  /** Faults: each interceptor sees every request first (see KubeInterceptor). */
  readonly interceptors: KubeInterceptor[] = [];
  /** Requests served per connection, to tell a reused keep-alive connection. */
  private readonly perSocket = new WeakMap<object, number>();

  constructor(private readonly options: FakeKubeApiOptions = {}) {}

  /** Listens on 127.0.0.1 over TLS with a CA of its own, which the kubeconfig trusts. */
  async start(): Promise<number> {
    this.server = await startLoopbackTlsServer('fake kube-apiserver CA', (req, res) => void this.handle(req, res), this.options.clientCa ? { clientCa: this.options.clientCa } : {});
    this.caCert = this.server.caCert;
    return this.port();
  }

  port(): number {
    return this.server?.port ?? 0;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    await this.server?.close();
  }

  /** PEM of the CA the stand-in's serving certificate is signed by. */
  get ca(): string {
    return this.caCert;
  }

  /** Writes a kubeconfig for this server into `dir` and returns its path; `user` replaces the default token user. */
  writeKubeconfig(dir: string, user?: Record<string, unknown>, name = 'kubeconfig'): string {
    const path = join(dir, name);
    if (user) {
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: `https://127.0.0.1:${this.port()}`, 'certificate-authority-data': Buffer.from(this.caCert).toString('base64') } }],
        users: [{ name: 'fake', user }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
        'current-context': 'fake',
      };
      writeFileSync(path, JSON.stringify(config));
      return path;
    }
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: fake\n  cluster:\n    server: https://127.0.0.1:${this.port()}\n    certificate-authority-data: ${Buffer.from(this.caCert).toString('base64')}`,
        'users:',
        '- name: fake\n  user:\n    token: fake-token-must-not-be-logged',
        'contexts:',
        '- name: fake\n  context:\n    cluster: fake\n    user: fake',
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return path;
  }

  /** Adds or updates a ServiceAccount; `silent` skips the watch event (the cache has not seen it yet). */
  putServiceAccount(namespace: string, name: string, annotations: Record<string, string> = {}, options: { silent?: boolean } = {}): void {
    const key = `${namespace}/${name}`;
    const type = this.objects.has(key) ? 'MODIFIED' : 'ADDED';
    const object: ServiceAccountObject = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name, namespace, resourceVersion: String(++this.rv), uid: `uid-${this.rv}`, annotations: { ...annotations, 'unrelated.example.com/note': 'x' } },
    };
    this.objects.set(key, object);
    if (!options.silent) this.emit({ rv: this.rv, type, object });
  }

  /** Pods are only listed (for the inventory's pod counts). */
  private readonly pods: { namespace: string; name: string; serviceAccountName: string }[] = [];

  putPod(namespace: string, name: string, serviceAccountName: string): void {
    this.pods.push({ namespace, name, serviceAccountName });
  }

  /**
   * Adds or relabels a Namespace. Without `notify` its watch says nothing (a
   * cache miss, for the live GET); with it the open Namespace watches get the
   * ADDED or MODIFIED event.
   */
  putNamespace(name: string, labels: Record<string, string> = {}, options: { notify?: boolean } = {}): void {
    const type = this.namespaceLabels.has(name) ? 'MODIFIED' : 'ADDED';
    this.namespaceLabels.set(name, labels);
    if (!options.notify) return;
    this.rv++;
    for (const res of this.namespaceWatchers) res.write(`${JSON.stringify({ type, object: this.namespaceObject(name, labels) })}\n`);
  }

  deleteServiceAccount(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const object = this.objects.get(key);
    if (!object) return;
    this.objects.delete(key);
    this.emit({ rv: ++this.rv, type: 'DELETED', object: { ...object, metadata: { ...object.metadata, resourceVersion: String(this.rv) } } });
  }

  /** Adds or replaces a Secret; `data` values are plain text (stored base64 as the API does). */
  putSecret(namespace: string, name: string, data: Record<string, string>): void {
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
    const resourceVersion = String(++this.rv);
    this.store('', 'secrets').set(`${namespace}/${name}`, { resourceVersion, object: { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, resourceVersion }, type: 'Opaque', data: encoded } });
  }

  /** A Secret's data as plain text, or undefined. */
  secret(namespace: string, name: string): Record<string, string> | undefined {
    const data = this.store('', 'secrets').get(`${namespace}/${name}`)?.object.data as Record<string, string> | undefined;
    return data ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) : undefined;
  }

  /** A Mutating- or ValidatingWebhookConfiguration with `webhooks` named hooks and no CA bundle. */
  putWebhookConfiguration(kind: 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration', name: string, webhooks: string[]): void {
    const resourceVersion = String(++this.rv);
    this.store('admissionregistration.k8s.io', `${kind.toLowerCase()}s`).set(`/${name}`, {
      resourceVersion,
      object: {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind,
        metadata: { name, resourceVersion },
        webhooks: webhooks.map((hook) => ({ name: hook, admissionReviewVersions: ['v1'], sideEffects: 'None', clientConfig: { url: 'https://127.0.0.1/x' } })),
      },
    });
  }

  /** The CA bundles (decoded) of a webhook configuration's hooks, or undefined when it does not exist. */
  caBundles(kind: 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration', name: string): string[] | undefined {
    const stored = this.store('admissionregistration.k8s.io', `${kind.toLowerCase()}s`).get(`/${name}`);
    const hooks = stored?.object.webhooks as { clientConfig: { caBundle?: string } }[] | undefined;
    return hooks?.map((h) => Buffer.from(h.clientConfig.caBundle ?? '', 'base64').toString('utf8'));
  }

  /** Ends every open watch stream (the server closing them, or a cut connection). */
  cutWatches(): void {
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
  }

  /** Forgets the event history: a watch from any earlier resourceVersion now gets 410 Gone. */
  compact(): void {
    this.oldestWatchableRv = this.rv;
    this.events.length = 0;
  }

  /** Changes state without any event and compacts, so only a relist can see it. */
  replaceAllSilently(objects: { namespace: string; name: string; annotations?: Record<string, string> }[]): void {
    this.objects.clear();
    for (const o of objects) this.putServiceAccount(o.namespace, o.name, o.annotations ?? {}, { silent: true });
    this.compact();
  }

  watcherCount(): number {
    return this.watchers.size;
  }

  private emit(event: WatchEvent): void {
    this.events.push(event);
    for (const w of this.watchers) this.send(w, event);
  }

  private send(w: { res: ServerResponse; sent: number }, event: WatchEvent): void {
    if (event.rv <= w.sent) return;
    w.sent = event.rv;
    w.res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const served = this.perSocket.get(req.socket) ?? 0;
    this.perSocket.set(req.socket, served + 1);
    const bearer = /^Bearer (.*)$/.exec(req.headers.authorization ?? '')?.[1];
    const peer = (req.socket as TLSSocket).getPeerCertificate?.();
    const call: KubeCall = {
      ...describeKubeRequest(req.method ?? 'GET', url),
      at: performance.now(),
      reusedConnection: served > 0,
      ...(bearer !== undefined ? { bearer } : {}),
      ...(peer?.subject?.CN ? { clientCommonName: String(peer.subject.CN) } : {}),
    };
    this.calls.push(call);
    res.on('finish', () => {
      call.answeredAt = performance.now();
      call.status = res.statusCode;
    });
    if (this.interceptors.some((intercept) => intercept(call, req, res))) return;
    if (this.acceptedTokens && !(bearer !== undefined && this.acceptedTokens.has(bearer))) return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    if (this.down) return this.status(res, 503, 'ServiceUnavailable', 'the server is down');
    if (url.pathname === '/apis/wgpolicyk8s.io/v1alpha2') {
      if (!this.policyReportsInstalled) return this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
      return this.json(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'wgpolicyk8s.io/v1alpha2', resources: [{ name: 'policyreports', singularName: 'policyreport', namespaced: true, kind: 'PolicyReport', verbs: ['create', 'delete', 'get', 'list', 'update', 'watch'] }] });
    }
    if (STORED_RESOURCES.has(`${call.apiGroup}/${call.resource}`)) {
      if (call.resource === 'policyreports' && !this.policyReportsInstalled) return this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
      return this.handleStored(req, res, call, url);
    }
    if (url.pathname === '/version') return this.json(res, 200, { major: '1', minor: '31', gitVersion: this.gitVersion });
    if (url.pathname === '/api/v1/serviceaccounts') {
      return url.searchParams.get('watch') === 'true' ? this.watch(url, res) : this.list(url, res);
    }
    if (url.pathname === '/api/v1/pods') {
      const items = this.pods.map((p) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: p.namespace }, spec: { serviceAccountName: p.serviceAccountName, containers: [{ name: 'c', image: 'i' }] } }));
      return this.json(res, 200, { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: String(this.rv) }, items });
    }
    if (url.pathname === '/api/v1/namespaces') {
      if (url.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        // Only putNamespace(…, { notify: true }) sends anything on it.
        const idle = { res, sent: Number.MAX_SAFE_INTEGER };
        this.watchers.add(idle);
        this.namespaceWatchers.add(res);
        res.on('close', () => {
          this.watchers.delete(idle);
          this.namespaceWatchers.delete(res);
        });
        return;
      }
      return this.json(res, 200, { apiVersion: 'v1', kind: 'NamespaceList', metadata: { resourceVersion: String(this.rv) }, items: [...this.namespaceLabels].map(([n, labels]) => this.namespaceObject(n, labels)) });
    }
    const nsMatch = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url.pathname);
    if (nsMatch && this.unreadableNamespaces.has(nsMatch[1] ?? '')) return this.status(res, 503, 'ServiceUnavailable', 'etcdserver: request timed out');
    if (nsMatch) {
      const labels = this.namespaceLabels.get(nsMatch[1] ?? '');
      if (!labels) return this.status(res, 404, 'NotFound', `namespaces "${nsMatch[1]}" not found`);
      return this.json(res, 200, this.namespaceObject(nsMatch[1] ?? '', labels));
    }
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)$/.exec(url.pathname);
    if (match) {
      if (this.getDelayMs > 0) await new Promise((r) => setTimeout(r, this.getDelayMs));
      const object = this.objects.get(`${match[1]}/${match[2]}`);
      if (!object) return this.status(res, 404, 'NotFound', `serviceaccounts "${match[2]}" not found`);
      return this.json(res, 200, object);
    }
    return this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
  }

  /** The objects of one resource, `<namespace>/<name>` → object ('' namespace for cluster-scoped ones). */
  store(apiGroup: string, resource: string): Map<string, StoredObject> {
    const key = `${apiGroup}/${resource}`;
    let store = this.stored.get(key);
    if (!store) this.stored.set(key, (store = new Map()));
    return store;
  }

  /** A stored object (PolicyReport, Event, Lease, …) as the API server would return it, or undefined. */
  object(apiGroup: string, resource: string, namespace: string, name: string): Record<string, unknown> | undefined {
    return this.store(apiGroup, resource).get(`${namespace}/${name}`)?.object;
  }

  /** Every stored object of a resource (in one namespace when given). */
  storedObjects(apiGroup: string, resource: string, namespace?: string): Record<string, unknown>[] {
    return [...this.store(apiGroup, resource)].filter(([key]) => namespace === undefined || key.startsWith(`${namespace}/`)).map(([, o]) => o.object);
  }

  /** Replaces a stored object as another writer would (a new resourceVersion). */
  putObject(apiGroup: string, resource: string, namespace: string, object: Record<string, unknown>): void {
    const metadata = (object.metadata ?? {}) as Record<string, unknown>;
    const resourceVersion = String(++this.rv);
    this.store(apiGroup, resource).set(`${namespace}/${String(metadata.name)}`, { resourceVersion, object: { ...object, metadata: { ...metadata, namespace, resourceVersion } } });
  }

  /** GET, list, POST (create), PUT (replace, resourceVersion checked) and DELETE (preconditions checked) of stored objects. */
  private async handleStored(req: IncomingMessage, res: ServerResponse, call: KubeCall, url: URL): Promise<void> {
    const store = this.store(call.apiGroup, call.resource);
    const kind = call.resource;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    if (call.verb === 'list') {
      const byName = /^metadata\.name=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
      const items = [...store]
        .filter(([key, o]) => (call.namespace === undefined || key.startsWith(`${call.namespace}/`)) && (byName === undefined || (o.object.metadata as { name?: string }).name === byName))
        .map(([, o]) => o.object);
      return this.json(res, 200, { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: String(this.rv) }, items });
    }
    const metadata = (body.metadata ?? {}) as { name?: string; resourceVersion?: string };
    const name = call.name ?? metadata.name ?? '';
    const key = `${call.namespace ?? ''}/${name}`;
    if (call.verb !== 'get') this.beforeWrite?.(call);
    const current = store.get(key);
    if (call.verb === 'get') {
      if (!current) return this.status(res, 404, 'NotFound', `${kind} "${name}" not found`);
      return this.json(res, 200, current.object);
    }
    if (call.verb === 'delete') {
      if (!current) return this.status(res, 404, 'NotFound', `${kind} "${name}" not found`);
      const precondition = (body.preconditions as { resourceVersion?: string } | undefined)?.resourceVersion;
      if (precondition !== undefined && precondition !== current.resourceVersion) {
        return this.status(res, 409, 'Conflict', `Operation cannot be fulfilled on ${kind} "${name}": the ResourceVersion in the precondition (${precondition}) does not match the ResourceVersion in record (${current.resourceVersion}). The object might have been modified`);
      }
      store.delete(key);
      return this.json(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
    }
    if (call.verb === 'create' || call.verb === 'update') {
      if (call.verb === 'create' && current) return this.status(res, 409, 'AlreadyExists', `${kind} "${name}" already exists`);
      if (call.verb === 'update' && !current) return this.status(res, 404, 'NotFound', `${kind} "${name}" not found`);
      if (call.verb === 'update' && metadata.resourceVersion !== current?.resourceVersion) {
        return this.status(res, 409, 'Conflict', `Operation cannot be fulfilled on ${kind} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
      }
      const resourceVersion = String(++this.rv);
      const object = { ...body, metadata: { ...metadata, name, ...(call.namespace ? { namespace: call.namespace } : {}), resourceVersion } };
      store.set(key, { resourceVersion, object });
      return this.json(res, call.verb === 'create' ? 201 : 200, object);
    }
    return this.status(res, 405, 'MethodNotAllowed', `${call.verb} is not supported by the fake`);
  }

  private list(url: URL, res: ServerResponse): void {
    const all = [...this.objects.values()].sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
    const limit = Number(url.searchParams.get('limit') ?? 0) || all.length;
    const start = Number(url.searchParams.get('continue') ?? 0);
    const items = all.slice(start, start + limit);
    const next = start + limit < all.length ? String(start + limit) : undefined;
    this.json(res, 200, {
      apiVersion: 'v1',
      kind: 'ServiceAccountList',
      metadata: { resourceVersion: String(this.rv), ...(next ? { continue: next } : {}) },
      items,
    });
  }

  private watch(url: URL, res: ServerResponse): void {
    const from = Number(url.searchParams.get('resourceVersion') ?? 0);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders(); // kube-apiserver starts the stream at once
    if (from < this.oldestWatchableRv) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 } })}\n`);
      return;
    }
    const watcher = { res, sent: from };
    this.watchers.add(watcher);
    // kube-apiserver ends a watch after the timeoutSeconds it was asked for.
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeoutSeconds > 0 ? setTimeout(() => res.end(), timeoutSeconds * 1000) : undefined;
    res.on('close', () => {
      clearTimeout(timer);
      this.watchers.delete(watcher);
    });
    for (const event of this.events) this.send(watcher, event);
  }

  /** Sends an ERROR event carrying `status` on every open ServiceAccount watch (as kube-apiserver does for a failure other than 410, e.g. etcd unavailable). */
  sendWatchError(status: { code: number; reason: string; message: string }): void {
    for (const w of this.watchers) {
      if (w.sent === Number.MAX_SAFE_INTEGER) continue; // the idle Namespace watch
      w.res.write(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', ...status } })}\n`);
    }
  }

  private namespaceObject(name: string, labels: Record<string, string>): unknown {
    return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, resourceVersion: String(this.rv), labels: { 'kubernetes.io/metadata.name': name, ...labels } } };
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    this.json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  }
}
