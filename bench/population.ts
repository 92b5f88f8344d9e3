/**
 * The cluster the validation benchmarks stand up (bench:validation,
 * bench:audit): identities in a file, a policy, and the stand-in API server's
 * Namespaces and ServiceAccounts, sized by BENCH_IDENTITIES,
 * BENCH_SERVICE_ACCOUNTS and BENCH_NAMESPACES. ServiceAccount k in namespace
 * ns-(k mod N) binds identity k mod IDENTITIES, which its tags approve there;
 * only the first IDENTITIES ServiceAccounts have a federated credential.
 */
import { writeFileSync } from 'node:fs';
import { request, type Agent } from 'node:https';
import { join } from 'node:path';
import type { FakeKubeApi } from '../test/helpers/fake-kube-api.js';

export const IDENTITIES = Number(process.env.BENCH_IDENTITIES ?? 10_000);
export const SERVICE_ACCOUNTS = Number(process.env.BENCH_SERVICE_ACCOUNTS ?? 50_000);
export const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 5_000);
export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

/** A GUID of kind `kind` (1 client IDs, 2 principal IDs, 3 subscriptions) and number `i`. */
export const guid = (kind: number, i: number): string => `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

/** `identities.json` and `policy.yaml` in `dir`. */
export function writeInputs(dir: string): void {
  const identities = Array.from({ length: IDENTITIES }, (_, i) => ({
    clientId: guid(1, i),
    principalId: guid(2, i),
    tenantId: TENANT,
    name: `id-${i}`,
    id: `/subscriptions/${guid(3, 0)}/resourceGroups/rg-${i % 50}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-${i}`,
    resourceGroup: `rg-${i % 50}`,
    tags: { owner: `team-${i % 100}`, 'kubernetes.namespaces': `ns-${i % NAMESPACES}` },
    federatedCredentials: [{ name: 'fc', issuer: 'https://oidc.example/', subject: `system:serviceaccount:ns-${i % NAMESPACES}:sa-${i}`, audiences: ['api://AzureADTokenExchange'] }],
  }));
  writeFileSync(join(dir, 'identities.json'), JSON.stringify(identities));
  writeFileSync(
    join(dir, 'policy.yaml'),
    [
      'apiVersion: wi-admission.io/v1',
      'kind: IdentityPolicy',
      'spec:',
      '  rules:',
      '    - name: team-must-own-identity',
      "      requireTags: { owner: \"{namespace.labels['owner']}\" }",
      '      action: deny',
      '',
    ].join('\n'),
  );
}

/** The Namespaces (labelled with their owner) and ServiceAccounts, held by the stand-in API server. */
export function populate(api: FakeKubeApi): void {
  for (let n = 0; n < NAMESPACES; n++) api.putNamespace(`ns-${n}`, { owner: `team-${n % 100}` });
  for (let k = 0; k < SERVICE_ACCOUNTS; k++) {
    api.putServiceAccount(`ns-${k % NAMESPACES}`, `sa-${k}`, { 'azure.workload.identity/client-id': guid(1, k % IDENTITIES) }, { silent: true });
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Reads the bound ports from the server's `listening` log line. */
export async function waitForPorts(output: () => string): Promise<{ webhook: number; health: number; metrics: number }> {
  for (let i = 0; i < 2400; i++) {
    const line = output().split('\n').find((l) => l.includes('"msg":"listening"'));
    if (line) {
      const parsed = JSON.parse(line) as { webhookPort: number; healthPort: number; metricsPort: number };
      return { webhook: parsed.webhookPort, health: parsed.healthPort, metrics: parsed.metricsPort };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server did not start:\n${output()}`);
}

/** POST /validate over TLS with the agent's kept-alive connections; resolves the HTTP status. */
export function postValidate(port: number, body: string, ca: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/validate', method: 'POST', ca, agent, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}
