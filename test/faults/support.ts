// Shared by the fault tests: reading /metrics, decoding answers, and the log
// hygiene checks (no secret values, no untrusted keys) run on every log.
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { applyPatch } from 'rfc6902';
import type { Test } from 'tap';
import { CLIENT_ID_ANNOTATION } from '../../src/identity/constants.js';
import { decodePatch, type Harness } from '../helpers/harness.js';
import { getText, post, type HttpResult } from '../helpers/https-client.js';
import { labelledPod, podReview } from '../helpers/reviews.js';

export const TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
/** The kubeconfig token FakeKubeApi writes. */
export const KUBE_TOKEN = 'fake-token-must-not-be-logged';

export interface ReviewResponse {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
  status?: { code: number; message: string };
  warnings?: string[];
}

/** The value of one sample in Prometheus text, or undefined when absent. Labels must match exactly. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '').split(',').filter((p) => p !== '').sort().join(',');
    if (have === want) return Number(match[3]);
  }
  return undefined;
}

/** The sum of the samples whose labels include `labels` (e.g. every trigger of one result). */
export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = new Set((match[2] ?? '').split(',').filter((p) => p !== ''));
    if (Object.entries(labels).every(([k, v]) => have.has(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}

export async function readMetric(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricValue((await getText(port, '/metrics')).body, name, labels) ?? 0;
}

/** POSTs a labelled pod using `serviceAccount` to /mutate-v1-pod of the harness server. */
export async function mutatePod(h: Harness, uid: string, serviceAccount: string): Promise<{ http: HttpResult; pod: Record<string, unknown>; response: ReviewResponse }> {
  const pod = labelledPod(`pod-${uid}`, serviceAccount);
  const http = await post(h.server.webhookPort, '/mutate-v1-pod', JSON.stringify(podReview(pod, { uid })), { ca: h.ca });
  return { http, pod, response: (http.json as { response: ReviewResponse }).response };
}

/** AZURE_CLIENT_ID as the answer's patch sets it in the first container, or undefined. */
export function injectedClientId(pod: Record<string, unknown>, response: ReviewResponse): string | undefined {
  if (!response.patch) return undefined;
  const patched = structuredClone(pod) as { spec: { containers: { env?: { name: string; value?: string }[] }[] } };
  const errors = applyPatch(patched, decodePatch(response)).filter((e) => e !== null);
  if (errors.length > 0) throw new Error(`the patch does not apply: ${String(errors[0])}`);
  return patched.spec.containers[0]?.env?.find((e) => e.name === 'AZURE_CLIENT_ID')?.value;
}

export function clientIdAnnotation(clientId: string): Record<string, string> {
  return { [CLIENT_ID_ANNOTATION]: clientId };
}

/**
 * No secret value in `logText`. PEM private keys are also checked line by
 * line, so a key cut into pieces (or one line of it quoted in an error) is
 * caught too.
 */
export function assertNoSecrets(t: Test, logText: string, secrets: Record<string, string>): void {
  t.ok(logText.length > 0, 'the log was captured');
  for (const [what, value] of Object.entries(secrets)) {
    if (value === '') throw new Error(`secret ${what} is empty: nothing would be checked`);
    const pieces = value.includes('-----BEGIN') ? value.split('\n').filter((l) => l.length >= 32 && !l.startsWith('-----')) : [value];
    const leaked = pieces.filter((p) => logText.includes(p) || logText.includes(JSON.stringify(p).slice(1, -1)));
    t.same(leaked, [], `${what} never appears in the logs`);
  }
}

/** Every key of every object in the log lines, at any depth (array items included). */
export function logKeys(lines: readonly unknown[]): Set<string> {
  const keys = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) {
        keys.add(k);
        walk(v);
      }
    }
  };
  lines.forEach(walk);
  return keys;
}

/** JSON log lines from a child process's output (other lines are ignored). */
export function parseLogLines(output: string): Record<string, unknown>[] {
  return output.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/**
 * A directory in the layout kubelet gives Secret and ConfigMap volumes
 * (its AtomicWriter): `..<timestamp>/` holds the files, `..data` points at it,
 * and each visible file is a symlink through `..data`. An update writes a new
 * timestamped directory, renames a new `..data_tmp` symlink over `..data`,
 * then removes the old directory.
 */
export function atomicWriterDir(dir: string): { adopt(names: string[]): void; write(files: Record<string, string>): void } {
  let generation = 0;
  let current = '';
  const write = (files: Record<string, string>): void => {
    const target = `..2024_01_01_00_00_${String(generation++).padStart(2, '0')}.000000001`;
    mkdirSync(join(dir, target), { recursive: true });
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, target, name), content);
    symlinkSync(target, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    if (current !== '') rmSync(join(dir, current), { recursive: true });
    current = target;
  };
  return {
    /** Moves plain files already in `dir` behind `..data`. */
    adopt(names: string[]): void {
      const files = Object.fromEntries(names.map((n) => [n, readFileSync(join(dir, n), 'utf8')]));
      for (const n of names) unlinkSync(join(dir, n));
      write(files);
      for (const n of names) symlinkSync(join('..data', n), join(dir, n));
    },
    write,
  };
}

/** CN of the issuer of the certificate the server presents (read without verification; empty when the handshake fails). */
export function servedIssuer(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().issuer?.CN ?? '';
      socket.destroy();
      resolve(Array.isArray(cn) ? (cn[0] ?? '') : cn);
    });
    socket.on('error', () => resolve(''));
  });
}

/** A well-formed AdmissionReview answer to the request with `uid`: the shape the API server accepts. */
export function isWellFormedAnswer(json: unknown, uid: string): boolean {
  const review = json as { apiVersion?: unknown; kind?: unknown; response?: { uid?: unknown; allowed?: unknown; patchType?: unknown; patch?: unknown } } | undefined;
  const response = review?.response;
  if (review?.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview' || response?.uid !== uid || typeof response.allowed !== 'boolean') return false;
  if (response.patch === undefined) return true;
  if (response.patchType !== 'JSONPatch' || typeof response.patch !== 'string') return false;
  try {
    return Array.isArray(JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')));
  } catch {
    return false;
  }
}
