// The slim API server client over real TLS (the stand-in's own CA trusted,
// verification on) against a loopback server scripted per test.
import type { IncomingMessage, ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { isConflict, isNotFound, KubeApiError } from '../../src/kube/api-error.js';
import { createListWatchSource, fetchServerGitVersion, listAll } from '../../src/kube/client.js';
import { existsSync, readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { bearerToken, type Authorization, type Credentials } from '../../src/kube/credentials.js';
import { WatchStalledError } from '../../src/kube/api-error.js';
import { createCertificateAuthority, issueClientCertificate } from '../helpers/client-certificate.js';
import { KubeRestClient } from '../../src/kube/rest-client.js';
import { startLoopbackTlsServer } from '../helpers/loopback-tls.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
  clientCommonName: string | undefined;
}

async function start(t: Test, handler: Handler, options: { prefix?: string; token?: string; credentials?: Credentials; clientCa?: string; onRetry?: (reason: string) => void } = {}) {
  const seen: Seen[] = [];
  const sockets = new WeakMap<object, boolean>();
  const server = await startLoopbackTlsServer('rest-client test CA', (req, res) => {
    if (req.url?.startsWith('/reset-reused') && sockets.get(req.socket)) {
      // The server closed the kept-alive connection just as the client reused it.
      req.socket.destroy();
      return;
    }
    sockets.set(req.socket, true);
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, contentType: req.headers['content-type'], body, clientCommonName: peer.subject?.CN === undefined ? undefined : String(peer.subject.CN) });
      handler(req, res, body);
    });
  }, options.clientCa ? { clientCa: options.clientCa } : {});
  const client = new KubeRestClient(
    {
      server: `https://127.0.0.1:${server.port}${options.prefix ?? ''}`,
      tls: { ca: Buffer.from(server.caCert), rejectUnauthorized: true },
      credentials: options.credentials ?? bearerToken(options.token ?? 'secret-token'),
      origin: 'test',
    },
    options.onRetry ? { onRetry: options.onRetry } : {},
  );
  t.teardown(async () => {
    client.close();
    await server.close();
  });
  return { client, seen, server };
}

const json = (res: ServerResponse, code: number, body: unknown): void => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const status = (res: ServerResponse, code: number, reason: string, message: string): void =>
  json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, message, code });

void t.test('GET sends the bearer token over verified TLS and parses the JSON answer', async (t) => {
  const { client, seen } = await start(t, (_req, res) => json(res, 200, { gitVersion: 'v1.32.1' }), { prefix: '/k8s/clusters/c-1' });
  t.equal(await fetchServerGitVersion(client), 'v1.32.1');
  t.match(seen[0], { method: 'GET', url: '/k8s/clusters/c-1/version', authorization: 'Bearer secret-token' }, 'the server URL path is kept as a prefix');
});

void t.test('a Status answer becomes a KubeApiError with its code, reason and message', async (t) => {
  const { client } = await start(t, (req, res) => {
    if (req.url?.includes('missing')) return status(res, 404, 'NotFound', 'serviceaccounts "missing" not found');
    if (req.url?.includes('plain')) {
      res.writeHead(502, 'Bad Gateway');
      return res.end('upstream connect error\nmore');
    }
    status(res, 403, 'Forbidden', 'serviceaccounts is forbidden: User "system:serviceaccount:wi:wi" cannot get resource');
  });
  const forbidden = await client.get('/api/v1/namespaces/a/serviceaccounts/b').catch((err: unknown) => err);
  t.ok(forbidden instanceof KubeApiError);
  t.match(forbidden, { code: 403, reason: 'Forbidden', message: 'GET /api/v1/namespaces/a/serviceaccounts/b: 403 Forbidden: serviceaccounts is forbidden: User "system:serviceaccount:wi:wi" cannot get resource' });
  t.notOk(String((forbidden as Error).message).includes('secret-token'), 'no credentials in the message');

  t.equal(await client.getOrUndefined('/api/v1/namespaces/a/serviceaccounts/missing'), undefined, 'NotFound is undefined');
  t.ok(isNotFound(await client.get('/api/v1/namespaces/a/serviceaccounts/missing').catch((err: unknown) => err)));
  t.match(await client.get('/plain').catch((err: unknown) => err), { code: 502, reason: 'Bad Gateway', message: 'GET /plain: 502 Bad Gateway: upstream connect error' }, 'a body that is not a Status: its first line');
});

