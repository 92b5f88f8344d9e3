import picomatch from 'picomatch';
import type { ManagedIdentity, NamespaceFacts } from '../identity/managed-identity.js';
import { TEMPLATE_REFERENCE, type Action, type LabelSelector, type PolicySpec, type Rule } from './schema.js';

export interface ApprovalFailure {
  readonly action: Action;
  /** The rule that failed; undefined for tag conventions and the default. */
  readonly rule: string | undefined;
  /** What is wrong, e.g. `rule "x" requires tag owner=a, the identity has owner=b`. */
  readonly problem: string;
  /** What the person can do about it. */
  readonly fix: string;
}

export interface Approval {
  /** True when something approves the identity for the namespace and no deny failure stands. */
  readonly approved: boolean;
  /** Why it is approved: the rules and tag conventions that approve it. */
  readonly approvedBy: readonly string[];
  readonly failures: readonly ApprovalFailure[];
  /**
   * Rules that could not be evaluated because the namespace's labels are
   * unknown (they select on labels, or require a tag from a label). Any
   * here and the identity is not approved: the caller reports it.
   */
  readonly unevaluatedRules: readonly string[];
}

/**
 * Is `identity` approved for `namespace`? (DESIGN §5)
 *
 * 1. If the identity carries the cluster tag and the policy names the cluster,
 *    the tag (comma-separated globs) must list it.
 * 2. If it carries the namespace tag, the tag's globs must list the namespace;
 *    a match approves it.
 * 3. Every rule with `requireTags` whose namespaces match must be satisfied
 *    (values may reference the namespace's name and labels); a satisfied rule
 *    approves it, a failed one fails with the rule's action.
 * 4. Nothing approves it → the policy's `defaultAction` (deny by default).
 *
 * When the namespace's labels are unknown, steps 1 and 2 and the rules that
 * need only its name are evaluated as usual; a rule that needs its labels is
 * listed in `unevaluatedRules` instead, and leaves the identity unapproved.
 */
export function approveIdentity(policy: PolicySpec, identity: ManagedIdentity, namespace: NamespaceFacts): Approval {
  const failures: ApprovalFailure[] = [];
  const approvedBy: string[] = [];
  const unevaluatedRules: string[] = [];

  const clusterTag = readTag(identity.tags, policy.clusterTag);
  if (clusterTag !== undefined && policy.clusterName !== undefined && !listMatches(clusterTag, policy.clusterName)) {
    failures.push({
      action: 'deny',
      rule: undefined,
      problem: `its tag ${policy.clusterTag}=${clusterTag} does not list cluster ${policy.clusterName}`,
      fix: `Use an identity meant for cluster ${policy.clusterName}, or add ${policy.clusterName} to the identity's ${policy.clusterTag} tag.`,
    });
  }

  const namespaceTag = readTag(identity.tags, policy.namespaceTag);
  if (namespaceTag !== undefined) {
    if (listMatches(namespaceTag, namespace.name)) approvedBy.push(`tag ${policy.namespaceTag}=${namespaceTag}`);
    else {
      failures.push({
        action: 'deny',
        rule: undefined,
        problem: `its tag ${policy.namespaceTag}=${namespaceTag} does not list namespace ${namespace.name}`,
        fix: `Use an identity whose ${policy.namespaceTag} tag lists ${namespace.name}, or ask the platform team to add ${namespace.name} to this one.`,
      });
    }
  }

  for (const rule of policy.rules) {
    if (!rule.requireTags) continue;
    const match = matchNamespace(rule, namespace);
    if (match === 'no-match') continue;
    const failure = match === 'labels-unknown' ? 'labels-unknown' : checkRequiredTags(rule, identity, namespace);
    if (failure === 'labels-unknown') unevaluatedRules.push(rule.name);
    else if (failure) failures.push(failure);
    else approvedBy.push(`rule "${rule.name}"`);
  }

  if (approvedBy.length === 0 && failures.length === 0 && unevaluatedRules.length === 0) {
    failures.push({
      action: policy.defaultAction,
      rule: undefined,
      problem: `nothing in the policy approves it for namespace ${namespace.name}: no rule with requireTags matches the namespace and the identity has no ${policy.namespaceTag} tag`,
      fix: `Tag the identity ${policy.namespaceTag}=${namespace.name}, or ask the platform team to add a rule for this namespace.`,
    });
  }
  const approved = approvedBy.length > 0 && unevaluatedRules.length === 0 && !failures.some((f) => f.action === 'deny');
  return { approved, approvedBy, failures, unevaluatedRules };
}

