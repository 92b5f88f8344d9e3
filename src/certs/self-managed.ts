import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { decideRotation, rotationTiming, type RotationDecision, type RotationStep, type StoredState } from './rotation.js';
import {
  bundleFingerprints,
  fingerprintOf,
  formatReport,
  issuerOf,
  joinPemCertificates,
  parseReports,
  parseStoredCertificates,
  SECRET_KEYS,
  splitPemCertificates,
} from './stored-certificates.js';

/** The certificate Secret as read: its data (decoded), annotations and resourceVersion. */
export interface StoredSecret {
  readonly data: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly resourceVersion: string;
}

/** Where the CAs and serving pair live (a Secret) and where the CA bundle goes (the webhook configurations). */
export interface CertificateStore {
  readSecret(): Promise<StoredSecret | undefined>;
  /** Creates (no resourceVersion) or replaces it; 'conflict' when another writer got there first. */
  writeSecret(data: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>, resourceVersion: string | undefined): Promise<'written' | 'conflict'>;
  /** The CA bundle (PEM) of every webhook of the configurations; rejects when the mutating configuration is missing. */
  readCaBundles(): Promise<readonly string[]>;
  /** Writes the bundle (PEM) into every webhook of the configurations. */
  injectCaBundle(caPem: string): Promise<void>;
}

export interface SelfManagedOptions {
  readonly store: CertificateStore;
  /** The directory the server reads tls.crt and tls.key from. */
  readonly dir: string;
  /** DNS names and IP addresses the serving certificate must cover. */
  readonly hosts: readonly string[];
  /** This replica's name in the reports of what each replica serves. */
  readonly replica: string;
  /** Lifetimes of serving certificates and CAs. */
  readonly validity: { readonly leafMs: number; readonly caMs: number };
  /** The server's key pair watcher: the certificate it presents now, and a reload once new files are written. */
  readonly serving: { certificate(): string | undefined; reload(): Promise<void> };
  /** Called for each change this replica made to the Secret (metrics). */
  readonly onStep?: (step: RotationStep) => void;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Passes that make no progress (the Secret keeps changing under us) give up after this many reads. */
const MAX_READS_PER_PASS = 12;
/** How long stop() gives a pass in flight, and then the removal of this replica's report. */
const STOP_REPORT_TIMEOUT_MS = 2000;

/**
 * `--cert-mode self`: the replicas keep their certificates in one Secret and
 * the CA bundle in the webhook configurations, renewing both without a
 * moment in which a certificate any replica serves is not trusted by the
 * API server (the rules are in rotation.ts).
 *
 * Each pass, every `checkIntervalMs` (derived from --cert-validity):
 * 1. read the Secret and the published bundle; while the rules ask for a
 *    change, make it with optimistic concurrency (a conflict means another
 *    replica wrote first: read again);
 * 2. publish the Secret's bundle into the webhook configurations;
 * 3. report, in an annotation on the Secret, which CAs this replica may be
 *    serving certificates of: the one it serves now and the one it is about
 *    to load. The report is written before the new files, with the
 *    resourceVersion read, so an old CA is never dropped between a replica
 *    reading the Secret and serving from it;
 * 4. write the serving pair to disk for the key pair watcher and reload it.
 * Ready once a pass has completed. stop() removes this replica's report, so
 * the next rotation does not wait for it.
 */
export class SelfManagedCertificates {
  private ready = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private running: Promise<void> | undefined;
  /** The staged CA, and when this replica first saw it in the published bundle. */
  private seenPublished: { fingerprint: string; since: number } | undefined;
  private readonly timing;
  private readonly now: () => number;

  constructor(private readonly options: SelfManagedOptions) {
    this.timing = rotationTiming(options.validity.leafMs);
    this.now = options.now ?? Date.now;
  }

  isReady(): boolean {
    return this.ready;
  }

  /** Runs a first pass (errors are logged and retried) and schedules the next ones. */
  start(): void {
    this.schedule(0);
  }

  /** Stops the passes and removes this replica's report, each given at most two seconds (the API client closes after this). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const bounded = (work: Promise<unknown>): Promise<unknown> => Promise.race([work, new Promise<void>((resolve) => setTimeout(resolve, STOP_REPORT_TIMEOUT_MS).unref())]);
    await bounded(this.running ?? Promise.resolve());
    if (!this.ready) return;
    await bounded(this.removeReport().catch((err: unknown) => this.options.log.debug({ err }, 'could not remove this replica\'s report')));
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass().finally(() => (this.running = undefined));
    }, delay);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    let delay = this.timing.checkIntervalMs;
    try {
      await this.ensure();
      this.failures = 0;
    } catch (err) {
      this.failures++;
      delay = Math.min(delay, 1000 * 2 ** Math.min(this.failures, 6));
      this.options.log.warn({ err, attempt: this.failures }, 'self-managed certificate pass failed, retrying');
    }
    this.schedule(delay);
  }

  /** One pass; throws when the Secret cannot be settled, the bundle not published or the files not written. */
  async ensure(): Promise<void> {
    for (let read = 0; read < MAX_READS_PER_PASS && !this.stopped; read++) {
      const round = await this.read();
      const { decision, secret, state } = round;
      if (decision.step !== undefined) {
        await this.change(decision.step, decision.reason, secret, state);
        continue;
      }
      if (decision.waiting) this.options.log.debug({ waiting: decision.waiting }, 'certificate rotation waiting');
      if (!secret || 'problem' in state) continue;
      if ((await this.settle(secret, round.published)) === 'read again') continue;
      this.ready = true;
      return;
    }
    if (!this.stopped) throw new Error(`the certificate Secret kept changing under this replica (${MAX_READS_PER_PASS} reads in one pass)`);
  }

