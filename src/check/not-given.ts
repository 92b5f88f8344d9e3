import { namespaceWithUnknownLabels, type NamespaceWithUnknownLabels } from '../identity/managed-identity.js';
import type { Finding } from '../policy/evaluate.js';

/**
 * The offline commands judge only what they were given. A Namespace that is
 * in neither the manifests nor `--objects`, with no cluster to ask, has
 * unknown labels, not none: a rule that needs them says so and how to give
 * them, and is never evaluated against an empty set (`NotIn` and
 * `DoesNotExist` would match, and a required tag would blame the namespace).
 */
export function namespaceNotGiven(name: string): NamespaceWithUnknownLabels {
  return namespaceWithUnknownLabels(
    name,
    `the Namespace was not given: include its manifest in the input, or give --objects FILE with it, or --kubeconfig to read it from the cluster`,
  );
}

/**
 * Findings about labels the command was not given are warnings: the webhook
 * judges the same object at admission with the real labels, so a pipeline
 * that leaves the Namespace out is told what is missing without failing. A
 * Namespace that could not be read from a cluster (`--kubeconfig`) keeps the
 * policy's `onNamespaceUnavailable`: a failed read never passes.
 */
export function capNotGivenFindings(findings: readonly Finding[]): Finding[] {
  return findings.map((f) => (f.reason === 'NamespaceUnavailable' && f.action === 'deny' ? { ...f, action: 'warn' } : f));
}
