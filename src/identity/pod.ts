import { z } from 'zod';

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

/** Checks the fields the webhook touches; the message names the first bad field. */
export function checkPod(object: unknown): PodCheck {
  const parsed = PodSchema.safeParse(object);
  if (parsed.success) return { ok: true, pod: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'object';
  return { ok: false, error: `${where}: ${issue?.message ?? 'invalid'}` };
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
