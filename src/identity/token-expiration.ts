import {
  DEFAULT_TOKEN_EXPIRATION_SECONDS,
  MAX_TOKEN_EXPIRATION_SECONDS,
  MIN_TOKEN_EXPIRATION_SECONDS,
  SERVICE_ACCOUNT_TOKEN_EXPIRATION_ANNOTATION,
} from './constants.js';
import { parseGoInt } from './go-strconv.js';

export type TokenExpiration =
  | { ok: true; seconds: number; source: 'pod' | 'serviceAccount' | 'default' }
  | { ok: false; source: 'pod' | 'serviceAccount'; value: string; error: string };

/**
 * Resolves the projected token's lifetime.
 *
 * Precedence (upstream `getServiceAccountTokenExpiration`):
 *  1. the Pod annotation, when present and non-empty;
 *  2. else the ServiceAccount annotation, when present and non-empty;
 *  3. else 3600.
 * The chosen value is a strict base-10 integer (Go `ParseInt`) within
 * 3600–86400 inclusive. When the Pod's value is used the ServiceAccount's is
 * never parsed, so a bad ServiceAccount value is harmless then.
 */
export function resolveTokenExpiration(
  podAnnotations: Readonly<Record<string, string>>,
  serviceAccountAnnotations: Readonly<Record<string, string>>,
): TokenExpiration {
  const podValue = podAnnotations[SERVICE_ACCOUNT_TOKEN_EXPIRATION_ANNOTATION] ?? '';
  const saValue = serviceAccountAnnotations[SERVICE_ACCOUNT_TOKEN_EXPIRATION_ANNOTATION] ?? '';
  const source = podValue !== '' ? 'pod' : saValue !== '' ? 'serviceAccount' : 'default';
  if (source === 'default') return { ok: true, seconds: DEFAULT_TOKEN_EXPIRATION_SECONDS, source };
  const value = source === 'pod' ? podValue : saValue;
  const parsed = parseGoInt(value, 64);
  if (!parsed.ok) return { ok: false, source, value, error: parsed.error };
  if (!isValidTokenExpiration(parsed.value)) {
    return {
      ok: false,
      source,
      value,
      error: `token expiration ${parsed.value} not valid. Expected value to be between ${MIN_TOKEN_EXPIRATION_SECONDS} and ${MAX_TOKEN_EXPIRATION_SECONDS}`,
    };
  }
  return { ok: true, seconds: parsed.value, source };
}

export function isValidTokenExpiration(seconds: number): boolean {
  return seconds >= MIN_TOKEN_EXPIRATION_SECONDS && seconds <= MAX_TOKEN_EXPIRATION_SECONDS;
}
