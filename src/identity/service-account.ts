import { ANNOTATION_PREFIX } from './constants.js';

/**
 * What the webhook keeps of a ServiceAccount: its identity and the
 * `azure.workload.identity/*` annotations. Nothing else (secrets lists,
 * managedFields, unrelated annotations) is ever read, so caches hold only this.
 */
export interface ServiceAccountRecord {
  readonly namespace: string;
  readonly name: string;
  readonly annotations: Readonly<Record<string, string>>;
}

/** Keeps only the annotations the webhook reads (slim cache records). */
export function pickIdentityAnnotations(
  annotations: Readonly<Record<string, unknown>> | null | undefined,
): Record<string, string> {
  const picked: Record<string, string> = {};
  if (!annotations) return picked;
  for (const [key, value] of Object.entries(annotations)) {
    if (key.startsWith(ANNOTATION_PREFIX) && typeof value === 'string') picked[key] = value;
  }
  return picked;
}
