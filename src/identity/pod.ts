import { z } from 'zod';
import { truncate } from '../util/truncate.js';
import { MAX_ECHOED_VALUE_CHARS } from './constants.js';

/**
 * The parts of a Pod the webhook reads or writes, checked for type. The
 * schemas are loose: every other field passes through untouched, because the
 * mutation works on the raw JSON the API server sent (no typed round-trip
 * that could drop fields newer than this code, upstream #1312). `null` is
 * accepted wherever Go would decode it as the empty value.
 */
const named = z.looseObject({ name: z.string() });
const stringMap = z.record(z.string(), z.string()).nullish();

export const ContainerSchema = z.looseObject({
  name: z.string(),
  env: z.array(named).nullish(),
  volumeMounts: z.array(named).nullish(),
});

export const PodSchema = z.looseObject({
  metadata: z
    .looseObject({
      name: z.string().nullish(),
      generateName: z.string().nullish(),
      namespace: z.string().nullish(),
      labels: stringMap,
      annotations: stringMap,
    })
    .nullish(),
  spec: z
    .looseObject({
      serviceAccountName: z.string().nullish(),
      hostNetwork: z.boolean().nullish(),
      containers: z.array(ContainerSchema).nullish(),
      initContainers: z.array(ContainerSchema).nullish(),
      volumes: z.array(named).nullish(),
    })
    .nullish(),
});

export type Pod = z.infer<typeof PodSchema>;
export type Container = z.infer<typeof ContainerSchema>;
export type JsonObject = Record<string, unknown>;

export type PodCheck = { ok: true; pod: Pod } | { ok: false; error: string };

/**
 * Checks the fields the webhook touches; the message names the first bad
 * field. On success the pod is the object itself, not a copy, so the
 * mutation works on the raw JSON.
 *
 * `isPodShape` answers first without copying anything (zod builds a copy of
 * every container and env entry, a fifth of the admission's time); only
 * when it cannot vouch for the object does zod decide, and zod alone writes
 * the messages. zod sees the lists cut after their first bad element
 * (`cutAtFirstBadElements`): its first issue is the same, and it never
 * collects one issue per element of a long list (zod 4 spreads a list's
 * issues into its parent's, which overflows the call stack past about
 * 100,000).
 */
export function checkPod(object: unknown): PodCheck {
  if (isPodShape(object)) return { ok: true, pod: object };
  const parsed = PodSchema.safeParse(cutAtFirstBadElements(object));
  if (parsed.success) return { ok: true, pod: object as Pod };
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'object';
  return { ok: false, error: truncate(`${where}: ${issue?.message ?? 'invalid'}`, MAX_ECHOED_VALUE_CHARS) };
}

/**
 * A copy of the pod (the parts on the way to its lists only) in which every
 * list the schema checks ends at its first element `isPodShape` rejects.
 * Elements before it pass, so zod's first issue is unchanged; and there is
 * at most one bad element per list. In the bad container, its own lists are
 * cut the same way.
 */
function cutAtFirstBadElements(value: unknown): unknown {
  if (!isObject(value) || !isObject(value.spec)) return value;
  const spec: JsonObject = { ...value.spec };
  for (const key of ['containers', 'initContainers'] as const) {
    const list = spec[key];
    if (!Array.isArray(list)) continue;
    const cut = cutAtFirstBad(list, isContainerShape);
    const last: unknown = cut[cut.length - 1];
    if (cut.length > 0 && !isContainerShape(last) && isObject(last)) {
      cut[cut.length - 1] = { ...last, env: cutAtFirstBad(last.env, isNamed), volumeMounts: cutAtFirstBad(last.volumeMounts, isNamed) };
    }
    spec[key] = cut;
  }
  spec.volumes = cutAtFirstBad(spec.volumes, isNamed);
  return { ...value, spec };
}

/** A list up to and including its first bad element (a copy); any other value as it is. */
function cutAtFirstBad<T>(value: T[] | T, isGood: (element: unknown) => boolean): T[] | T {
  if (!Array.isArray(value)) return value;
  for (let i = 0; i < value.length; i++) if (!isGood(value[i])) return value.slice(0, i + 1) as T[];
  return value.slice() as T[];
}

/**
 * `PodSchema` as a predicate, never more lenient: true only for what the
 * schema accepts (a property test holds the two together). It is stricter
 * in one corner: a map whose own `__proto__` key holds a non-string, which
 * zod skips, is left to zod.
 */
export function isPodShape(value: unknown): value is Pod {
  if (!isObject(value)) return false;
  const { metadata, spec } = value;
  if (!isNullish(metadata)) {
    if (!isObject(metadata)) return false;
    if (!isNullishString(metadata.name) || !isNullishString(metadata.generateName) || !isNullishString(metadata.namespace)) return false;
    if (!isNullishStringMap(metadata.labels) || !isNullishStringMap(metadata.annotations)) return false;
  }
  if (isNullish(spec)) return true;
  if (!isObject(spec)) return false;
  return (
    isNullishString(spec.serviceAccountName) &&
    (isNullish(spec.hostNetwork) || typeof spec.hostNetwork === 'boolean') &&
    isNullishArrayOf(spec.containers, isContainerShape) &&
    isNullishArrayOf(spec.initContainers, isContainerShape) &&
    isNullishArrayOf(spec.volumes, isNamed)
  );
}

function isContainerShape(value: unknown): boolean {
  return isNamed(value) && isNullishArrayOf(value.env, isNamed) && isNullishArrayOf(value.volumeMounts, isNamed);
}

function isNamed(value: unknown): value is JsonObject {
  return isObject(value) && typeof value.name === 'string';
}

/** zod's object check: any non-null, non-array object. */
function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNullish(value: unknown): value is null | undefined {
  return value === undefined || value === null;
}

function isNullishString(value: unknown): boolean {
  return isNullish(value) || typeof value === 'string';
}

function isNullishArrayOf(value: unknown, isElement: (element: unknown) => boolean): boolean {
  if (isNullish(value)) return true;
  if (!Array.isArray(value)) return false;
  // By index, as zod does: `every` would skip the holes of a sparse array.
  for (let i = 0; i < value.length; i++) if (!isElement(value[i])) return false;
  return true;
}

/** A JSON object (zod's record wants a plain object) whose every value is a string. */
function isNullishStringMap(value: unknown): boolean {
  if (isNullish(value)) return true;
  if (!isObject(value) || Object.getPrototypeOf(value) !== Object.prototype) return false;
  if (typeof value.constructor === 'function' && value.constructor !== Object) return false;
  for (const key of Object.keys(value)) if (typeof value[key] !== 'string') return false;
  return true;
}

export function podLabels(pod: Pod): Readonly<Record<string, string>> {
  return pod.metadata?.labels ?? {};
}

export function podAnnotations(pod: Pod): Readonly<Record<string, string>> {
  return pod.metadata?.annotations ?? {};
}

/**
 * The name upstream hashes for the volume: `metadata.name`, or for pods
 * created by controllers (no name yet) `generateName + " (prefix)"`.
 */
export function podNameForHashing(pod: Pod, generateNameSuffix: string): string {
  const name = pod.metadata?.name ?? '';
  return name !== '' ? name : `${pod.metadata?.generateName ?? ''}${generateNameSuffix}`;
}

/** How a person recognises the pod in a message: its name, or `generateName*`. */
export function podDisplayName(pod: Pod): string {
  const name = pod.metadata?.name ?? '';
  if (name !== '') return name;
  const prefix = pod.metadata?.generateName ?? '';
  return prefix !== '' ? `${prefix}*` : '<unnamed>';
}
