import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isNotFound, toKubeApiError } from './api-error.js';
import type { Authorization } from './credentials.js';
import type { KubeConnection } from './kubeconfig.js';

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly signal?: AbortSignal;
}

export interface WatchHandle {
  /** Ends the watch; `onDone` is not called after this. */
  abort(): void;
}

/** Bound on a request without a signal of its own, so a stalled API server cannot hang a caller forever. */
const REQUEST_TIMEOUT_MS = 60_000;

/**
 * The few API server calls the webhook makes, as JSON over HTTPS with a
 * keep-alive agent: single requests, and watches read as a stream of JSON
 * lines (`{"type": ..., "object": ...}`). Non-2xx answers reject with a
 * KubeApiError carrying the Status object's code, reason and message.
 *
 * Written for this server instead of @kubernetes/client-node, whose
 * KubeConfig alone loads every generated model (about 80 MiB of resident
 * memory) for the handful of paths used here.
 */
export class KubeRestClient {
  private readonly agent: HttpAgent;
  private readonly secure: boolean;

  constructor(private readonly connection: KubeConnection) {
    this.secure = connection.server.startsWith('https:');
    const { ca, cert, key, rejectUnauthorized, servername } = connection.tls;
    this.agent = this.secure
      ? new HttpsAgent({ keepAlive: true, ca, cert, key, rejectUnauthorized, ...(servername ? { servername } : {}) })
      : new HttpAgent({ keepAlive: true });
  }

  /** For logs: where the connection came from (never credentials). */
  get origin(): string {
    return this.connection.origin;
  }

  /** One request; resolves the parsed JSON body of a 2xx answer. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<unknown> {
    const signal = options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) : AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    signal.throwIfAborted();
    const authorization = await this.connection.credentials.authorize();
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body), 'utf8');
    const headers: OutgoingHttpHeaders = payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {};
    const answer = await new Promise<{ status: number; statusText: string; body: string }>((resolve, reject) => {
      const req = this.open(method, path, options.query, headers, authorization);
      const onAbort = (): void => {
        req.destroy();
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const fail = (err: Error): void => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      };
      req.on('error', fail);
      req.on('response', (res) => {
        res.on('error', fail);
        readBody(res).then((body) => {
          signal.removeEventListener('abort', onAbort);
          resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body });
        }, fail);
      });
      req.end(payload);
    });
    if (answer.status < 200 || answer.status > 299) throw toKubeApiError(method, path, answer.status, answer.statusText, answer.body);
    try {
      return JSON.parse(answer.body) as unknown;
    } catch (err) {
      throw new Error(`${method} ${path}: the API server answered ${answer.status} with a body that is not JSON`, { cause: err });
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
   * (`null`) or fails, including when nothing arrives for `idleTimeoutMs`.
   */
  async watch(
    path: string,
    query: Query,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err: Error | null) => void,
    idleTimeoutMs: number,
  ): Promise<WatchHandle> {
    const authorization = await this.connection.credentials.authorize();
    return new Promise<WatchHandle>((resolve, reject) => {
      const req = this.open('GET', path, { ...query, watch: true }, {}, authorization);
      let started = false;
      let ended = false;
      const end = (err: Error | null): void => {
        if (ended) return;
        ended = true;
        req.destroy();
        if (started) onDone(err);
        else reject(err ?? new Error(`GET ${path}: the watch ended before it started`));
      };
      req.setTimeout(idleTimeoutMs, () => end(new Error(`GET ${path}: the watch sent nothing for ${Math.round(idleTimeoutMs / 1000)} s`)));
      req.on('error', end);
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
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

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private open(method: string, path: string, query: Query | undefined, headers: OutgoingHttpHeaders, authorization: Authorization): ClientRequest {
    const url = new URL(`${this.connection.server}${path}`);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
    }
    const all: OutgoingHttpHeaders = { accept: 'application/json', 'user-agent': 'wi-admission', ...headers };
    if (authorization.header) all.authorization = authorization.header;
    const options = { method, headers: all, agent: this.agent, ...(authorization.cert ? { cert: authorization.cert, key: authorization.key } : {}) };
    return this.secure ? httpsRequest(url, options) : httpRequest(url, options);
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