  /** The Secret, the published bundle, and what the rules make of them. */
  private async read(): Promise<{ secret: StoredSecret | undefined; state: StoredState | { problem: string }; published: string[]; decision: RotationDecision }> {
    const { store } = this.options;
    const secret = await store.readSecret();
    const state = parseStoredCertificates(secret?.data, this.options.hosts);
    const published = intersection((await store.readCaBundles()).map(bundleFingerprints));
    const now = this.now();
    const next = 'problem' in state ? undefined : state.next?.fingerprint;
    if (next === undefined || !published.includes(next)) this.seenPublished = undefined;
    else if (this.seenPublished?.fingerprint !== next) this.seenPublished = { fingerprint: next, since: now };
    const decision = decideRotation({
      now,
      stored: state,
      published,
      nextPublishedSince: this.seenPublished?.since,
      reports: parseReports(secret?.annotations ?? {}),
      validity: this.options.validity,
      timing: this.timing,
    });
    return { secret, state, published, decision };
  }

  /** Makes `step`; a conflict (another replica wrote first) is left for the next read. */
  private async change(step: RotationStep, reason: string, secret: StoredSecret | undefined, state: StoredState | { problem: string }): Promise<void> {
    const data = await this.perform(step, secret?.data ?? {}, state);
    if ((await this.options.store.writeSecret(data, secret?.annotations ?? {}, secret?.resourceVersion)) === 'conflict') {
      this.options.log.info({ step }, 'another replica changed the certificate Secret first, reading it again');
      return;
    }
    this.options.log.info({ step, reason }, 'certificate Secret changed');
    this.options.onStep?.(step);
  }

  /** Publish the bundle, report what this replica may serve, then serve the stored pair; 'read again' after a change the next read must see. */
  private async settle(secret: StoredSecret, published: readonly string[]): Promise<'settled' | 'read again'> {
    const bundle = secret.data[SECRET_KEYS.bundle] ?? '';
    if (!sameSet(published, bundleFingerprints(bundle))) await this.options.store.injectCaBundle(bundle);
    if ((await this.report(secret)) === 'conflict') return 'read again';
    // A newly served certificate changes what to report.
    return (await this.serve(secret.data)) ? 'read again' : 'settled';
  }

  /** The Secret's data after `step`, with new certificates where it needs them. */
  private async perform(step: RotationStep, data: Readonly<Record<string, string>>, state: StoredState | { problem: string }): Promise<Record<string, string>> {
    // @peculiar/x509 (about 17 MiB resident) only when something is issued, not on every replica at start.
    const { createCertificateAuthority, issueServerCertificate, loadCertificateAuthority } = await import('./issue.js');
    const now = this.now();
    const { leafMs, caMs } = this.options.validity;
    const newCa = (): ReturnType<typeof createCertificateAuthority> =>
      createCertificateAuthority(`wi-admission-ca ${new Date(now).toISOString()}`, { notAfter: new Date(now + caMs) });
    const issueLeaf = async (ca: Awaited<ReturnType<typeof createCertificateAuthority>>): Promise<Record<string, string>> => {
      // Never past the CA's own end.
      const notAfter = new Date(Math.min(now + leafMs, ca.certificate.notAfter.getTime()));
      const pair = await issueServerCertificate(ca, { dnsNames: this.options.hosts.filter((h) => !isIP(h)), ipAddresses: this.options.hosts.filter((h) => isIP(h)), notAfter });
      return { [SECRET_KEYS.cert]: pair.cert, [SECRET_KEYS.key]: pair.key };
    };
    const without = (keys: readonly string[]): Record<string, string> => Object.fromEntries(Object.entries(data).filter(([k]) => !keys.includes(k)));
    switch (step) {
      case 'create': {
        const ca = await newCa();
        // CAs of the old bundle stay trusted (other replicas may serve their certificates) until every replica moved.
        const kept = 'problem' in state ? [] : splitPemCertificates(data[SECRET_KEYS.bundle] ?? '').filter((pem) => Date.parse(new X509Certificate(pem).validTo) > now);
        return {
          ...(await issueLeaf(ca)),
          [SECRET_KEYS.bundle]: joinPemCertificates([ca.cert, ...kept]),
          [SECRET_KEYS.signerCert]: ca.cert,
          [SECRET_KEYS.signerKey]: ca.key,
        };
      }
      case 'renew_leaf':
        return { ...data, ...(await issueLeaf(await loadCertificateAuthority(data[SECRET_KEYS.signerCert] ?? '', data[SECRET_KEYS.signerKey] ?? ''))) };
      case 'stage_ca': {
        const ca = await newCa();
        const bundle = joinPemCertificates([...splitPemCertificates(data[SECRET_KEYS.bundle] ?? ''), ca.cert]);
        return { ...data, [SECRET_KEYS.bundle]: bundle, [SECRET_KEYS.nextCert]: ca.cert, [SECRET_KEYS.nextKey]: ca.key };
      }
      case 'switch_ca': {
        const cert = data[SECRET_KEYS.nextCert] ?? '';
        const key = data[SECRET_KEYS.nextKey] ?? '';
        return { ...without([SECRET_KEYS.nextCert, SECRET_KEYS.nextKey]), ...(await issueLeaf(await loadCertificateAuthority(cert, key))), [SECRET_KEYS.signerCert]: cert, [SECRET_KEYS.signerKey]: key };
      }
      case 'drop_old_ca':
        return { ...data, [SECRET_KEYS.bundle]: joinPemCertificates([data[SECRET_KEYS.signerCert] ?? '']) };
    }
  }