function checkRequiredTags(rule: Rule, identity: ManagedIdentity, namespace: NamespaceFacts): ApprovalFailure | 'labels-unknown' | undefined {
  const required: string[] = [];
  const actual: string[] = [];
  for (const [tag, template] of Object.entries(rule.requireTags ?? {})) {
    const resolved = resolveTemplate(template, namespace);
    if (resolved.ok === 'labels-unknown') return 'labels-unknown';
    if (!resolved.ok) {
      return {
        action: rule.action,
        rule: rule.name,
        problem: `rule "${rule.name}" needs label ${resolved.missingLabel} on namespace ${namespace.name} to know the required ${tag} tag, and the namespace has none`,
        fix: `Ask the platform team to label namespace ${namespace.name} with ${resolved.missingLabel}.`,
      };
    }
    const has = readTag(identity.tags, tag);
    if (has !== resolved.value) {
      required.push(`${tag}=${resolved.value}`);
      actual.push(has === undefined ? `no ${tag} tag` : `${tag}=${has}`);
    }
  }
  if (required.length === 0) return undefined;
  return {
    action: rule.action,
    rule: rule.name,
    problem: `rule "${rule.name}" requires tag ${required.join(', ')}, the identity has ${actual.join(', ')}`,
    fix: `Use an identity tagged ${required.join(', ')}, or ask the platform team to approve this one.`,
  };
}

type Resolved = { ok: true; value: string } | { ok: false; missingLabel: string } | { ok: 'labels-unknown' };

/**
 * Substitutes `{namespace.name}` and `{namespace.labels['key']}`; a missing
 * label cannot be satisfied, and a label of a namespace whose labels are
 * unknown cannot be resolved at all.
 */
export function resolveTemplate(template: string, namespace: NamespaceFacts): Resolved {
  let missingLabel: string | undefined;
  let unknown = false;
  const value = template.replace(TEMPLATE_REFERENCE, (whole, single: string | undefined, double: string | undefined) => {
    const label = single ?? double;
    if (label === undefined) return namespace.name;
    if (namespace.labels === undefined) {
      unknown = true;
      return '';
    }
    const labelValue = Object.hasOwn(namespace.labels, label) ? namespace.labels[label] : undefined;
    if (labelValue === undefined) missingLabel ??= label;
    return labelValue ?? '';
  });
  if (unknown) return { ok: 'labels-unknown' };
  return missingLabel !== undefined ? { ok: false, missingLabel } : { ok: true, value };
}

/** Whether a rule's `namespaces` match a namespace; `labels-unknown` when only its unknown labels could tell. */
export type NamespaceMatch = 'match' | 'no-match' | 'labels-unknown';

/**
 * A rule without `namespaces` applies everywhere; otherwise every given
 * criterion must match. Names are judged first: a rule whose name globs
 * exclude the namespace does not apply, whatever its labels.
 */
export function matchNamespace(rule: Pick<Rule, 'namespaces'>, namespace: NamespaceFacts): NamespaceMatch {
  const match = rule.namespaces;
  if (!match) return 'match';
  if (match.names && !match.names.some((glob) => globMatches(glob, namespace.name))) return 'no-match';
  if (!match.selector) return 'match';
  if (namespace.labels === undefined) return 'labels-unknown';
  return matchesLabelSelector(match.selector, namespace.labels) ? 'match' : 'no-match';
}

/** Kubernetes label selector semantics: matchLabels and matchExpressions all hold. */
export function matchesLabelSelector(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const expr of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, expr.key);
    const value = labels[expr.key];
    const values = expr.values ?? [];
    const holds =
      expr.operator === 'Exists' ? has
      : expr.operator === 'DoesNotExist' ? !has
      : expr.operator === 'In' ? has && values.includes(value ?? '')
      : !has || !values.includes(value ?? '');
    if (!holds) return false;
  }
  return true;
}

/** Azure tag names are case-insensitive; values are compared as written. */
export function readTag(tags: Readonly<Record<string, string>>, name: string): string | undefined {
  if (Object.hasOwn(tags, name)) return tags[name];
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(tags)) if (key.toLowerCase() === lower) return value;
  return undefined;
}

/** A tag value of comma-separated globs (Azure tag values cannot hold lists). */
function listMatches(tagValue: string, name: string): boolean {
  return tagValue.split(',').map((s) => s.trim()).filter((s) => s !== '').some((glob) => globMatches(glob, name));
}

const globCache = new Map<string, (text: string) => boolean>();
/** Characters that make a glob more than a name (picomatch's, and the escape). */
const GLOB_SYNTAX = /[*?[\]{}()!+@\\]/;

function globMatches(glob: string, text: string): boolean {
  // Most tag values are plain names (kubernetes.namespaces=checkout-prod): equality, no compiled
  // matcher (a cluster's worth of identities would otherwise keep thousands of them).
  if (!GLOB_SYNTAX.test(glob)) return glob === text;
  let matcher = globCache.get(glob);
  if (!matcher) {
    matcher = picomatch(glob, { dot: true });
    if (globCache.size > 10_000) globCache.clear();
    globCache.set(glob, matcher);
  }
  return matcher(text);
}
