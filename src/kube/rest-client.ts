import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isNotFound, toKubeApiError, WatchStalledError } from './api-error.js';
import { sameAuthorization, type Authorization } from './credentials.js';
import type { KubeConnection } from './kubeconfig.js';

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Bounds the whole request, retries and their waits included. */
  readonly signal?: AbortSignal;
}

export interface WatchHandle {
  /** Ends the watch; `onDone` is not called after this. */
  abort(): void;
}

/** Why a request was sent again (a metric label: a closed set). */
export type RetryReason = 'throttled' | 'server_error' | 'connection_reset' | 'unauthorized';

export interface KubeRestClientOptions {
  /** Called before each retry (metrics). */
  readonly onRetry?: (reason: RetryReason) => void;
}

/** Bound on a request without a signal of its own, so a stalled API server cannot hang a caller forever. */
const REQUEST_TIMEOUT_MS = 60_000;
/** client-go's default number of retries of one request. */
const MAX_RETRIES = 10;
/** client-go waits this long before retrying a GET whose fresh connection was reset (its artificial Retry-After: 1). */
const RESET_RETRY_WAIT_MS = 1000;
/**
 * Concurrent connections for single requests. Live reads on the admission
 * path wait for a free one rather than opening hundreds during a burst of
 * cache misses; watches have their own connections (WATCH_SOCKETS).
 */
const REQUEST_SOCKETS = 32;
const WATCH_SOCKETS = 16;
/** TCP keepalive probes on watch connections start after this much silence, so a dead peer is noticed by the kernel too. */
const WATCH_KEEPALIVE_MS = 30_000;

/** Network errors after which an idempotent request may be sent again (client-go's IsConnectionReset / IsProbableEOF). */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

interface Answer {
  readonly status: number;
  readonly statusText: string;
  readonly retryAfter: string | undefined;
  readonly body: string;
}

/**
 * The few API server calls the webhook makes, as JSON over HTTPS: single
 * requests on a bounded keep-alive pool, and watches read as a stream of
 * JSON lines (`{"type": ..., "object": ...}`) on connections of their own
 * with TCP keepalive. Non-2xx answers reject with a KubeApiError carrying the
 * Status object's code, reason and message.
 *
 * Retries follow client-go's `rest.Request`:
 * - a 429 or 5xx with `Retry-After` (API Priority and Fairness, an API
 *   server shutting down) is sent again after the time it asks for;
 * - a GET whose connection was reset is sent again: at once when the
 *   connection was a reused keep-alive one (the server closed it as we sent),
 *   after a second otherwise;
 * - a 401 makes the credentials read their source again (token file,
 *   plugin), and the request is sent once more if that gave a new credential.
 * At most ten retries, all within the request's signal: a caller's deadline
 * (such as `--sa-lookup-timeout`) bounds the waits too, and the error of the
 * last attempt is what the caller sees.
 *
 * Written for this server instead of @kubernetes/client-node, whose
 * KubeConfig alone loads every generated model (about 80 MiB of resident
 * memory) for the handful of paths used here.
 */
export class KubeRestClient {
  private readonly agent: HttpAgent;
  private readonly watchAgent: HttpAgent;
  private readonly secure: boolean;
  /** Aborted by close(): every request in flight ends with it. */
  private readonly closed = new AbortController();

  constructor(
    private readonly connection: KubeConnection,
    private readonly options: KubeRestClientOptions = {},
  ) {
    this.secure = connection.server.startsWith('https:');
    // Only the server's trust goes into the agents. Node's Agent spreads its
    // own options over each request's, so a `cert: undefined` here would wipe
    // the client certificate a credential plugin hands to a request.
    const { ca, rejectUnauthorized, servername } = connection.tls;
    const tls = { rejectUnauthorized, ...(ca ? { ca } : {}), ...(servername ? { servername } : {}) };
    this.agent = this.secure
      ? new HttpsAgent({ keepAlive: true, maxSockets: REQUEST_SOCKETS, ...tls })
      : new HttpAgent({ keepAlive: true, maxSockets: REQUEST_SOCKETS });
    this.watchAgent = this.secure ? new HttpsAgent({ maxSockets: WATCH_SOCKETS, ...tls }) : new HttpAgent({ maxSockets: WATCH_SOCKETS });
  }

  /** For logs: where the connection came from (never credentials). */
  get origin(): string {
    return this.connection.origin;
  }

  /** The namespace of the kubeconfig context, or of the pod in a cluster (see KubeConnection). */
  get namespace(): string | undefined {
    return this.connection.namespace;
  }

