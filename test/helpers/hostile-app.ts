// The admission app as the hostile suites attack it: the example policy,
// ServiceAccounts and a Namespace in memory, an identity directory that
// knows one identity, and the log kept in a sink. `listenHostileApp` puts
// it behind real TLS on 127.0.0.1 port 0.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import { writeDevCertificates } from '../../src/certs/issue.js';
import type { ManagedIdentity } from '../../src/identity/managed-identity.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { parsePolicy } from '../../src/policy/schema.js';
import { buildAdmissionApp, type AdmissionAppOptions } from '../../src/server/app.js';
import { FakeServiceAccountLookup } from './fake-service-accounts.js';
import { createLogSink } from './log-sink.js';
import { testSettings } from './settings.js';

export const HOSTILE_NAMESPACE = 'shop';
export const HOSTILE_CLIENT_ID = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
/** A client-id annotation of 300 KiB (the API server allows 256 KiB of annotations; the webhook sees what a cache holds). */
export const OVERSIZED_CLIENT_ID = 'c'.repeat(300 * 1024);

export interface HostileApp {
  readonly app: FastifyInstance;
  readonly metrics: Metrics;
  readonly sink: ReturnType<typeof createLogSink>;
}

export function buildHostileApp(options: AdmissionAppOptions = {}): HostileApp {
  const policy = parsePolicy(readFileSync(new URL('../../examples/policy.yaml', import.meta.url), 'utf8'), 'policy');
  if (!policy.ok) throw new Error(policy.error);
  const identity: ManagedIdentity = {
    clientId: HOSTILE_CLIENT_ID,
    principalId: '11111111-1111-1111-1111-111111111111',
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    name: 'id-shop',
    id: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-shop',
    resourceGroup: 'rg',
    subscriptionId: 'x',
    tags: { 'kubernetes.namespaces': HOSTILE_NAMESPACE },
    federatedCredentials: [],
  };
  const serviceAccounts = new FakeServiceAccountLookup([
    { namespace: HOSTILE_NAMESPACE, name: 'sa', annotations: { 'azure.workload.identity/client-id': HOSTILE_CLIENT_ID } },
    { namespace: HOSTILE_NAMESPACE, name: 'default', annotations: {} },
    { namespace: HOSTILE_NAMESPACE, name: 'oversized', annotations: { 'azure.workload.identity/client-id': OVERSIZED_CLIENT_ID } },
  ]);
  const sink = createLogSink('info');
  const metrics = createMetrics({ defaultMetrics: false });
  const app = buildAdmissionApp(
    {
      log: sink.log,
      metrics,
      mutation: { serviceAccounts, settings: () => testSettings({ nativeSidecar: true }), serviceAccountLookupTimeoutMs: 100 },
      validation: {
        policy: () => policy.policy.spec,
        serviceAccounts,
        namespaces: { getCached: (name) => ({ name, labels: {} }), getLive: async () => undefined, hasSynced: () => true, size: () => 1 },
        identities: {
          lookupClientId: async (id) => (id === HOSTILE_CLIENT_ID ? { status: 'found', identity } : { status: 'unknown' }),
          federatedCredentials: async () => ({ status: 'found', credentials: [] }),
        },
        audience: 'api://AzureADTokenExchange',
        oidcIssuer: undefined,
        lookupTimeoutMs: 100,
      },
    },
    options,
  );
  return { app, metrics, sink };
}

/** The app on 127.0.0.1 port 0 over TLS with a fresh dev CA; closed when the test ends. */
export async function listenHostileApp(t: Test, minVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3'): Promise<HostileApp & { port: number; ca: string }> {
  const dir = join(t.testdir({}), 'certs');
  const { ca, server } = await writeDevCertificates(dir, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const built = buildHostileApp({ https: { cert: server.cert, key: server.key, minVersion } });
  await built.app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => built.app.close());
  return { ...built, port: (built.app.server.address() as AddressInfo).port, ca: ca.cert };
}

/** An AdmissionReview as text; `object` is JSON text too, so huge bodies are never built as objects. */
export function reviewText(object: string, request: { uid?: string; kind?: string; namespace?: string; operation?: string } = {}): string {
  return (
    `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":${JSON.stringify(request.uid ?? 'hostile-uid')},` +
    `"kind":{"group":"","version":"v1","kind":${JSON.stringify(request.kind ?? 'Pod')}},"namespace":${JSON.stringify(request.namespace ?? HOSTILE_NAMESPACE)},` +
    `"operation":${JSON.stringify(request.operation ?? 'CREATE')},"object":${object}}}`
  );
}

/** An opted-in pod of ServiceAccount `sa` as JSON text, with `spec` (JSON members) and annotations. */
export function optedInPodText(spec: string, annotations: Record<string, string> = {}, serviceAccount = 'sa'): string {
  return (
    `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"attack","namespace":"${HOSTILE_NAMESPACE}","labels":{"azure.workload.identity/use":"true"},` +
    `"annotations":${JSON.stringify(annotations)}},"spec":{"serviceAccountName":"${serviceAccount}"${spec === '' ? '' : `,${spec}`}}}`
  );
}

/** `count` copies of `item` as a JSON array's text. */
export function repeated(count: number, item: (i: number) => string): string {
  return `[${Array.from({ length: count }, (_, i) => item(i)).join(',')}]`;
}
