// Generic runner: every test/fixtures/validate/*.yaml is one whole case, from
// AdmissionRequest (any kind) with the cluster and Azure facts around it, to
// the answer kubectl shows.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { handleValidation, type IdentityDirectory } from '../../src/admission/handle-validation.js';
import type { DecodedReview } from '../../src/admission/review.js';
import type { FederatedCredential, ManagedIdentity } from '../../src/identity/managed-identity.js';
import { parsePolicy } from '../../src/policy/schema.js';
import { FakeServiceAccountLookup } from '../helpers/fake-service-accounts.js';
import { inlineCredentials } from '../helpers/inline-credentials.js';

interface Fixture {
  description: string;
  given: {
    policy: unknown | null;
    namespaces?: { name: string; labels?: Record<string, string> }[];
    /** Namespaces neither cached nor readable: the live GET fails (API server trouble). */
    unreadableNamespaces?: string[];
    serviceAccounts?: { name: string; namespace: string; annotations?: Record<string, string> }[];
    /** `az identity list`-shaped records; `federatedCredentials` inline. */
    identities?: (Omit<ManagedIdentity, 'subscriptionId' | 'resourceGroup' | 'tags'> & { resourceGroup?: string; tags?: Record<string, string>; federatedCredentials?: FederatedCredential[] })[];
    /** 'unavailable' makes every lookup unavailable (inventory down). */
    inventory?: 'unavailable';
    audience?: string;
    oidcIssuer?: string;
    request: { kind: string; namespace: string; operation?: string; object: unknown; oldObject?: unknown; userInfo?: unknown };
  };
  expect: {
    allowed: boolean;
    reason: string;
    code?: number;
    messageContains?: string[];
    warningsContain?: string[];
    /** Exact number of warnings (default: not checked). */
    warningCount?: number;
    auditReasons?: string;
  };
}

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'validate');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
t.ok(files.length > 0, 'there are validation fixtures');

class FakeDirectory implements IdentityDirectory {
  credentialCalls = 0;
  constructor(private readonly identities: ManagedIdentity[], private readonly down: boolean) {}
  async lookupClientId(clientId: string) {
    if (this.down) return { status: 'unavailable' as const, reason: 'the identity source failed: 503 Service Unavailable' };
    const id = clientId.toLowerCase();
    const byClient = this.identities.find((i) => i.clientId.toLowerCase() === id);
    if (byClient) return { status: 'found' as const, identity: byClient };
    const byPrincipal = this.identities.find((i) => i.principalId.toLowerCase() === id);
    return byPrincipal ? { status: 'principalId' as const, identity: byPrincipal } : { status: 'unknown' as const };
  }
  async federatedCredentials(identity: ManagedIdentity) {
    this.credentialCalls++;
    return inlineCredentials(identity);
  }
}

for (const file of files) {
  const fixture = parse(readFileSync(join(dir, file), 'utf8')) as Fixture;
  void t.test(`${file}: ${fixture.description}`, async (t) => {
    const { given, expect } = fixture;
    const policy = given.policy === null ? undefined : parsePolicy(JSON.stringify(given.policy), file);
    if (policy && !policy.ok) throw new Error(policy.error);
    const namespaces = new Map((given.namespaces ?? []).map((n) => [n.name, { name: n.name, labels: n.labels ?? {} }]));
    const identities: ManagedIdentity[] = (given.identities ?? []).map((i) => {
      const match = /\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\//i.exec(i.id);
      return { ...i, subscriptionId: match?.[1] ?? '', resourceGroup: i.resourceGroup ?? match?.[2] ?? '', tags: i.tags ?? {} };
    });
    const outcome = await handleValidation(
      {
        apiVersion: 'admission.k8s.io/v1',
        request: {
          uid: 'fixture',
          kind: { group: '', version: 'v1', kind: given.request.kind },
          namespace: given.request.namespace,
          operation: given.request.operation ?? 'CREATE',
          object: given.request.object,
          oldObject: given.request.oldObject,
          ...(given.request.userInfo !== undefined ? { userInfo: given.request.userInfo } : {}),
        },
      } satisfies DecodedReview,
      {
        policy: () => (policy?.ok ? policy.policy.spec : undefined),
        serviceAccounts: new FakeServiceAccountLookup((given.serviceAccounts ?? []).map((sa) => ({ ...sa, annotations: sa.annotations ?? {} }))),
        namespaces: {
          getCached: (name) => namespaces.get(name),
          getLive: async (name) => {
            if (given.unreadableNamespaces?.includes(name)) throw new Error(`GET /api/v1/namespaces/${name}: 503 Service Unavailable`);
            return namespaces.get(name);
          },
          hasSynced: () => true,
          size: () => namespaces.size,
        },
        identities: new FakeDirectory(identities, given.inventory === 'unavailable'),
        audience: given.audience ?? 'api://AzureADTokenExchange',
        oidcIssuer: given.oidcIssuer,
        lookupTimeoutMs: 1000,
      },
    );
    const d = outcome.decision;
    t.equal(d.allowed, expect.allowed, `allowed is ${expect.allowed}: ${d.status?.message ?? ''}`);
    t.equal(outcome.reason, expect.reason, 'reason');
    if (expect.code !== undefined) t.equal(d.status?.code, expect.code, 'status code');
    if (!expect.allowed) t.match(d.status?.message ?? '', /^wi-admission: /, 'the message starts with the webhook name');
    for (const part of expect.messageContains ?? []) t.ok((d.status?.message ?? '').includes(part), `message contains ${JSON.stringify(part)}\n  message: ${d.status?.message}`);
    for (const part of expect.warningsContain ?? []) t.ok((d.warnings ?? []).some((w) => w.includes(part)), `a warning contains ${JSON.stringify(part)}\n  warnings: ${JSON.stringify(d.warnings)}`);
    if (expect.warningCount !== undefined) t.equal(d.warnings?.length ?? 0, expect.warningCount, 'number of warnings');
    if (expect.auditReasons !== undefined) t.equal(d.auditAnnotations?.reasons, expect.auditReasons, 'audit annotation reasons');
  });
}
