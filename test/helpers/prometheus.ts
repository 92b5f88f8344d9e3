// Debian's prometheus package (scripts/install-prometheus.sh, run by .ci/run):
// promtool for the rule checks and unit tests, and a real prometheus that
// scrapes a running server on loopback and evaluates the alerting rules.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { stopChild } from './child-process.js';
import { eventually } from './https-client.js';

export type PrometheusTools = { ok: true; promtool: string; prometheus: string } | { ok: false; reason: string };

/**
 * promtool and prometheus from PATH. Without them a test is skipped with the
 * reason, except under CI=true, where .ci/run installs them: there a missing
 * tool fails the run.
 */
export function findPrometheusTools(): PrometheusTools {
  const found = (name: string): string | undefined => {
    const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    return which.status === 0 ? which.stdout.trim() : undefined;
  };
  const promtool = found('promtool');
  const prometheus = found('prometheus');
  if (promtool && prometheus) return { ok: true, promtool, prometheus };
  const reason = 'promtool and prometheus are not installed (bash scripts/install-prometheus.sh installs Debian\'s prometheus package)';
  if (process.env.CI === 'true') throw new Error(`CI must run the monitoring tests: ${reason}`);
  return { ok: false, reason };
}

export interface AlertState {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
}

export interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

export interface RunningPrometheus {
  readonly url: string;
  /** Prometheus's own view of the alerts (`/api/v1/alerts`): pending and firing ones. */
  alerts(): Promise<AlertState[]>;
  /** An instant query (`/api/v1/query`), answered whatever its status. */
  query(expr: string): Promise<QueryResult>;
  /** Everything prometheus wrote. */
  output(): string;
}

export interface PrometheusOptions {
  /** Scraped as `job_name`, one static target each. */
  readonly jobs: Record<string, readonly string[]>;
  /** A rules file's text, loaded from rule_files. */
  readonly rules: string;
  /** Scrape and rule-evaluation interval; short, so alerts move within a test. */
  readonly interval?: string;
}

/**
 * A real prometheus on 127.0.0.1 with a fresh data directory under the test's
 * directory, stopped at teardown. Prometheus cannot report a port it chose,
 * so a free one is picked first and, should another process take it in
 * between, picked again.
 */
export async function startPrometheus(t: Test, binary: string, options: PrometheusOptions): Promise<RunningPrometheus> {
  const dir = t.testdir({});
  const interval = options.interval ?? '1s';
  writeFileSync(join(dir, 'rules.yaml'), options.rules);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      rule_files: [join(dir, 'rules.yaml')],
      scrape_configs: Object.entries(options.jobs).map(([job, targets]) => ({ job_name: job, static_configs: [{ targets }] })),
    }),
  );
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    let output = '';
    const child = spawn(binary, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, `data-${attempt}`)}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    const isReady = async (): Promise<boolean> => (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200;
    await eventually(async () => child.exitCode !== null || (await isReady()), 60_000, () => `prometheus ready:\n${output}`);
    if (child.exitCode !== null) {
      if (attempt < 3 && /address already in use/.test(output)) continue;
      throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
    }
    t.teardown(() => stopChild(child));
    return {
      url,
      output: () => output,
      alerts: async () => ((await (await fetch(`${url}/api/v1/alerts`)).json()) as { data: { alerts: AlertState[] } }).data.alerts,
      query: async (expr) => (await (await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`)).json()) as QueryResult,
    };
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
