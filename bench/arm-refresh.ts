/**
 * `npm run bench:arm`: a full inventory refresh of 10,000 identities through
 * the real @azure/arm-msi and @azure/identity stack against a local HTTPS
 * stand-in for ARM and Entra ID (pages of 100, the size ARM returns for this
 * list). Reports wall time, ARM calls and token calls of a cold and a warm
 * refresh. Results go to
 * bench/results/arm-refresh.node<major>.json.
 */
import { ClientSecretCredential } from '@azure/identity';
import { ArmMsiIdentitySource } from '../src/azure/arm-source.js';
import { machine, writeResult } from './results.js';
import { FakeArm } from '../test/helpers/fake-arm.js';

const IDENTITIES = Number(process.env.BENCH_IDENTITIES ?? 10_000);
const PAGE_SIZE = Number(process.env.BENCH_PAGE_SIZE ?? 100);
const SUB = '3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9';
const guid = (kind: number, i: number): string => `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

const arm = new FakeArm();
await arm.start();
arm.pageSize = PAGE_SIZE;
for (let i = 0; i < IDENTITIES; i++) {
  arm.identities.push({
    subscriptionId: SUB,
    resourceGroup: `rg-${i % 50}`,
    name: `id-${i}`,
    clientId: guid(1, i),
    principalId: guid(2, i),
    tenantId: arm.tenantId,
    tags: { owner: `team-${i % 100}`, 'kubernetes.namespaces': `ns-${i % 5000}` },
  });
}
const tlsOptions = { ca: arm.caCert };
const credential = new ClientSecretCredential(arm.tenantId, 'webhook-client-id', 'fake-secret', { authorityHost: arm.url, disableInstanceDiscovery: true, tlsOptions });
const source = new ArmMsiIdentitySource({ scope: { subscriptionId: SUB }, credential, endpoint: arm.url, tlsOptions });

async function refresh(): Promise<{ ms: number; armCalls: number; tokenCalls: number; identities: number }> {
  const before = arm.requests.length;
  const beforeArm = arm.armRequests().length;
  const t0 = performance.now();
  const identities = await source.listIdentities();
  const ms = performance.now() - t0;
  const armCalls = arm.armRequests().length - beforeArm;
  return { ms: Math.round(ms), armCalls, tokenCalls: arm.requests.length - before - armCalls, identities: identities.length };
}

const cold = await refresh();
const warm = await refresh();
await arm.stop();
const result = {
  date: new Date().toISOString(),
  machine: machine(),
  identities: IDENTITIES,
  pageSize: PAGE_SIZE,
  cold,
  warm,
  note: 'loopback ARM: the figures are the client-side cost (TLS, JSON, mapping); real ARM adds its latency per page',
};
writeResult('arm-refresh', result);
