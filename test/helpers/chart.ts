import { execFileSync, spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { loadConfig, type ConfigLoad } from '../../src/config.js';
import { helmBinary } from './helm.js';

/** charts/wi-admission, rendered by a real helm in the tests. */
export const CHART = new URL('../../charts/wi-admission', import.meta.url).pathname;

export type K8sObject = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [key: string]: unknown };

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; [source: string]: unknown };
}

export interface Container {
  name: string;
  image: string;
  args: string[];
  env: EnvVar[];
  ports: { name: string; containerPort: number }[];
  volumeMounts: { name: string; mountPath: string }[];
  [field: string]: unknown;
}

/** `helm template <release> charts/wi-admission -n <namespace> ...args`, as text. */
export function renderChartText(args: readonly string[], options: { release?: string; namespace?: string } = {}): string {
  return execFileSync(helmBinary(), ['template', options.release ?? 'wi', CHART, '-n', options.namespace ?? 'wi-system', ...args], { encoding: 'utf8' });
}

/** The rendered objects, comments and empty documents dropped. */
export function renderChart(args: readonly string[], options: { release?: string; namespace?: string } = {}): K8sObject[] {
  return parseManifests(renderChartText(args, options));
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text).map((d) => d.toJS() as K8sObject | null).filter((o) => o !== null);
}

/** helm's stderr for values it refuses ('' when it renders). */
export function renderChartError(args: readonly string[]): string {
  const result = spawnSync(helmBinary(), ['template', 'wi', CHART, '-n', 'wi-system', ...args], { encoding: 'utf8' });
  return result.status === 0 ? '' : result.stderr;
}

export function findObject(objects: readonly K8sObject[], kind: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind);
}

/** The webhook container of the rendered Deployment. */
export function webhookContainer(objects: readonly K8sObject[]): Container {
  const deployment = findObject(objects, 'Deployment') as unknown as { spec: { template: { spec: { containers: Container[] } } } } | undefined;
  const container = deployment?.spec.template.spec.containers.find((c) => c.name === 'webhook');
  if (!container) throw new Error('the chart rendered no webhook container');
  return container;
}

/**
 * The container's env as the kubelet gives it to the process: literal values,
 * and the pod's namespace for a `metadata.namespace` fieldRef. A later entry
 * of the same name wins, as in a running container.
 */
export function containerEnv(container: Container, namespace: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env) {
    if (entry.value !== undefined) env[entry.name] = entry.value;
    else if (entry.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[entry.name] = namespace;
  }
  return env;
}

/** The script the image's node runs: the Dockerfile's final WORKDIR joined with its CMD's first word. */
export const SERVER_SCRIPT = '/app/dist/src/main.js';

/** The server's flags in the container's arguments: what follows the script and `serve`; undefined when it runs anything else. */
export function serverArguments(container: Pick<Container, 'args'>): string[] | undefined {
  const [script, command, ...flags] = container.args;
  return script === SERVER_SCRIPT && command === 'serve' ? flags : undefined;
}

/** The server's own config loader run on the container's server flags and env. */
export function loadContainerConfig(container: Container, namespace = 'wi-system'): ConfigLoad {
  const flags = serverArguments(container);
  if (!flags) return { ok: false, error: `the container runs "${container.args.slice(0, 2).join(' ')}", not ${SERVER_SCRIPT} serve` };
  return loadConfig(flags, containerEnv(container, namespace));
}
