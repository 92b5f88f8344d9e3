import { DEFAULT_SERVICE_ACCOUNT, USE_LABEL } from '../identity/constants.js';

/**
 * Reading the raw JSON of admitted objects (never trusted: any field may
 * have any type, and only own properties count): where a kind keeps its pod
 * template, and the fields of it the validator reads.
 */
export type JsonObject = Record<string, unknown>;

/** Workload kinds whose pod template is checked, and where the template sits. */
export const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** Where `kind` keeps its pod template; undefined for any other kind (inherited keys such as `toString` included). */
export function templatePathOf(kind: string): readonly string[] | undefined {
  return Object.hasOwn(TEMPLATE_PATHS, kind) ? TEMPLATE_PATHS[kind] : undefined;
}

/** The pod (template) of an object of `kind`: the object itself for a Pod. */
export function podTemplateOf(kind: string, object: unknown): JsonObject | undefined {
  if (kind === 'Pod') return asObject(object);
  const path = templatePathOf(kind);
  return path ? asObject(valueAt(object, path)) : undefined;
}

/** spec.serviceAccountName, else the deprecated spec.serviceAccount, else `default` (as the API server defaults it). */
export function serviceAccountNameOf(template: JsonObject | undefined): string {
  return stringAt(template, ['spec', 'serviceAccountName']) || stringAt(template, ['spec', 'serviceAccount']) || DEFAULT_SERVICE_ACCOUNT;
}

/** The template's `azure.workload.identity/use` label as written (undefined when absent or not a string). */
export function useLabelOf(template: JsonObject | undefined): string | undefined {
  return stringAt(template, ['metadata', 'labels', USE_LABEL]);
}

export function valueAt(object: unknown, path: readonly string[]): unknown {
  let current: unknown = object;
  for (const key of path) {
    const o = asObject(current);
    if (!o || !Object.hasOwn(o, key)) return undefined;
    current = o[key];
  }
  return current;
}

export function stringAt(object: unknown, path: readonly string[]): string | undefined {
  const value = valueAt(object, path);
  return typeof value === 'string' ? value : undefined;
}

export function asObject(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}
