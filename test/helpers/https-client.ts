import { request, Agent } from 'node:https';

export interface HttpResult {
  status: number;
  body: string;
  json: unknown;
}

/** POSTs over real TLS, trusting only the given CA(s); verification stays on. */
export function post(
  port: number,
  path: string,
  body: string | Buffer,
  options: { ca: string | string[]; contentType?: string; agent?: Agent; host?: string } ,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.host ?? '127.0.0.1',
        servername: 'localhost',
        port,
        path,
        method: 'POST',
        ca: options.ca,
        ...(options.agent ? { agent: options.agent } : {}),
        headers: { 'Content-Type': options.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function getText(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/**
 * The bound of a wait on something that will happen unless the code is
 * broken (a process starting, a watch reconnecting, a file reload): generous,
 * because the machines that run the suite are often busy, and free when the
 * condition holds early.
 */
export const GENEROUS_WAIT_MS = 60_000;

/**
 * Polls until `check` holds, failing after `timeoutMs` (for state that
 * changes asynchronously). The condition is what the test waits for; never
 * use the bound itself to assert a duration (docs/development.md).
 */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = GENEROUS_WAIT_MS, what: string | (() => string) = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
}
