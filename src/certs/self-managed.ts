import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** Where the CA and serving pair live (a Secret) and where the CA bundle goes (the webhook configurations). */
export interface CertificateStore {
  /** The Secret's data (decoded) and resourceVersion, or undefined when it does not exist. */
  readSecret(): Promise<{ data: Readonly<Record<string, string>>; resourceVersion: string } | undefined>;
  /** Creates (no resourceVersion) or replaces it; 'conflict' when another writer got there first. */
  writeSecret(data: Readonly<Record<string, string>>, resourceVersion: string | undefined): Promise<'written' | 'conflict'>;
  /** Writes the CA (PEM) into every webhook of the configurations. */
  injectCaBundle(caPem: string): Promise<void>;
}

export interface SelfManagedOptions {
  readonly store: CertificateStore;
  /** The directory the server reads tls.crt and tls.key from. */
  readonly dir: string;
  /** DNS names and IP addresses the serving certificate must cover. */
  readonly hosts: readonly string[];
  readonly log: Logger;
  /** Renew when the certificate expires within this long. Default 30 days. */
  readonly renewBeforeMs?: number;
  /** How often to re-check the Secret and the CA bundle (a GitOps tool may wipe it). Default 10 minutes. */
  readonly checkIntervalMs?: number;
  readonly now?: () => number;
}

/**
 * `--cert-mode self`: the server manages its own certificates, as upstream's
 * cert-controller does, without racing replicas. Each pass reads the Secret;
 * if it is missing, invalid or due for renewal it writes a new CA and
 * serving pair with optimistic concurrency (a conflict means another replica
 * won: re-read and use its pair), writes the pair to disk for the server's
 * key pair watcher, and writes the CA bundle into the webhook configurations.
 * Ready once a pass has completed.
 */
export class SelfManagedCertificates {
  private ready = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;

  constructor(private readonly options: SelfManagedOptions) {}

  isReady(): boolean {
    return this.ready;
  }

  /** Runs a first pass (errors are logged and retried) and schedules the next ones. */
  start(): void {
    void this.pass();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async pass(): Promise<void> {
    if (this.closed) return;
    let delay = this.options.checkIntervalMs ?? 600_000;
    try {
      await this.ensure();
      this.failures = 0;
    } catch (err) {
      this.failures++;
      delay = Math.min(delay, 1000 * 2 ** Math.min(this.failures, 6));
      this.options.log.warn({ err, attempt: this.failures }, 'self-managed certificate pass failed, retrying');
    }
    if (this.closed) return;
    this.timer = setTimeout(() => void this.pass(), delay);
    this.timer.unref();
  }

  /** One pass; throws when the Secret cannot be settled or the bundle not written. */
  async ensure(): Promise<void> {
    const { store, log } = this.options;
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await store.readSecret();
      let data = current?.data;
      const problem = data ? this.problemWith(data) : 'the Secret does not exist';
      if (problem) {
        const fresh = await this.generate();
        if ((await store.writeSecret(fresh, current?.resourceVersion)) === 'conflict') {
          log.info({ attempt: attempt + 1 }, 'another replica wrote the certificate Secret first, reading it again');
          continue;
        }
        log.info({ reason: problem }, 'certificate Secret written with a new CA and serving certificate');
        data = fresh;
      }
      if (!data) continue;
      await this.writeFiles(data);
      await store.injectCaBundle(data['ca.crt'] ?? '');
      this.ready = true;
      return;
    }
    throw new Error('the certificate Secret kept changing under this replica (5 conflicts)');
  }

  /** Why the stored pair cannot be used, or undefined when it can. */
  private problemWith(data: Readonly<Record<string, string>>): string | undefined {
    try {
      const ca = new X509Certificate(data['ca.crt'] ?? '');
      const cert = new X509Certificate(data['tls.crt'] ?? '');
      if (!cert.checkPrivateKey(createPrivateKey(data['tls.key'] ?? ''))) return 'tls.key does not match tls.crt';
      if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return 'tls.crt is not signed by ca.crt';
      const renewAt = Date.parse(cert.validTo) - (this.options.renewBeforeMs ?? 30 * 86_400_000);
      if ((this.options.now ?? Date.now)() >= renewAt) return `tls.crt expires ${cert.validTo}, within the renewal window`;
      if (Date.parse(ca.validTo) <= Date.parse(cert.validTo)) return 'ca.crt expires before tls.crt';
      const names = cert.subjectAltName ?? '';
      const missing = this.options.hosts.filter((h) => !names.split(', ').includes(isIP(h) ? `IP Address:${h}` : `DNS:${h}`));
      if (missing.length > 0) return `tls.crt does not cover ${missing.join(', ')}`;
      return undefined;
    } catch (err) {
      return `the stored certificates cannot be read: ${(err as Error).message}`;
    }
  }

  private async generate(): Promise<Record<string, string>> {
    // @peculiar/x509 (about 17 MiB resident) only when a pair is issued, not on every replica at start.
    const { createCertificateAuthority, issueServerCertificate } = await import('./issue.js');
    const ca = await createCertificateAuthority('wi-admission-ca', 3650);
    const dnsNames = this.options.hosts.filter((h) => !isIP(h));
    const ipAddresses = this.options.hosts.filter((h) => isIP(h));
    const server = await issueServerCertificate(ca, { dnsNames, ipAddresses, validDays: 365 });
    return { 'ca.crt': ca.cert, 'tls.crt': server.cert, 'tls.key': server.key };
  }

  /** Key first, each by rename, so the watcher never reads a half-written file. */
  private async writeFiles(data: Readonly<Record<string, string>>): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    for (const name of ['tls.key', 'tls.crt'] as const) {
      const target = join(this.options.dir, name);
      await writeFile(`${target}.tmp`, data[name] ?? '', { mode: 0o600 });
      await rename(`${target}.tmp`, target);
    }
  }
}
