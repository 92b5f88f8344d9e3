import { NATIVE_SIDECAR_MIN_VERSION } from '../identity/constants.js';

export interface KubernetesVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

// Strict semver with an optional leading "v", as k8s.io/apimachinery ParseSemantic.
const SEMVER =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** Parses a GitVersion such as `v1.32.0-eks-5ca49cb`; undefined when it is not strict semver. */
export function parseKubernetesVersion(gitVersion: string): KubernetesVersion | undefined {
  const match = SEMVER.exec(gitVersion);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

/**
 * Native sidecars from 1.32: SidecarContainers went beta in 1.29, plus the
 * three minor versions of kubelet skew. A pre-release suffix still counts as
 * its release (upstream compares major.minor.patch only).
 */
export function supportsNativeSidecar(version: KubernetesVersion): boolean {
  const { major, minor } = NATIVE_SIDECAR_MIN_VERSION;
  return version.major > major || (version.major === major && version.minor >= minor);
}
