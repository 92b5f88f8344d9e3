import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { describeFsError } from '../util/fs-error.js';
import { watchFile, type FileWatch } from '../util/watch-file.js';
import { parsePolicy, type PolicySpec } from './schema.js';

export interface PolicyFileOptions {
  readonly path: string;
  readonly log: Logger;
  /** Counts reloads by result (metrics). */
  readonly onReload?: (result: 'loaded' | 'unchanged' | 'error') => void;
  readonly pollMs?: number;
  readonly debounceMs?: number;
}

/**
 * `--policy FILE`, reloaded when it changes. A file that does not parse or
 * validate keeps the last good policy in force, is logged with every bad
 * field, and is counted; the server does not start without a first good one.
 */
export class PolicyFile {
  private current: PolicySpec | undefined;
  private lastText: string | undefined;
  private watcher: FileWatch | undefined;
  private lastError: string | undefined;
  private readonly listeners = new Set<(policy: PolicySpec) => void>();

  constructor(private readonly options: PolicyFileOptions) {}

  /** Calls `listener` with each new policy put in force (not the first); returns the unsubscribe. */
  subscribe(listener: (policy: PolicySpec) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Loads the first policy; rejects when it is bad, with one line naming the
   * file and every bad field (no `cause`: it would only repeat the line).
   */
  async start(): Promise<PolicySpec> {
    let text: string;
    try {
      text = await readFile(this.options.path, 'utf8');
    } catch (err) {
      throw new AppError('WIA_ERR_POLICY_INVALID', `--policy ${this.options.path}: cannot read: ${describeFsError(err)}`);
    }
    const parsed = parsePolicy(text, this.options.path);
    if (!parsed.ok) throw new AppError('WIA_ERR_POLICY_INVALID', `--policy ${parsed.error}; fix the file and start again`);
    this.current = parsed.policy.spec;
    this.lastText = text;
    this.watcher = watchFile(this.options.path, () => void this.reload(), {
      ...(this.options.pollMs !== undefined ? { pollMs: this.options.pollMs } : {}),
      ...(this.options.debounceMs !== undefined ? { debounceMs: this.options.debounceMs } : {}),
    });
    return this.current;
  }

  policy(): PolicySpec | undefined {
    return this.current;
  }

  /** The error of the last rejected edit, while it is still on disk. */
  pendingError(): string | undefined {
    return this.lastError;
  }

  close(): void {
    this.watcher?.close();
  }

  async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.options.path, 'utf8');
    } catch (err) {
      // Forget the text: restoring the same good file must clear the error
      // (and log the recovery), or the next identical failure goes unreported.
      this.lastText = undefined;
      this.reject(`cannot read ${this.options.path}: ${describeFsError(err)}`);
      return;
    }
    if (text === this.lastText) {
      this.options.onReload?.('unchanged');
      return;
    }
    const parsed = parsePolicy(text, this.options.path);
    if (!parsed.ok) {
      this.lastText = text;
      this.reject(parsed.error);
      return;
    }
    this.current = parsed.policy.spec;
    this.lastText = text;
    this.lastError = undefined;
    this.options.onReload?.('loaded');
    this.options.log.info({ path: this.options.path, rules: parsed.policy.spec.rules.length }, 'policy loaded');
    for (const listener of this.listeners) listener(parsed.policy.spec);
  }

  private reject(error: string): void {
    if (error === this.lastError) return;
    this.lastError = error;
    this.options.onReload?.('error');
    this.options.log.warn({ path: this.options.path, error }, 'policy rejected, keeping the last good policy');
  }
}