void t.test('POST and PUT send the body as JSON; a 409 is a conflict', async (t) => {
  const { client, seen } = await start(t, (req, res, body) => {
    if (req.method === 'PUT') return status(res, 409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again');
    json(res, 201, { ...(JSON.parse(body) as object), metadata: { resourceVersion: '7' } });
  });
  t.same(await client.request('POST', '/api/v1/namespaces/wi/secrets', { body: { kind: 'Secret', data: { a: 'Yg==' } } }), { kind: 'Secret', data: { a: 'Yg==' }, metadata: { resourceVersion: '7' } });
  t.match(seen[0], { method: 'POST', contentType: 'application/json', body: '{"kind":"Secret","data":{"a":"Yg=="}}' });
  t.ok(isConflict(await client.request('PUT', '/api/v1/namespaces/wi/secrets/x', { body: {} }).catch((err: unknown) => err)));
});

void t.test('a request bounded by a signal rejects with the signal reason and is abandoned', async (t) => {
  const { client } = await start(t, () => undefined); // never answers
  const err = await client.getOrUndefined('/api/v1/namespaces/a/serviceaccounts/slow', AbortSignal.timeout(50)).catch((e: unknown) => e);
  t.equal((err as Error).name, 'TimeoutError', 'the name lookupServiceAccount reports as "no answer within"');
  const aborted = new AbortController();
  aborted.abort(new Error('stopped'));
  await t.rejects(client.get('/x', { signal: aborted.signal }), /stopped/, 'an aborted signal sends nothing');
});

void t.test('a list is read page by page with limit and continue', async (t) => {
  const { client, seen } = await start(t, (req, res) => {
    const url = new URL(req.url ?? '', 'https://x');
    const page = Number(url.searchParams.get('continue') ?? 0);
    json(res, 200, { kind: 'PodList', metadata: { resourceVersion: '9', ...(page < 2 ? { continue: String(page + 1) } : {}) }, items: [{ n: page }] });
  });
  const items: unknown[] = [];
  await listAll(client, '/api/v1/pods', (item) => items.push(item));
  t.same(items, [{ n: 0 }, { n: 1 }, { n: 2 }]);
  t.same(seen.map((s) => s.url), ['/api/v1/pods?limit=500', '/api/v1/pods?limit=500&continue=1', '/api/v1/pods?limit=500&continue=2']);
});

void t.test('a watch streams events split across chunks, and ends with the stream', async (t) => {
  let stream: ServerResponse | undefined;
  const { client, seen } = await start(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    stream = res;
  });
  const source = createListWatchSource(client, '/api/v1/serviceaccounts');
  const events: [string, unknown][] = [];
  let done: Error | null | undefined;
  await source.watch('42', (type, object) => events.push([type, object]), (err) => (done = err as Error | null));
  const url = new URL(seen[0]?.url ?? '', 'https://x');
  t.same([url.pathname, url.searchParams.get('resourceVersion'), url.searchParams.get('allowWatchBookmarks'), url.searchParams.get('watch')], ['/api/v1/serviceaccounts', '42', 'true', 'true']);
  const timeout = Number(url.searchParams.get('timeoutSeconds'));
  t.ok(timeout >= 300 && timeout < 600, `timeoutSeconds ${timeout} is within client-go's 5–10 minutes`);
  const line = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '43' } } });
  stream?.write(line.slice(0, 10));
  stream?.write(`${line.slice(10)}\n\n${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '50' } } })}\n`);
  await until(() => events.length === 2);
  t.same(events, [
    ['ADDED', { metadata: { name: 'a', resourceVersion: '43' } }],
    ['BOOKMARK', { metadata: { resourceVersion: '50' } }],
  ]);
  stream?.end();
  await until(() => done !== undefined);
  t.equal(done, null, 'a normal end is not an error');
});