  /** One request, retried as described on the class; resolves the parsed JSON body of a 2xx answer. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<unknown> {
    const signal = AbortSignal.any([this.closed.signal, options.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS)]);
    signal.throwIfAborted();
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body), 'utf8');
    let refreshed = false;
    let lastError: Error | undefined;
    for (let retries = 0; ; retries++) {
      const authorization = await this.connection.credentials.authorize();
      let answer: Answer;
      try {
        answer = await this.send(method, path, options.query, payload, authorization, signal);
      } catch (err) {
        const wait = method === 'GET' && retries < MAX_RETRIES && !signal.aborted ? resetRetryWait(err) : undefined;
        if (wait === undefined) throw signal.aborted && lastError ? lastError : err;
        lastError = await this.pause('connection_reset', wait, signal, err as Error);
        continue;
      }
      if (answer.status >= 200 && answer.status <= 299) return parseJson(method, path, answer);
      const error = toKubeApiError(method, path, answer.status, answer.statusText, answer.body);
      if (answer.status === 401 && !refreshed) {
        // Once: a token file rotated or a plugin credential revoked since it was read.
        refreshed = true;
        if (await this.credentialsChanged(authorization)) {
          lastError = await this.pause('unauthorized', 0, signal, error);
          continue;
        }
      }
      const wait = retries < MAX_RETRIES ? retryAfterWait(answer) : undefined;
      if (wait === undefined) throw error;
      lastError = await this.pause(answer.status === 429 ? 'throttled' : 'server_error', wait, signal, error);
    }
  }

  get(path: string, options: Omit<RequestOptions, 'body'> = {}): Promise<unknown> {
    return this.request('GET', path, options);
  }

  /** GET one object; undefined when the API server says NotFound. */
  async getOrUndefined(path: string, signal?: AbortSignal): Promise<unknown> {
    try {
      return await this.get(path, signal ? { signal } : {});
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Starts a watch (`watch=true` is added to `query`). Resolves once the API
   * server has answered 200; rejects with a KubeApiError for any other
   * status (a 410 Gone when the resourceVersion is too old). Each event is
   * handed to `onEvent`; `onDone` is called once when the stream ends
   * (`null`) or fails. A stream that sends nothing at all (no event, no
   * bookmark, not its end) for `idleTimeoutMs` is a half-open connection: it
   * ends with a WatchStalledError.
   */
  async watch(
    path: string,
    query: Query,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err: Error | null) => void,
    idleTimeoutMs: number,
  ): Promise<WatchHandle> {
    this.closed.signal.throwIfAborted();
    const authorization = await this.connection.credentials.authorize();
    return new Promise<WatchHandle>((resolve, reject) => {
      const req = this.open('GET', path, { ...query, watch: true }, {}, authorization, this.watchAgent);
      let started = false;
      let ended = false;
      const onClose = (): void => end(new Error(`GET ${path}: the client was closed`));
      this.closed.signal.addEventListener('abort', onClose, { once: true });
      const end = (err: Error | null): void => {
        if (ended) return;
        ended = true;
        this.closed.signal.removeEventListener('abort', onClose);
        req.destroy();
        if (started) onDone(err);
        else reject(err ?? new Error(`GET ${path}: the watch ended before it started`));
      };
      req.on('socket', (socket) => socket.setKeepAlive(true, WATCH_KEEPALIVE_MS));
      req.setTimeout(idleTimeoutMs, () => end(new WatchStalledError(`GET ${path}: the watch sent nothing for ${Math.round(idleTimeoutMs / 1000)} s`)));
      req.on('error', end);
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          // The next attempt (the informer retries) reads the token file or runs the plugin again.
          if (res.statusCode === 401) this.connection.credentials.refresh?.(authorization);
          readBody(res).then(
            (body) => end(toKubeApiError('GET', path, res.statusCode ?? 0, res.statusMessage ?? '', body)),
            (err: Error) => end(err),
          );
          return;
        }
        started = true;
        resolve({
          abort: () => {
            ended = true;
            this.closed.signal.removeEventListener('abort', onClose);
            req.destroy();
          },
        });
        readLines(res, (line) => {
          let event: { type?: unknown; object?: unknown };
          try {
            event = JSON.parse(line) as typeof event;
          } catch {
            end(new Error(`GET ${path}: the watch sent a line that is not JSON`));
            return;
          }
          if (!ended) onEvent(String(event.type), event.object);
        });
        res.on('end', () => end(null));
        res.on('error', end);
        // A connection cut without a proper end.
        res.on('close', () => end(res.complete ? null : new Error(`GET ${path}: the watch connection closed`)));
      });
      req.end();
    });
  }

  /** Ends every request and watch in flight and closes the connections. */
  close(): void {
    this.closed.abort(new Error('the API server client was closed'));
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  /** Counts a retry and waits before it; resolves the failure that caused it, rejects with it when the signal ends the wait. */
  private async pause(reason: RetryReason, ms: number, signal: AbortSignal, failure: Error): Promise<Error> {
    this.options.onRetry?.(reason);
    await waitOrThrow(ms, signal, failure);
    return failure;
  }

  /** After a 401: the credentials read their source again; true when that gave something new to send. */
  private async credentialsChanged(used: Authorization): Promise<boolean> {
    const credentials = this.connection.credentials;
    if (!credentials.refresh) return false;
    credentials.refresh(used);
    return !sameAuthorization(used, await credentials.authorize());
  }

  /** One attempt: the status, Retry-After and body of whatever the API server answered. */
  private send(method: string, path: string, query: Query | undefined, payload: Buffer | undefined, authorization: Authorization, signal: AbortSignal): Promise<Answer> {
    const headers: OutgoingHttpHeaders = payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {};
    return new Promise<Answer>((resolve, reject) => {
      const req = this.open(method, path, query, headers, authorization, this.agent);
      const onAbort = (): void => {
        req.destroy();
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const fail = (err: Error): void => {
        signal.removeEventListener('abort', onAbort);
        // Node marks a request sent on a pooled connection: its reset is the keep-alive race, not a server failure.
        reject(Object.assign(err, { reusedSocket: req.reusedSocket }));
      };
      req.on('error', fail);
      req.on('response', (res) => {
        res.on('error', fail);
        readBody(res).then((body) => {
          signal.removeEventListener('abort', onAbort);
          const retryAfter = res.headers['retry-after'];
          resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, body });
        }, fail);
      });
      req.end(payload);
    });
  }

  private open(method: string, path: string, query: Query | undefined, headers: OutgoingHttpHeaders, authorization: Authorization, agent: HttpAgent): ClientRequest {
    const url = new URL(`${this.connection.server}${path}`);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
    }
    const all: OutgoingHttpHeaders = { accept: 'application/json', 'user-agent': 'wi-admission', ...headers };
    if (authorization.header) all.authorization = authorization.header;
    // A plugin's certificate, else the kubeconfig's; per request, so the pool keeps one connection set per certificate.
    const { cert, key } = authorization.cert ? authorization : { cert: this.connection.tls.cert, key: this.connection.tls.key };
    const options = { method, headers: all, agent, ...(cert && key ? { cert, key } : {}) };
    return this.secure ? httpsRequest(url, options) : httpRequest(url, options);
  }
}

