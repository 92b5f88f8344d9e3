import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';

export const CERT_FILE = 'tls.crt';
export const KEY_FILE = 'tls.key';

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
  readonly notAfter: Date;
  /** SHA-256 of cert and key: tells a real change from a touched file. */
  readonly fingerprint: string;
}

/**
 * Reads and checks `tls.crt` and `tls.key`: both parse, the key matches the
 * certificate, and Node accepts them as a secure context. A half-written or
 * mismatched pair is an error, never served.
 */
export async function loadKeyPair(dir: string): Promise<KeyPair> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(join(dir, CERT_FILE), 'utf8'), readFile(join(dir, KEY_FILE), 'utf8')]);
  } catch (err) {
    throw new AppError('WIA_ERR_TLS_KEYPAIR_MISSING', `cannot read ${CERT_FILE} and ${KEY_FILE} in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error(`${KEY_FILE} does not belong to ${CERT_FILE}`);
    createSecureContext({ cert, key });
    const fingerprint = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
    return { cert, key, notAfter: new Date(x509.validTo), fingerprint };
  } catch (err) {
    throw new AppError('WIA_ERR_TLS_KEYPAIR_INVALID', `the key pair in ${dir} cannot be used: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * At start: `--webhook-cert-dir` must be a directory the server can read
 * (the Secret volume, or the directory cert-manager fills), and with
 * `create` (self-managed certificates) one it can make and write. A pair
 * missing from a readable directory is not an error here: it may still be
 * on its way, and the server waits for it, not ready.
 */
export async function checkCertificateDirectory(dir: string, options: { create: boolean }): Promise<void> {
  try {
    if (options.create) {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK);
    }
    await readdir(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code === 'ENOENT' ? 'it does not exist' : e.code === 'ENOTDIR' ? 'it is not a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new AppError('WIA_ERR_TLS_DIR_UNUSABLE', `--webhook-cert-dir ${dir} cannot be used: ${reason}`, { cause: err });
  }
}

export interface KeyPairWatcherOptions {
  readonly dir: string;
  readonly log: Logger;
  /** Called with each new valid pair (also the first one). */
  readonly onKeyPair: (pair: KeyPair) => void;
  readonly onResult?: (result: 'loaded' | 'unchanged' | 'error') => void;
  /** Safety net for missed file events (some volume types): re-check this often. */
  readonly pollIntervalMs?: number;
  readonly debounceMs?: number;
}

/**
 * Reloads the pair when the directory changes. Kubernetes updates Secret
 * volumes by swapping a `..data` symlink, so the directory is watched, not
 * the files (as the EKS pod identity webhook's file_watcher.go). Events are
 * debounced; a bad pair keeps the old one, is logged and counted, and is
 * retried with backoff until a good pair appears.
 */
export class KeyPairWatcher {
  private current: KeyPair | undefined;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  private loading: Promise<void> | undefined;

  constructor(private readonly options: KeyPairWatcherOptions) {}

  /** Loads the first pair (if present) and starts watching; never throws. */
  async start(): Promise<KeyPair | undefined> {
    await this.reload();
    try {
      this.watcher = watch(this.options.dir, { persistent: false }, () => this.schedule());
      this.watcher.on('error', (err) => this.options.log.warn({ err }, 'certificate directory watch failed; polling only'));
    } catch (err) {
      this.options.log.warn({ err, dir: this.options.dir }, 'cannot watch the certificate directory; polling only');
    }
    this.poll = setInterval(() => this.schedule(), this.options.pollIntervalMs ?? 10_000);
    this.poll.unref();
    return this.current;
  }

  keyPair(): KeyPair | undefined {
    return this.current;
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    clearTimeout(this.debounce);
    clearTimeout(this.retry);
    clearInterval(this.poll);
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(), this.options.debounceMs ?? 100);
    this.debounce.unref();
  }

  /** Serialised: a reload never overlaps another. */
  reload(): Promise<void> {
    const next = (this.loading ?? Promise.resolve()).then(() => this.reloadOnce());
    this.loading = next;
    return next;
  }

  private async reloadOnce(): Promise<void> {
    if (this.closed) return;
    try {
      const pair = await loadKeyPair(this.options.dir);
      this.failures = 0;
      clearTimeout(this.retry);
      if (pair.fingerprint === this.current?.fingerprint) {
        this.options.onResult?.('unchanged');
        return;
      }
      this.current = pair;
      this.options.onKeyPair(pair);
      this.options.onResult?.('loaded');
      this.options.log.info({ notAfter: pair.notAfter.toISOString() }, 'serving certificate loaded');
    } catch (err) {
      this.failures++;
      this.options.onResult?.('error');
      this.options.log.warn(
        { err, keptPrevious: this.current !== undefined, attempt: this.failures },
        this.current ? 'new certificate rejected, still serving the previous one' : 'no usable certificate yet',
      );
      // Files may be half-written: try again soon, backing off to a minute.
      clearTimeout(this.retry);
      this.retry = setTimeout(() => void this.reload(), Math.min(60_000, 250 * 2 ** Math.min(this.failures, 8)));
      this.retry.unref();
    }
  }
}