void t.test('a watch from a compacted resourceVersion is rejected with 410; a cut or garbled stream ends with an error', async (t) => {
  let mode = 'gone';
  const streams: ServerResponse[] = [];
  const { client } = await start(t, (_req, res) => {
    if (mode === 'gone') return status(res, 410, 'Expired', 'too old resource version: 1 (900)');
    res.writeHead(200);
    res.flushHeaders();
    streams.push(res);
  });
  const err = await client.watch('/api/v1/namespaces', { resourceVersion: '1' }, () => undefined, () => undefined, 10_000).catch((e: unknown) => e);
  t.match(err, { code: 410, reason: 'Expired' }, 'the informer relists on this');

  mode = 'stream';
  const ended: (Error | null)[] = [];
  await client.watch('/api/v1/namespaces', {}, () => undefined, (e) => ended.push(e), 10_000);
  streams[0]?.socket?.destroy();
  await until(() => ended.length === 1);
  t.match(ended[0], Error, 'a cut connection is an error, not a normal end');

  const events: string[] = [];
  await client.watch('/api/v1/namespaces', {}, (type) => events.push(type), (e) => ended.push(e), 10_000);
  streams[1]?.write('{"type":"ADDED","object":{}}\n{not json\n{"type":"MODIFIED","object":{}}\n');
  await until(() => ended.length === 2);
  t.match(ended[1], /not JSON/);
  t.same(events, ['ADDED'], 'nothing after the garbled line');
});

void t.test('an idle watch is ended; an aborted one is silent', async (t) => {
  const streams: ServerResponse[] = [];
  const { client } = await start(t, (_req, res) => {
    res.writeHead(200);
    res.flushHeaders();
    streams.push(res);
  });
  const ended: (Error | null)[] = [];
  await client.watch('/api/v1/namespaces', {}, () => undefined, (e) => ended.push(e), 100);
  await until(() => ended.length === 1);
  t.match(ended[0], /the watch sent nothing for 0 s/);
  t.ok(ended[0] instanceof WatchStalledError, 'a WatchStalledError: the informer counts it as stalled');

  const handle = await client.watch('/api/v1/namespaces', {}, () => undefined, (e) => ended.push(e), 10_000);
  handle.abort();
  streams[1]?.end('{"type":"ADDED","object":{}}\n');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(ended.length, 1, 'no onDone after abort()');
});

void t.test('a client certificate from the credentials (an exec plugin) reaches a server that requires one', async (t) => {
  const clientCa = await createCertificateAuthority('API server client CA');
  const pair = await issueClientCertificate(clientCa, 'plugin-user');
  const fromPlugin: Credentials = { authorize: async () => ({ cert: pair.cert, key: pair.key }) };
  const { client, seen } = await start(t, (_req, res) => json(res, 200, { gitVersion: 'v1.33.0' }), { credentials: fromPlugin, clientCa: clientCa.cert });
  t.equal(await fetchServerGitVersion(client), 'v1.33.0', 'the handshake completed with the plugin\'s certificate');
  t.equal(seen[0]?.clientCommonName, 'plugin-user');
  t.equal(seen[0]?.authorization, undefined, 'no bearer token');
});

void t.test('429 and 5xx with Retry-After are sent again after the time asked; without it they fail at once', async (t) => {
  const retries: string[] = [];
  let answers = ['429', '503', 'ok'];
  const { client, seen } = await start(
    t,
    (_req, res) => {
      const next = answers.shift() ?? 'ok';
      if (next === '429') {
        res.setHeader('retry-after', '1');
        return status(res, 429, 'TooManyRequests', 'the server has received too many requests and has asked us to try again later');
      }
      if (next === '503') {
        res.setHeader('retry-after', '0');
        return status(res, 503, 'ServiceUnavailable', 'apiserver is shutting down');
      }
      if (next === '429-bare') return status(res, 429, 'TooManyRequests', 'no Retry-After');
      json(res, 200, { kind: 'ServiceAccount' });
    },
    { onRetry: (reason) => retries.push(reason) },
  );
  t.same(await client.get('/api/v1/namespaces/a/serviceaccounts/b'), { kind: 'ServiceAccount' });
  t.equal(seen.length, 3, 'three attempts');
  t.same(retries, ['throttled', 'server_error']);

  answers = ['429-bare'];
  await t.rejects(client.get('/x'), { code: 429 }, 'no Retry-After: not retried (client-go\'s checkWait)');
  t.equal(seen.length, 4);
});

void t.test('a wait longer than the caller allows ends with the caller\'s deadline, reporting the 429', async (t) => {
  const { client, seen } = await start(t, (_req, res) => {
    res.setHeader('retry-after', '30');
    status(res, 429, 'TooManyRequests', 'too many requests');
  });
  const err = await client.getOrUndefined('/api/v1/namespaces/a/serviceaccounts/b', AbortSignal.timeout(200)).catch((e: unknown) => e);
  t.match(err, { code: 429, reason: 'TooManyRequests' }, 'the last answer, not a bare timeout');
  t.equal(seen.length, 1, 'no second attempt after the deadline');
});

