import type { JsonObject } from './pod.js';

export interface EnvVar {
  name: string;
  value: string;
}

/**
 * Appends the desired variables a container does not have yet.
 *
 * Rules (upstream `addEnvironmentVariables`): a variable is skipped when the
 * container already has an `env` entry of that name, whatever its value or
 * `valueFrom`; empty desired values are never injected; existing entries are
 * never modified or reordered; new ones go at the end in the given order.
 * `envFrom` is not considered (explicit `env` wins over it in Kubernetes).
 */
export function addEnvironmentVariables(container: JsonObject, desired: readonly EnvVar[]): void {
  const env = Array.isArray(container.env) ? (container.env as JsonObject[]) : [];
  // A scan per desired variable, not a Set of names: a handful of variables
  // against a few dozen entries, on every container of every admission.
  let added: JsonObject[] | undefined;
  for (const { name, value } of desired) {
    if (value === '' || env.some((entry) => entry.name === name)) continue;
    (added ??= env.slice()).push({ name, value });
  }
  if (added) container.env = added;
}

/**
 * Adds the token mount, or replaces a mount of the same name in place with
 * exactly this one (dropping any subPath or other path, as upstream does).
 * Key order follows the Kubernetes Go type (name, readOnly, mountPath).
 */
export function addProjectedVolumeMount(container: JsonObject, volumeName: string, mountPath: string): void {
  const mount = { name: volumeName, readOnly: true, mountPath };
  const mounts = Array.isArray(container.volumeMounts) ? [...(container.volumeMounts as JsonObject[])] : [];
  const index = mounts.findIndex((m) => m.name === volumeName);
  if (index >= 0) mounts[index] = mount;
  else mounts.push(mount);
  container.volumeMounts = mounts;
}

/** Adds a volume, or replaces the one of the same name in place. */
export function putVolume(spec: JsonObject, volume: JsonObject & { name: string }): void {
  const volumes = Array.isArray(spec.volumes) ? [...(spec.volumes as JsonObject[])] : [];
  const index = volumes.findIndex((v) => v.name === volume.name);
  if (index >= 0) volumes[index] = volume;
  else volumes.push(volume);
  spec.volumes = volumes;
}

export function hasContainerNamed(containers: readonly JsonObject[], name: string): boolean {
  return containers.some((c) => c.name === name);
}
