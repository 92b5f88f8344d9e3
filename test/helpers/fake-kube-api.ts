import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLoopbackTlsServer, type LoopbackTlsServer } from './loopback-tls.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface ServiceAccountObject {
  apiVersion: 'v1';
  kind: 'ServiceAccount';
  metadata: { name: string; namespace: string; resourceVersion: string; uid: string; annotations?: Record<string, string> };
}

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: ServiceAccountObject;
}

/**
 * A loopback stand-in for the parts of kube-apiserver the webhook uses:
 * `GET /version`, paged list and watch of `/api/v1/serviceaccounts`, and
 * `GET /api/v1/namespaces/{ns}/serviceaccounts/{name}`. It speaks the real
 * wire format, so the real @kubernetes/client-node code runs against it.
 */
export class FakeKubeApi {
  gitVersion = 'v1.31.4';
  /** Delay before answering single-object GETs (slow API server). */
  getDelayMs = 0;
  /** When true every request gets a 503 (API server down). */
  down = false;
  readonly requests: string[] = [];
  private server: LoopbackTlsServer | undefined;
  private readonly objects = new Map<string, ServiceAccountObject>();
  /** Namespaces: listed, read, and watched (the watch stays idle; set them before the server starts). */
  private readonly namespaceLabels = new Map<string, Record<string, string>>();
  private readonly events: WatchEvent[] = [];
  /** Watches from a resourceVersion older than this get 410 Gone. */
  private oldestWatchableRv = 0;
  private rv = 100;
  private readonly watchers = new Set<{ res: ServerResponse; sent: number }>();

  private caCert = '';

  /** Listens on 127.0.0.1 over TLS with a CA of its own, which the kubeconfig trusts. */
  async start(): Promise<number> {
    this.server = await startLoopbackTlsServer('fake kube-apiserver CA', (req, res) => void this.handle(req, res));
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

  /** Writes a kubeconfig for this server into `dir` and returns its path. */
  writeKubeconfig(dir: string): string {
    const path = join(dir, 'kubeconfig');
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

  putNamespace(name: string, labels: Record<string, string> = {}): void {
    this.namespaceLabels.set(name, labels);
  }

  deleteServiceAccount(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const object = this.objects.get(key);
    if (!object) return;
    this.objects.delete(key);
    this.emit({ rv: ++this.rv, type: 'DELETED', object: { ...object, metadata: { ...object.metadata, resourceVersion: String(this.rv) } } });
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
    if (this.down) return this.status(res, 503, 'ServiceUnavailable', 'the server is down');
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
        const idle = { res, sent: Number.MAX_SAFE_INTEGER };
        this.watchers.add(idle);
        res.on('close', () => this.watchers.delete(idle));
        return;
      }
      return this.json(res, 200, { apiVersion: 'v1', kind: 'NamespaceList', metadata: { resourceVersion: String(this.rv) }, items: [...this.namespaceLabels].map(([n, labels]) => this.namespaceObject(n, labels)) });
    }
    const nsMatch = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url.pathname);
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
    res.on('close', () => this.watchers.delete(watcher));
    for (const event of this.events) this.send(watcher, event);
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
