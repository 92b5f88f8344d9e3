import {
  MAX_CONTAINER_ENV_ENTRIES,
  MAX_CONTAINER_VOLUME_MOUNTS,
  MAX_ECHOED_VALUE_CHARS,
  MAX_PATCH_BYTES,
  MAX_POD_CONTAINERS,
  MAX_POD_VOLUMES,
  MAX_SKIP_CONTAINER_NAMES,
  SKIP_CONTAINERS_ANNOTATION,
} from './constants.js';
import type { JsonObject, Pod } from './pod.js';
import { truncate } from '../util/truncate.js';

/** The container lists of a pod the limits count; only the first two are ever mutated. */
const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

/**
 * The first limit (identity/constants.ts) an opted-in pod exceeds, as the
 * problem and what to do about it; undefined when it is within all of them.
 * Counts only, so it costs one pass over the container lists whatever they
 * hold. `skipNames` is the number of distinct skip-containers names read
 * (`parseSkipContainers` stops one past the limit).
 */
export function findExceededLimit(pod: Pod, skipNames: number): string | undefined {
  const spec = (pod.spec ?? {}) as JsonObject;
  let containers = 0;
  for (const key of CONTAINER_LISTS) if (Array.isArray(spec[key])) containers += (spec[key] as unknown[]).length;
  if (containers > MAX_POD_CONTAINERS) {
    return `the pod has ${count(containers)} containers, initContainers and ephemeralContainers together; ` +
      `the webhook accepts at most ${count(MAX_POD_CONTAINERS)} per pod. Split the work over several pods.`;
  }
  if (Array.isArray(spec.volumes) && spec.volumes.length > MAX_POD_VOLUMES) {
    return `the pod has ${count(spec.volumes.length)} volumes; the webhook accepts at most ${count(MAX_POD_VOLUMES)} per pod. ` +
      'Project several ConfigMaps or Secrets into one volume (a projected volume).';
  }
  if (skipNames > MAX_SKIP_CONTAINER_NAMES) {
    return `annotation ${SKIP_CONTAINERS_ANNOTATION} names more than ${count(MAX_SKIP_CONTAINER_NAMES)} containers; ` +
      'the webhook accepts at most that many, as many as a pod may have. List only containers of this pod.';
  }
  for (const key of CONTAINER_LISTS.slice(0, 2)) {
    const list = spec[key];
    if (!Array.isArray(list)) continue;
    for (let i = 0; i < list.length; i++) {
      const problem = findExceededContainerLimit(list[i] as JsonObject, `spec.${key}[${i}]`);
      if (problem) return problem;
    }
  }
  return undefined;
}

function findExceededContainerLimit(container: JsonObject, where: string): string | undefined {
  const name = `${where} (${JSON.stringify(truncate(typeof container.name === 'string' ? container.name : '', MAX_ECHOED_VALUE_CHARS))})`;
  if (Array.isArray(container.env) && container.env.length > MAX_CONTAINER_ENV_ENTRIES) {
    return `container ${name} has ${count(container.env.length)} env entries; the webhook accepts at most ${count(MAX_CONTAINER_ENV_ENTRIES)} per container. ` +
      'Move settings into a ConfigMap (envFrom, or a mounted file).';
  }
  if (Array.isArray(container.volumeMounts) && container.volumeMounts.length > MAX_CONTAINER_VOLUME_MOUNTS) {
    return `container ${name} has ${count(container.volumeMounts.length)} volumeMounts; the webhook accepts at most ${count(MAX_CONTAINER_VOLUME_MOUNTS)} per container. ` +
      'Mount a projected volume that combines several sources.';
  }
  return undefined;
}

/** The problem when a patch is larger than the webhook answers with. */
export function describePatchTooLarge(): string {
  return `the changes the webhook would make exceed ${count(MAX_PATCH_BYTES)} bytes of JSON Patch, the most it answers with ` +
    '(etcd stores objects of at most 1.5 MiB). Check the ServiceAccount\'s azure.workload.identity annotations for oversized values.';
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
