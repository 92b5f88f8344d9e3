import {
  INJECT_PROXY_SIDECAR_ANNOTATION,
  DEFAULT_PROXY_SIDECAR_PORT,
  PROXY_INIT_CONTAINER_NAME,
  PROXY_PORT_ENV,
  PROXY_SIDECAR_CONTAINER_NAME,
  PROXY_SIDECAR_PORT_ANNOTATION,
} from './constants.js';
import { parseGoInt } from './go-strconv.js';
import type { JsonObject } from './pod.js';

export interface ProxySettings {
  /** Sidecar image (`PROXY_IMAGE`). */
  readonly image: string;
  /** Init container image (`PROXY_INIT_IMAGE`). */
  readonly initImage: string;
  /** `--log-level=` value handed to the proxy: the webhook's own level, "" for warnings. */
  readonly logLevel: string;
  /** Native sidecar (Kubernetes ≥ 1.32), decided once at start; undefined while unknown. */
  readonly nativeSidecar: boolean | undefined;
}

/**
 * Upstream injects on the mere presence of the annotation, even for "false"
 * (upstream #1210). We honour an explicit "false" in any case; any other
 * value, including empty, injects.
 */
export function shouldInjectProxy(annotations: Readonly<Record<string, string>>): boolean {
  const value = annotations[INJECT_PROXY_SIDECAR_ANNOTATION];
  return value !== undefined && value.toLowerCase() !== 'false';
}

export type ProxyPort = { ok: true; port: number } | { ok: false; value: string; error: string };

/** Port from the annotation (Go int32 syntax, as upstream), then 1–65535 (upstream has no range check). */
export function resolveProxyPort(annotations: Readonly<Record<string, string>>): ProxyPort {
  const value = annotations[PROXY_SIDECAR_PORT_ANNOTATION];
  if (value === undefined) return { ok: true, port: DEFAULT_PROXY_SIDECAR_PORT };
  const parsed = parseGoInt(value, 32);
  if (!parsed.ok) return { ok: false, value, error: `failed to parse proxy sidecar port: ${parsed.error}` };
  if (parsed.value < 1 || parsed.value > 65535) {
    return { ok: false, value, error: `proxy sidecar port ${parsed.value} is outside 1-65535` };
  }
  return { ok: true, port: parsed.value };
}

/**
 * The iptables init container. The explicit `runAsUser: 0` and
 * `runAsNonRoot: false` override a pod-level `runAsNonRoot: true` (upstream
 * #697); falsy values must be emitted, never dropped.
 */
export function buildProxyInitContainer(image: string, port: number): JsonObject {
  return {
    name: PROXY_INIT_CONTAINER_NAME,
    image,
    env: [{ name: PROXY_PORT_ENV, value: String(port) }],
    resources: {},
    imagePullPolicy: 'IfNotPresent',
    securityContext: {
      capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
      privileged: true,
      runAsUser: 0,
      runAsNonRoot: false,
    },
  };
}

/** The proxy sidecar; `restartPolicy: Always` makes it a native sidecar. */
export function buildProxySidecarContainer(
  image: string,
  port: number,
  logLevel: string,
  nativeSidecar: boolean,
): JsonObject {
  return {
    name: PROXY_SIDECAR_CONTAINER_NAME,
    image,
    args: [`--proxy-port=${port}`, `--log-level=${logLevel}`],
    ports: [{ containerPort: port }],
    resources: {},
    ...(nativeSidecar ? { restartPolicy: 'Always' } : {}),
    lifecycle: {
      postStart: {
        exec: { command: ['/proxy', `--proxy-port=${port}`, '--probe', `--log-level=${logLevel}`] },
      },
    },
    imagePullPolicy: 'IfNotPresent',
    securityContext: {
      capabilities: { drop: ['ALL'] },
      privileged: false,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    },
  };
}

/**
 * Adds the proxy containers, each only if no container of its name exists
 * yet (reinvocation). The init container goes last among init containers;
 * the sidecar goes first, so it starts before the app (upstream #1108): among
 * containers before 1.32, among init containers from 1.32, giving
 * `azwi-proxy, <user init…>, azwi-proxy-init`.
 */
export function injectProxyContainers(
  spec: JsonObject,
  port: number,
  settings: ProxySettings & { nativeSidecar: boolean },
): void {
  const initContainers = asArray(spec.initContainers);
  if (!initContainers.some((c) => c.name === PROXY_INIT_CONTAINER_NAME)) {
    initContainers.push(buildProxyInitContainer(settings.initImage, port));
  }
  const target = settings.nativeSidecar ? initContainers : asArray(spec.containers);
  if (!target.some((c) => c.name === PROXY_SIDECAR_CONTAINER_NAME)) {
    target.unshift(buildProxySidecarContainer(settings.image, port, settings.logLevel, settings.nativeSidecar));
  }
  spec.initContainers = initContainers;
  if (!settings.nativeSidecar) spec.containers = target;
}

function asArray(value: unknown): JsonObject[] {
  return Array.isArray(value) ? [...(value as JsonObject[])] : [];
}
