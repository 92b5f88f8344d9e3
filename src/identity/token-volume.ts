import * as crypto from 'node:crypto';
import {
  CA_CONFIGMAP_KEY,
  CA_FILE_PATH,
  MAX_VOLUME_NAME_LENGTH,
  PROJECTED_VOLUME_NAME_PREFIX,
  TOKEN_FILE_PATH,
} from './constants.js';
import type { JsonObject } from './pod.js';

/**
 * `azure-workload-identity-reserved-` + the first 30 hex characters of
 * SHA-256(pod name): always 63 characters, a valid DNS label, and unlikely to
 * clash with a user's volume (the motivation upstream: CAPZ and vcluster used
 * the old fixed name `azure-identity-token`).
 */
export function buildVolumeName(podName: string): string {
  const hex = sha256Hex(podName);
  return PROJECTED_VOLUME_NAME_PREFIX + hex.slice(0, MAX_VOLUME_NAME_LENGTH - PROJECTED_VOLUME_NAME_PREFIX.length);
}

/**
 * SHA-256 of the UTF-8 text, in hex. One-shot `crypto.hash` where Node has it
 * (20.12 and later): a `Hash` object per admission cost several µs under load.
 */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/** Where the custom token endpoint's CA comes from, if the pod uses it. */
export type CaSource =
  | { kind: 'none' }
  | { kind: 'configMap'; name: string }
  | { kind: 'clusterTrustBundle'; signerName: string; labelSelector?: JsonObject };

/**
 * The projected volume: one service account token source, then the optional
 * CA source. Key order follows the Kubernetes Go types so the JSON reads the
 * same as upstream's; no defaultMode (the API server defaults it to 420).
 */
export function buildTokenVolume(
  name: string,
  audience: string,
  expirationSeconds: number,
  caSource: CaSource,
): JsonObject & { name: string } {
  const sources: JsonObject[] = [
    { serviceAccountToken: { audience, expirationSeconds, path: TOKEN_FILE_PATH } },
  ];
  if (caSource.kind === 'configMap') {
    sources.push({
      configMap: {
        name: caSource.name,
        items: [{ key: CA_CONFIGMAP_KEY, path: CA_FILE_PATH }],
        optional: false,
      },
    });
  } else if (caSource.kind === 'clusterTrustBundle') {
    sources.push({
      clusterTrustBundle: {
        signerName: caSource.signerName,
        ...(caSource.labelSelector ? { labelSelector: caSource.labelSelector } : {}),
        optional: false,
        path: CA_FILE_PATH,
      },
    });
  }
  return { name, projected: { sources } };
}
