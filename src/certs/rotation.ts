/**
 * The rules of self-managed certificate renewal across replicas, as a pure
 * function: what is stored, published and reported goes in, the one change
 * to make to the Secret comes out. No clock, no I/O; `self-managed.ts` reads
 * the inputs, performs the step and asks again until nothing is left to do.
 *
 * The invariant: every serving certificate any replica presents is signed
 * by a CA in the bundle the API server trusts. Hence:
 * - serving certificates are renewed from the same CA, which stays in the
 *   bundle (no trust change at all), when a third of their life is left;
 * - a CA is replaced in three steps when a third of its life is left:
 *   1. stage: a new CA is added to the bundle beside the current one;
 *   2. switch: once the bundle with both has been published in the webhook
 *      configurations for a while, the new CA becomes the signer and issues
 *      the serving certificate;
 *   3. drop: once every replica reports serving only certificates of the new
 *      CA, the old one leaves the bundle.
 */

/** One CA certificate, by its fingerprint. */
export interface CaInfo {
  readonly fingerprint: string;
  /** notAfter, ms since the epoch. */
  readonly notAfter: number;
}

/** What the certificate Secret holds, as parsed (see stored-certificates.ts). */
export interface StoredState {
  /** The CAs the API server is told to trust (`ca.crt`), in order. */
  readonly bundle: readonly CaInfo[];
  /** The CA that signs serving certificates; without its key (a Secret from an older release) it cannot sign. */
  readonly signer: (CaInfo & { readonly hasKey: boolean }) | undefined;
  /** A CA staged to replace the signer. */
  readonly next: CaInfo | undefined;
  /** The serving certificate, or undefined when it cannot be used (unreadable, or its key does not match). */
  readonly leaf: { readonly issuer: string | undefined; readonly notAfter: number; readonly coversHosts: boolean } | undefined;
}

/** What one replica said it may be serving: certificates of these CAs. */
export interface ReplicaReport {
  readonly replica: string;
  readonly cas: readonly string[];
  /** When it said so, ms since the epoch. */
  readonly at: number;
}

export interface RotationInput {
  readonly now: number;
  /** The Secret's state, or why there is none to use (missing, unreadable). */
  readonly stored: StoredState | { readonly problem: string };
  /** Fingerprints of the CAs in every hook's caBundle, or undefined when they could not be read. */
  readonly published: readonly string[] | undefined;
  /** When this replica first saw the staged CA in the published bundle. */
  readonly nextPublishedSince: number | undefined;
  readonly reports: readonly ReplicaReport[];
  readonly validity: { readonly leafMs: number; readonly caMs: number };
  readonly timing: RotationTiming;
}

export interface RotationTiming {
  /** How long the staged CA must have been published before any replica serves a certificate of it. */
  readonly propagationMs: number;
  /** A report older than this is from a replica that is gone. */
  readonly reportStaleMs: number;
}

export type RotationStep = 'create' | 'renew_leaf' | 'stage_ca' | 'switch_ca' | 'drop_old_ca';

export type RotationDecision = { readonly step: RotationStep; readonly reason: string } | { readonly step: undefined; readonly waiting?: string };

/** Checks, how often the Secret is read, derived from the serving certificate's lifetime: 10 minutes for a year, a second for 30 s. */
export function rotationTiming(leafMs: number): RotationTiming & { readonly checkIntervalMs: number } {
  const checkIntervalMs = Math.min(600_000, Math.max(1000, Math.round(leafMs / 30)));
  return { checkIntervalMs, propagationMs: checkIntervalMs, reportStaleMs: Math.max(3 * checkIntervalMs, 60_000) };
}

/** The next change to make to the Secret, if any. */
export function decideRotation(input: RotationInput): RotationDecision {
  const { stored } = input;
  if ('problem' in stored) return { step: 'create', reason: stored.problem };
  const unusable = replaceUnusableLeaf(input.now, stored);
  if (unusable) return unusable;
  const progress = advanceRotation(input, stored);
  if (progress.step !== undefined) return progress;
  const due = renewDue(input, stored);
  if (due) return due;
  return progress.waiting === undefined ? { step: undefined } : progress;
}

function inBundle(stored: StoredState, fingerprint: string | undefined): boolean {
  return stored.bundle.some((ca) => ca.fingerprint === fingerprint);
}

function signerCanSign(now: number, stored: StoredState): boolean {
  const { signer } = stored;
  return signer !== undefined && signer.hasKey && signer.notAfter > now && inBundle(stored, signer.fingerprint);
}

/** A serving certificate that cannot be served trusted (unreadable, expired, of a CA outside the bundle) is replaced first. */
function replaceUnusableLeaf(now: number, stored: StoredState): RotationDecision | undefined {
  const { leaf } = stored;
  let why: string;
  if (leaf === undefined) why = 'tls.crt cannot be used';
  else if (leaf.notAfter <= now) why = 'tls.crt has expired';
  else if (!inBundle(stored, leaf.issuer)) why = 'tls.crt is not signed by a CA in ca.crt';
  else return undefined;
  return signerCanSign(now, stored) ? { step: 'renew_leaf', reason: why } : { step: 'create', reason: `${why}, and no CA in the Secret can sign a new one` };
}

/** A CA replacement under way: switch once the staged CA is published long enough, drop the old once every replica moved. */
function advanceRotation(input: RotationInput, stored: StoredState): RotationDecision {
  const { now } = input;
  const { signer, next, leaf } = stored;
  if (next !== undefined) {
    const since = input.nextPublishedSince;
    if (input.published?.includes(next.fingerprint) && since !== undefined && now - since >= input.timing.propagationMs) {
      return { step: 'switch_ca', reason: 'the new CA has been in the published bundle long enough' };
    }
    return { step: undefined, waiting: 'the new CA is not yet published in the webhook configurations for long enough' };
  }
  const draining = signer !== undefined && stored.bundle.some((ca) => ca.fingerprint !== signer.fingerprint) && leaf?.issuer === signer.fingerprint;
  if (!draining) return { step: undefined };
  const behind = input.reports.filter((r) => now - r.at < input.timing.reportStaleMs && r.cas.some((ca) => ca !== signer.fingerprint));
  if (behind.length === 0) return { step: 'drop_old_ca', reason: 'every replica serves a certificate of the current CA' };
  return { step: undefined, waiting: `replicas still serving a certificate of an old CA: ${behind.map((r) => r.replica).join(', ')}` };
}

/** A CA or serving certificate in the last third of its life, or a serving certificate that misses a host. */
function renewDue(input: RotationInput, stored: StoredState): RotationDecision | undefined {
  const { now, validity } = input;
  const { signer, next, leaf } = stored;
  // The signer is replaced while it still has a third of its life, or at once when it has no key to sign with.
  if (next === undefined && (signer === undefined || !signer.hasKey || signer.notAfter - now < validity.caMs / 3)) {
    return { step: 'stage_ca', reason: signer?.hasKey ? 'the CA has less than a third of its lifetime left' : 'the Secret has no CA key to sign serving certificates with' };
  }
  if (leaf === undefined || signer === undefined) return undefined;
  const leafDue = leaf.notAfter - now < validity.leafMs / 3 || !leaf.coversHosts;
  // A signer with less than a third of a serving certificate's life left is being replaced: its certificate would be cut short.
  if (leafDue && signerCanSign(now, stored) && signer.notAfter - now > validity.leafMs / 3) {
    return { step: 'renew_leaf', reason: leaf.coversHosts ? 'tls.crt has less than a third of its lifetime left' : 'tls.crt does not cover every host' };
  }
  return undefined;
}
