import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Operation } from 'rfc6902';
import type { Test } from 'tap';
import { loadConfig } from '../../src/config.js';
import { writeDevCertificates } from '../../src/certs/issue.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { FakeKubeApi } from './fake-kube-api.js';
import { eventually, getText } from './https-client.js';
import { createLogSink } from './log-sink.js';

export const HARNESS = {
  CLIENT_ID: '5b1e6f0a-3c2d-4e5f-8a9b-0c1d2e3f4a5b',
  TENANT: '72f988bf-86f1-41af-91ab-2d7cd011db47',
} as const;

export interface Harness {
  server: RunningServer;
  api: FakeKubeApi;
  ca: string;
  certDir: string;
  dir: string;
  sink: ReturnType<typeof createLogSink>;
}

export interface HarnessOptions {
  /** A stand-in built with options of its own (client certificates, ...); started here. */
  readonly api?: FakeKubeApi;
  /** The kubeconfig user instead of the stand-in's token user (written after `prepare`). */
  readonly kubeconfigUser?: (dir: string) => Record<string, unknown>;
}

/**
 * The whole server on 127.0.0.1 port 0 with a fresh dev CA, against a
 * loopback HTTPS stand-in API server holding one ServiceAccount
 * `default/workload`. `prepare` runs before start (files, API objects).
 */
export async function startHarness(
  t: Test,
  extraArgs: string[] = [],
  prepare?: (dir: string, api: FakeKubeApi) => void | Promise<void>,
  options: HarnessOptions = {},
): Promise<Harness> {
  const dir = t.testdir({});
  const certDir = join(dir, 'certs');
  await writeDevCertificates(certDir, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const api = options.api ?? new FakeKubeApi();
  await api.start();
  api.putServiceAccount('default', 'workload', { 'azure.workload.identity/client-id': HARNESS.CLIENT_ID });
  await prepare?.(dir, api);
  const loaded = loadConfig(
    [
      '--webhook-addr', '127.0.0.1:0',
      '--health-addr', '127.0.0.1:0',
      '--metrics-addr', '127.0.0.1:0',
      '--webhook-cert-dir', certDir,
      '--kubeconfig', api.writeKubeconfig(dir, options.kubeconfigUser?.(dir)),
      '--shutdown-delay', '0ms',
      '--sa-lookup-timeout', '1s',
      ...extraArgs,
    ],
    { AZURE_TENANT_ID: HARNESS.TENANT },
  );
  if (!loaded.ok) throw new Error(loaded.error);
  const sink = createLogSink('debug');
  const server = await startServer(loaded.config, sink.log);
  t.teardown(async () => {
    await server.shutdown();
    await api.stop();
  });
  return { server, api, ca: readFileSync(join(certDir, 'ca.crt'), 'utf8'), certDir, dir, sink };
}

export async function waitReady(h: Harness): Promise<void> {
  await eventually(async () => (await getText(h.server.healthPort, '/readyz')).status === 200, 10_000, '/readyz 200');
}

export function decodePatch(response: { patch?: string }): Operation[] {
  return JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8')) as Operation[];
}