  /** Writes this replica's report when it changed or is due for a refresh; 'conflict' when the Secret moved since it was read. */
  private async report(secret: StoredSecret): Promise<'unchanged' | 'written' | 'conflict'> {
    const cas = this.casServed(secret.data);
    const [key] = formatReport(this.options.replica, cas, 0);
    const mine = parseReports({ [key]: secret.annotations[key] ?? '' })[0];
    const now = this.now();
    // Refreshed three times within the staleness limit, so a live replica is never taken for a gone one.
    if (mine && sameSet(mine.cas, cas) && now - mine.at < this.timing.reportStaleMs / 3) return 'unchanged';
    const [, value] = formatReport(this.options.replica, cas, now);
    return (await this.options.store.writeSecret(secret.data, { ...secret.annotations, [key]: value }, secret.resourceVersion)) === 'conflict' ? 'conflict' : 'written';
  }

  /** The CAs of the certificate served now and of the one in the Secret, about to be served. */
  private casServed(data: Readonly<Record<string, string>>): string[] {
    const cas = splitPemCertificates(`${data[SECRET_KEYS.bundle] ?? ''}${data[SECRET_KEYS.signerCert] ?? ''}`).map((pem) => new X509Certificate(pem));
    const issuers = [this.options.serving.certificate(), data[SECRET_KEYS.cert]].flatMap((pem) => {
      if (!pem) return [];
      try {
        return [issuerOf(new X509Certificate(pem), cas) ?? fingerprintOf(new X509Certificate(pem))];
      } catch {
        return [];
      }
    });
    return [...new Set(issuers)];
  }

  /** Writes the pair to disk when it differs and has the watcher load it; true when the served certificate changed. */
  private async serve(data: Readonly<Record<string, string>>): Promise<boolean> {
    const cert = data[SECRET_KEYS.cert] ?? '';
    const key = data[SECRET_KEYS.key] ?? '';
    const onDisk = await readFile(join(this.options.dir, SECRET_KEYS.cert), 'utf8').catch(() => '');
    if (onDisk !== cert) await this.writeFiles(cert, key);
    if (this.options.serving.certificate() === cert) return false;
    await this.options.serving.reload();
    return this.options.serving.certificate() === cert;
  }

  /** Key first, each by rename, so the watcher never reads a half-written file. */
  private async writeFiles(cert: string, key: string): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    for (const [name, content] of [[SECRET_KEYS.key, key], [SECRET_KEYS.cert, cert]] as const) {
      const target = join(this.options.dir, name);
      await writeFile(`${target}.tmp`, content, { mode: 0o600 });
      await rename(`${target}.tmp`, target);
    }
  }

  private async removeReport(): Promise<void> {
    const secret = await this.options.store.readSecret();
    const [key] = formatReport(this.options.replica, [], 0);
    if (!secret || !(key in secret.annotations)) return;
    const annotations = Object.fromEntries(Object.entries(secret.annotations).filter(([k]) => k !== key));
    await this.options.store.writeSecret(secret.data, annotations, secret.resourceVersion);
  }
}

/** The fingerprints present in every one of the bundles (empty when there are none). */
function intersection(lists: readonly (readonly string[])[]): string[] {
  const [first, ...rest] = lists;
  return (first ?? []).filter((f) => rest.every((list) => list.includes(f)));
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((x) => right.has(x));
}
