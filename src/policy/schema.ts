import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeYamlError } from '../util/yaml-error.js';

/**
 * The platform team's namespace → identity policy (DESIGN §5), validated
 * where it enters: a bad file is reported with the path of the bad field and
 * never replaces a good one.
 */
const Action = z.enum(['deny', 'warn', 'audit'], { error: 'must be deny, warn or audit' });
export type Action = z.infer<typeof Action>;

const LabelSelectorRequirement = z.strictObject({
  key: z.string().min(1),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist'], { error: 'must be In, NotIn, Exists or DoesNotExist' }),
  values: z.array(z.string()).optional(),
});

export const LabelSelectorSchema = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(LabelSelectorRequirement).optional(),
});
export type LabelSelector = z.infer<typeof LabelSelectorSchema>;

const NamespaceMatch = z.strictObject({
  /** Globs (`*`, `?`) on the namespace name; any may match. */
  names: z.array(z.string().min(1)).optional(),
  /** Label selector on the namespace; must match as well when given. */
  selector: LabelSelectorSchema.optional(),
});

/** `{namespace.name}` and `{namespace.labels['key']}` (or "key") inside a required tag value. */
export const TEMPLATE_REFERENCE = /\{namespace\.(?:name|labels\[(?:'([^']+)'|"([^"]+)")\])\}/g;

const RequiredTagValue = z.string().superRefine((value, ctx) => {
  const stripped = value.replace(TEMPLATE_REFERENCE, '');
  if (/[{}]/.test(stripped)) {
    ctx.addIssue({ code: 'custom', message: `"${value}" has a reference other than {namespace.name} or {namespace.labels['key']}` });
  }
});

const Rule = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lowercase name such as team-must-own-identity'),
    namespaces: NamespaceMatch.optional(),
    requireTags: z.record(z.string().min(1), RequiredTagValue).optional(),
    forbidDefaultServiceAccount: z.boolean().optional(),
    action: Action.default('deny'),
  })
  .refine((rule) => rule.requireTags !== undefined || rule.forbidDefaultServiceAccount === true, {
    message: 'a rule needs requireTags or forbidDefaultServiceAccount: true',
  });
export type Rule = z.infer<typeof Rule>;

/**
 * Who creates pods (and ReplicaSets, Jobs) on behalf of workloads already
 * admitted: kube-controller-manager, as itself or, with
 * --use-service-account-credentials (kubeadm, AKS), as one kube-system
 * ServiceAccount per controller. The deployment controller creates the
 * ReplicaSet of every rollout, the CronJob controller the Jobs.
 */
export const DEFAULT_TRUSTED_CONTROLLERS = [
  'system:kube-controller-manager',
  'system:serviceaccount:kube-system:replicaset-controller',
  'system:serviceaccount:kube-system:deployment-controller',
  'system:serviceaccount:kube-system:statefulset-controller',
  'system:serviceaccount:kube-system:daemon-set-controller',
  'system:serviceaccount:kube-system:job-controller',
  'system:serviceaccount:kube-system:cronjob-controller',
  'system:serviceaccount:kube-system:replication-controller',
] as const;

/** Where the validator denies and where it only reports (docs/policy.md "Where it enforces and what it only reports"). */
const Enforcement = z.strictObject({
  /** An UPDATE that leaves the binding as it was. */
  existingBindings: Action.default('warn'),
  /** Objects a trusted controller creates for a workload it owns (controller ownerReference). */
  controllerPods: Action.default('warn'),
  /** Username or group globs of the request's userInfo. */
  trustedControllers: z.array(z.string().min(1)).default([...DEFAULT_TRUSTED_CONTROLLERS]),
});
export type Enforcement = z.infer<typeof Enforcement>;

export const PolicySchema = z.strictObject({
  apiVersion: z.literal('wi-admission.io/v1', { error: 'must be wi-admission.io/v1' }),
  kind: z.literal('IdentityPolicy', { error: 'must be IdentityPolicy' }),
  metadata: z.looseObject({}).optional(),
  spec: z
    .strictObject({
      clusterName: z.string().min(1).optional(),
      exemptNamespaces: z.array(z.string().min(1)).default(['kube-system']),
      namespaceTag: z.string().min(1).default('kubernetes.namespaces'),
      clusterTag: z.string().min(1).default('kubernetes.clusters'),
      onUnknownIdentity: Action.default('deny'),
      onInventoryUnavailable: Action.default('deny'),
      onMissingFederatedCredential: Action.default('warn'),
      onClientSecretInPod: Action.default('warn'),
      /** A rule needs the labels of a namespace that cannot be read (new bindings; others get warn). */
      onNamespaceUnavailable: Action.default('deny'),
      enforcement: Enforcement.prefault({}),
      /** What happens when nothing approves an identity for a namespace; default deny. */
      defaultAction: Action.default('deny'),
      rules: z.array(Rule).default([]),
    })
    .superRefine((spec, ctx) => {
      const seen = new Set<string>();
      spec.rules.forEach((rule, i) => {
        if (seen.has(rule.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `duplicate rule name "${rule.name}"` });
        seen.add(rule.name);
      });
    }),
});
export type Policy = z.infer<typeof PolicySchema>;
export type PolicySpec = Policy['spec'];

export type PolicyParse = { ok: true; policy: Policy } | { ok: false; error: string };

/**
 * Parses YAML or JSON. The error is one line: the file, then every bad field
 * as `spec.rules[0].action: must be deny, warn or audit, not "block"`, or
 * the line and column of a YAML syntax error.
 */
export function parsePolicy(text: string, source: string): PolicyParse {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    return { ok: false, error: describeYamlError(err, source) };
  }
  const parsed = PolicySchema.safeParse(raw, { reportInput: true });
  if (parsed.success) return { ok: true, policy: parsed.data };
  const problems = parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${describeIssue(issue)}`);
  return { ok: false, error: `${source}: ${problems.join('; ')}` };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (docs/policy.md lists the fields)`;
  if (issue.input === undefined && issue.code === 'invalid_type') return 'required';
  // The value found, so the reader needs not open the file to see what is wrong.
  const found = issue.code === 'invalid_value' || issue.code === 'invalid_format' ? `, not ${JSON.stringify(issue.input)}` : '';
  return `${issue.message}${found}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(document)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}