void t.test('a GET whose reused keep-alive connection is reset is sent again at once; a POST is not', async (t) => {
  const retries: string[] = [];
  const { client, seen } = await start(t, (_req, res) => json(res, 200, { ok: true }), { onRetry: (reason) => retries.push(reason) });
  await client.get('/warm'); // leaves a kept-alive connection in the pool
  t.same(await client.get('/reset-reused-get'), { ok: true }, 'answered on a new connection');
  t.same(retries, ['connection_reset']);
  t.same(seen.map((s) => s.url), ['/warm', '/reset-reused-get'], 'the reset attempt never reached the handler; the retry did');

  await client.get('/warm');
  await t.rejects(client.request('POST', '/reset-reused-post', { body: {} }), { code: 'ECONNRESET' }, 'not idempotent: the error is the caller\'s');
  t.same(retries, ['connection_reset']);
});

void t.test('a 401 reads the credentials again and sends the request once more with the new ones', async (t) => {
  // A token file: what authorize() returns changes only when refresh() makes it read the file again.
  let onDisk = 'new';
  let current = 'old';
  const refreshed: Authorization[] = [];
  const tokenFile: Credentials = {
    authorize: async () => ({ header: `Bearer ${current}` }),
    refresh: (used) => {
      refreshed.push(used);
      current = onDisk;
    },
  };
  const retries: string[] = [];
  const { client, seen } = await start(t, (req, res) => (req.headers.authorization === 'Bearer new' ? json(res, 200, { ok: true }) : status(res, 401, 'Unauthorized', 'Unauthorized')), {
    credentials: tokenFile,
    onRetry: (reason) => retries.push(reason),
  });
  t.same(await client.get('/x'), { ok: true });
  t.same(seen.map((s) => s.authorization), ['Bearer old', 'Bearer new']);
  t.same(refreshed, [{ header: 'Bearer old' }], 'told which credential was refused');
  t.same(retries, ['unauthorized']);

  // Revoked, and nothing new on disk: the 401 is the answer, after one refresh.
  current = 'revoked';
  onDisk = 'revoked';
  await t.rejects(client.get('/y'), { code: 401 });
  t.equal(seen.length, 3, 'not sent again with the same credential');
});

void t.test('close() ends requests in flight', async (t) => {
  const { client } = await start(t, () => undefined); // never answers
  const pending = client.get('/stuck').catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 20));
  client.close();
  t.match(await pending, /the API server client was closed/);
});

/** The kernel's view of a TCP connection from `localPort`: its timer kind (2 = keepalive) and seconds left (Linux /proc/net/tcp). */
function tcpTimer(localPort: number): { kind: number; seconds: number } | undefined {
  const hex = localPort.toString(16).toUpperCase().padStart(4, '0');
  const line = readFileSync('/proc/net/tcp', 'utf8').split('\n').find((l) => l.trim().split(/\s+/)[1]?.endsWith(`:${hex}`));
  const timer = line?.trim().split(/\s+/)[5]; // tr:tm->when
  if (!timer) return undefined;
  const [kind, when] = timer.split(':');
  return { kind: parseInt(kind ?? '', 16), seconds: parseInt(when ?? '', 16) / 100 };
}

void t.test('watch connections have TCP keepalive, so the kernel probes a silent peer', { skip: existsSync('/proc/net/tcp') ? false : 'needs Linux /proc/net/tcp' }, async (t) => {
  let clientPort = 0;
  const { client } = await start(t, (req, res) => {
    clientPort = req.socket.remotePort ?? 0;
    res.writeHead(200);
    res.flushHeaders();
  });
  const handle = await client.watch('/api/v1/namespaces', {}, () => undefined, () => undefined, 60_000);
  t.teardown(() => handle.abort());
  const timer = tcpTimer(clientPort);
  t.equal(timer?.kind, 2, 'the keepalive timer runs on the idle watch connection');
  t.ok(timer !== undefined && timer.seconds > 20 && timer.seconds <= 30, `first probe after at most 30 s of silence (${timer?.seconds} s left)`);
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error('condition never held');
}
