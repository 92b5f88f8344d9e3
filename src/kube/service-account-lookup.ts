import { MAX_NAMESPACE_NAME_LENGTH, MAX_SERVICE_ACCOUNT_NAME_LENGTH } from '../identity/constants.js';
import type { ServiceAccountRecord } from '../identity/service-account.js';

/**
 * Where ServiceAccounts come from: an informer cache over the API server, or
 * the `--objects` file. `getCached` answers from memory; `getLive` is the one
 * direct read allowed on a cache miss (an SA created a moment before its pod).
 */
export interface ServiceAccountLookup {
  getCached(namespace: string, name: string): ServiceAccountRecord | undefined;
  /** Resolves undefined when the API server says NotFound; rejects on any other failure. */
  getLive(namespace: string, name: string, signal: AbortSignal): Promise<ServiceAccountRecord | undefined>;
  hasSynced(): boolean;
  size(): number;
}

export type LookupResult =
  | { found: true; serviceAccount: ServiceAccountRecord; source: 'cache' | 'live' }
  | { found: false; error?: string };

/**
 * Cache first; on a miss one live read bounded by `timeoutMs`. A name
 * longer than Kubernetes allows cannot exist: that needs no read (nor a
 * request line of megabytes to the API server).
 */
export async function lookupServiceAccount(
  lookup: ServiceAccountLookup,
  namespace: string,
  name: string,
  timeoutMs: number,
): Promise<LookupResult> {
  if (namespace.length > MAX_NAMESPACE_NAME_LENGTH || name.length > MAX_SERVICE_ACCOUNT_NAME_LENGTH) return { found: false };
  const cached = lookup.getCached(namespace, name);
  if (cached) return { found: true, serviceAccount: cached, source: 'cache' };
  try {
    const live = await lookup.getLive(namespace, name, AbortSignal.timeout(timeoutMs));
    return live ? { found: true, serviceAccount: live, source: 'live' } : { found: false };
  } catch (err) {
    const message = (err as Error).name === 'TimeoutError' ? `no answer from the API server within ${timeoutMs} ms` : (err as Error).message;
    return { found: false, error: message };
  }
}

export function serviceAccountKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