/** Milliseconds to wait before sending a GET again after a network error, or undefined when it is not a reset. */
function resetRetryWait(err: unknown): number | undefined {
  const e = err as { code?: unknown; reusedSocket?: unknown };
  if (typeof e.code !== 'string' || !RESET_CODES.has(e.code)) return undefined;
  return e.reusedSocket === true ? 0 : RESET_RETRY_WAIT_MS;
}

/** client-go's checkWait: a 429 or 5xx that says when to come back (whole seconds); undefined when it may not be retried. */
function retryAfterWait(answer: Answer): number | undefined {
  if (answer.status !== 429 && answer.status < 500) return undefined;
  if (answer.retryAfter === undefined || !/^\d+$/.test(answer.retryAfter.trim())) return undefined;
  return Number(answer.retryAfter.trim()) * 1000;
}

/** Waits `ms`; when the signal ends the wait, the caller gets the failure that made it wait. */
function waitOrThrow(ms: number, signal: AbortSignal, failure: Error): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(failure);
    const timer = setTimeout(done, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(failure);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    function done(): void {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }
  });
}

function parseJson(method: string, path: string, answer: Answer): unknown {
  try {
    return JSON.parse(answer.body) as unknown;
  } catch (err) {
    throw new Error(`${method} ${path}: the API server answered ${answer.status} with a body that is not JSON`, { cause: err });
  }
}

/** The body as text, decoded chunk by chunk (no copy of the whole body in a Buffer: list pages run to hundreds of kilobytes). */
function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk));
    res.on('end', () => resolve(body));
    res.on('error', reject);
  });
}

/** Calls `onLine` for each non-empty line of a stream, as the lines complete. */
function readLines(res: IncomingMessage, onLine: (line: string) => void): void {
  let pending = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.trim() !== '') onLine(line);
      newline = pending.indexOf('\n');
    }
  });
  res.on('end', () => {
    if (pending.trim() !== '') onLine(pending);
  });
}
