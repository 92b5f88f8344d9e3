import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { CaInfo, ReplicaReport, StoredState } from './rotation.js';

/**
 * The keys of the certificate Secret. `ca.crt` is the bundle the webhook
 * configurations trust (one CA, two while one replaces the other); the
 * signing CA's key lives beside it so every replica can renew the serving
 * certificate without a new CA (as cert-controller keeps `ca.key`).
 */
export const SECRET_KEYS = {
  bundle: 'ca.crt',
  signerCert: 'signing-ca.crt',
  signerKey: 'signing-ca.key',
  nextCert: 'next-signing-ca.crt',
  nextKey: 'next-signing-ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
} as const;

/** Annotation prefix of the replicas' reports: `serving.wi-admission.io/<replica>: {"cas": [...], "at": "..."}`. */
export const REPORT_PREFIX = 'serving.wi-admission.io/';

/** A short, stable name for a CA certificate: the first 16 hex digits of its SHA-256 fingerprint. */
export function fingerprintOf(cert: X509Certificate): string {
  return cert.fingerprint256.replaceAll(':', '').slice(0, 16).toLowerCase();
}

/** The certificates of a PEM bundle, each as PEM. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)?.map((block) => `${block}\n`) ?? [];
}

/**
 * PEM certificates as one bundle, each block on lines of its own and ending
 * with a newline: Go's pem.Decode (the API server reading caBundle) does
 * not find a BEGIN line glued to the END line before it.
 */
export function joinPemCertificates(pems: readonly string[]): string {
  return pems.map((pem) => `${pem.trim()}\n`).join('');
}

/** Fingerprints of the CAs in a PEM bundle (unreadable blocks are skipped). */
export function bundleFingerprints(pem: string): string[] {
  return splitPemCertificates(pem).flatMap((block) => {
    try {
      return [fingerprintOf(new X509Certificate(block))];
    } catch {
      return [];
    }
  });
}

/** The fingerprint of the CA in `cas` that signed `cert`, or undefined. */
export function issuerOf(cert: X509Certificate, cas: readonly X509Certificate[]): string | undefined {
  const issuer = cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  return issuer && fingerprintOf(issuer);
}

/**
 * The Secret's data as the rotation rules see it. A missing Secret or an
 * unreadable bundle is a problem (start afresh); a serving certificate that
 * cannot be used only leaves `leaf` undefined, so the CAs other replicas may
 * still be serving certificates of stay trusted while it is replaced.
 */
export function parseStoredCertificates(data: Readonly<Record<string, string>> | undefined, hosts: readonly string[]): StoredState | { problem: string } {
  if (!data) return { problem: 'the Secret does not exist' };
  const bundle = readCertificates(data[SECRET_KEYS.bundle] ?? '');
  if (bundle.length === 0) return { problem: `${SECRET_KEYS.bundle} holds no readable CA certificate` };
  const signer = readCa(data[SECRET_KEYS.signerCert], data[SECRET_KEYS.signerKey]);
  const next = readCa(data[SECRET_KEYS.nextCert], data[SECRET_KEYS.nextKey]);
  const leaf = readLeaf(data[SECRET_KEYS.cert], data[SECRET_KEYS.key], [...bundle, ...(signer ? [signer.cert] : [])], hosts);
  // A Secret from a release before the signing CA was stored: the bundle's CA that issued tls.crt signs, without a key.
  const legacySigner = !signer && leaf?.issuer ? bundle.find((ca) => fingerprintOf(ca) === leaf.issuer) : undefined;
  return {
    bundle: bundle.map(caInfo),
    signer: signer ? { ...caInfo(signer.cert), hasKey: signer.hasKey } : legacySigner ? { ...caInfo(legacySigner), hasKey: false } : undefined,
    next: next?.hasKey ? caInfo(next.cert) : undefined,
    leaf,
  };
}

/** The reports in the Secret's annotations; malformed ones are ignored. */
export function parseReports(annotations: Readonly<Record<string, string>>): ReplicaReport[] {
  return Object.entries(annotations).flatMap(([key, value]) => {
    if (!key.startsWith(REPORT_PREFIX)) return [];
    try {
      const parsed = JSON.parse(value) as { cas?: unknown; at?: unknown };
      const at = typeof parsed.at === 'string' ? Date.parse(parsed.at) : NaN;
      if (!Array.isArray(parsed.cas) || !parsed.cas.every((c) => typeof c === 'string') || Number.isNaN(at)) return [];
      return [{ replica: key.slice(REPORT_PREFIX.length), cas: parsed.cas as string[], at }];
    } catch {
      return [];
    }
  });
}

/** The annotation key and value of a report. */
export function formatReport(replica: string, cas: readonly string[], at: number): [key: string, value: string] {
  return [`${REPORT_PREFIX}${annotationName(replica)}`, JSON.stringify({ cas, at: new Date(at).toISOString() })];
}

/** A replica id as the name part of an annotation key: at most 63 characters of [A-Za-z0-9-_.], alphanumeric at both ends. */
export function annotationName(replica: string): string {
  const cleaned = replica.replace(/[^A-Za-z0-9._-]/g, '-').slice(-63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return cleaned === '' ? 'replica' : cleaned;
}

/** Does the certificate name every host (DNS name or IP address) in its subjectAltName? */
export function coversHosts(cert: X509Certificate, hosts: readonly string[]): boolean {
  const names = (cert.subjectAltName ?? '').split(', ');
  return hosts.every((h) => names.includes(isIP(h) ? `IP Address:${h}` : `DNS:${h}`));
}

function readCertificates(pem: string): X509Certificate[] {
  return splitPemCertificates(pem).flatMap((block) => {
    try {
      return [new X509Certificate(block)];
    } catch {
      return [];
    }
  });
}

function readCa(certPem: string | undefined, keyPem: string | undefined): { cert: X509Certificate; hasKey: boolean } | undefined {
  if (!certPem) return undefined;
  try {
    const cert = new X509Certificate(certPem);
    return { cert, hasKey: keyPem !== undefined && cert.ca && cert.checkPrivateKey(createPrivateKey(keyPem)) };
  } catch {
    return undefined;
  }
}

function readLeaf(certPem: string | undefined, keyPem: string | undefined, cas: readonly X509Certificate[], hosts: readonly string[]): StoredState['leaf'] {
  if (!certPem || !keyPem) return undefined;
  try {
    const cert = new X509Certificate(certPem);
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return undefined;
    return { issuer: issuerOf(cert, cas), notAfter: Date.parse(cert.validTo), coversHosts: coversHosts(cert, hosts) };
  } catch {
    return undefined;
  }
}

function caInfo(cert: X509Certificate): CaInfo {
  return { fingerprint: fingerprintOf(cert), notAfter: Date.parse(cert.validTo) };
}
