// @peculiar/x509 resolves its ASN.1 helpers through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface IssuedPair {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM PKCS#8 private key. */
  readonly key: string;
}

export interface CertificateAuthority extends IssuedPair {
  readonly keys: CryptoKeyPair;
  readonly certificate: x509.X509Certificate;
}

export interface ServerCertificateRequest {
  readonly dnsNames: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly validDays?: number;
  /** End of validity; wins over `validDays`. */
  readonly notAfter?: Date;
  /** Start of validity; backdated an hour by default to absorb clock skew. */
  readonly notBefore?: Date;
}

/** A self-signed CA (ECDSA P-256), generated with @peculiar/x509 over WebCrypto, valid for `validity` days or until a date. */
export async function createCertificateAuthority(commonName: string, validity: number | { notAfter: Date } = 3650): Promise<CertificateAuthority> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const notBefore = backdated(new Date());
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore,
    notAfter: typeof validity === 'number' ? addDays(notBefore, validity) : validity.notAfter,
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keys, certificate, cert: certificate.toString('pem'), key: await exportKey(keys.privateKey) };
}

/** A serving certificate for the given names, signed by `ca`. */
export async function issueServerCertificate(ca: CertificateAuthority, request: ServerCertificateRequest): Promise<IssuedPair> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const notBefore = request.notBefore ?? backdated(new Date());
  const names = [
    ...request.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${request.dnsNames[0] ?? request.ipAddresses?.[0] ?? 'wi-admission'}`,
    issuer: ca.certificate.subject,
    notBefore,
    notAfter: request.notAfter ?? addDays(notBefore, request.validDays ?? 365),
    signingKey: ca.keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
    ],
  });
  return { cert: certificate.toString('pem'), key: await exportKey(keys.privateKey) };
}

/** A CA stored as PEM (certificate and PKCS#8 key, as exported here), ready to sign again. */
export async function loadCertificateAuthority(cert: string, key: string): Promise<CertificateAuthority> {
  const certificate = new x509.X509Certificate(cert);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(key), { name: ALGORITHM.name, namedCurve: ALGORITHM.namedCurve }, true, ['sign']);
  const publicKey = await certificate.publicKey.export({ name: ALGORITHM.name, namedCurve: ALGORITHM.namedCurve }, ['verify']);
  return { keys: { privateKey, publicKey }, certificate, cert, key };
}

/** Writes `ca.crt`, `tls.crt` and `tls.key` (0600) into `dir`. */
export async function writeDevCertificates(dir: string, request: ServerCertificateRequest): Promise<{ ca: CertificateAuthority; server: IssuedPair }> {
  const ca = await createCertificateAuthority('wi-admission development CA');
  const server = await issueServerCertificate(ca, request);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'ca.crt'), ca.cert);
  await writeFile(join(dir, 'tls.crt'), server.cert);
  await writeFile(join(dir, 'tls.key'), server.key, { mode: 0o600 });
  return { ca, server };
}

async function exportKey(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function serial(): string {
  // Positive 16-byte serial: clear the top bit.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

function backdated(now: Date): Date {
  return new Date(now.getTime() - 60 * 60 * 1000);
}

function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * 24 * 60 * 60 * 1000);
}
