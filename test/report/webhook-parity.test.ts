// The inventory must say what admission says: every ServiceAccount CREATE
// fixture of the validating webhook is also run through buildInventoryRows,
// and the row's status and reasons must agree with the webhook's answer.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { handleValidation, type IdentityDirectory } from '../../src/admission/handle-validation.js';
import type { DecodedReview } from '../../src/admission/review.js';
import type { CredentialResolution, IdentityResolution, ManagedIdentity, NamespaceRecord } from '../../src/identity/managed-identity.js';
import { pickIdentityAnnotations } from '../../src/identity/service-account.js';
import { parsePolicy } from '../../src/policy/schema.js';
import { buildInventoryRows } from '../../src/report/inventory-rows.js';
import { FakeServiceAccountLookup } from '../helpers/fake-service-accounts.js';
import { inlineCredentials } from '../helpers/inline-credentials.js';

interface Fixture {
  given: {
    policy: unknown;
    namespaces?: { name: string; labels?: Record<string, string> }[];
    identities?: (Omit<ManagedIdentity, 'subscriptionId' | 'resourceGroup' | 'tags'> & { resourceGroup?: string; tags?: Record<string, string> })[];
    inventory?: 'unavailable';
    audience?: string;
    oidcIssuer?: string;
    request: { kind: string; namespace: string; operation?: string; object: { metadata?: { name?: string; annotations?: Record<string, unknown> } } };
  };
}

class FakeDirectory implements IdentityDirectory {
  constructor(private readonly identities: readonly ManagedIdentity[], private readonly down: boolean) {}
  async lookupClientId(clientId: string): Promise<IdentityResolution> {
    if (this.down) return { status: 'unavailable', reason: 'the identity source failed: 503 Service Unavailable' };
    const id = clientId.toLowerCase();
    const byClient = this.identities.find((i) => i.clientId.toLowerCase() === id);
    if (byClient) return { status: 'found', identity: byClient };
    const byPrincipal = this.identities.find((i) => i.principalId.toLowerCase() === id);
    return byPrincipal ? { status: 'principalId', identity: byPrincipal } : { status: 'unknown' };
  }
  async federatedCredentials(identity: ManagedIdentity): Promise<CredentialResolution> {
    return inlineCredentials(identity);
  }
}

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'validate');
const cases = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((file) => ({ file, fixture: parse(readFileSync(join(dir, file), 'utf8')) as Fixture }))
  // UPDATE adds ClientIdChanged, which compares with the old object: not an inventory question.
  .filter(({ fixture }) => fixture.given.request.kind === 'ServiceAccount' && (fixture.given.request.operation ?? 'CREATE') === 'CREATE');
t.ok(cases.length >= 40, `there are ServiceAccount fixtures to compare with (${cases.length})`);

for (const { file, fixture } of cases) {
  void t.test(file, async (t) => {
    const { given } = fixture;
    const parsed = given.policy === null ? undefined : parsePolicy(JSON.stringify(given.policy), file);
    if (parsed && !parsed.ok) throw new Error(parsed.error);
    const policy = parsed?.ok ? parsed.policy.spec : undefined;
    const namespaces = new Map<string, NamespaceRecord>((given.namespaces ?? []).map((n) => [n.name, { name: n.name, labels: n.labels ?? {} }]));
    const identities: ManagedIdentity[] = (given.identities ?? []).map((i) => {
      const match = /\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\//i.exec(i.id);
      return { ...i, subscriptionId: match?.[1] ?? '', resourceGroup: i.resourceGroup ?? match?.[2] ?? '', tags: i.tags ?? {} };
    });
    const directory = new FakeDirectory(identities, given.inventory === 'unavailable');
    const audience = given.audience ?? 'api://AzureADTokenExchange';
    const { request } = given;
    const serviceAccount = { namespace: request.namespace, name: request.object.metadata?.name ?? '', annotations: pickIdentityAnnotations(request.object.metadata?.annotations) };

    const outcome = await handleValidation(
      {
        apiVersion: 'admission.k8s.io/v1',
        request: { uid: 'parity', kind: { group: '', version: 'v1', kind: 'ServiceAccount' }, namespace: request.namespace, operation: 'CREATE', object: request.object },
      } satisfies DecodedReview,
      {
        policy: () => policy,
        serviceAccounts: new FakeServiceAccountLookup([]),
        namespaces: { getCached: (name) => namespaces.get(name), getLive: async (name) => namespaces.get(name), hasSynced: () => true, size: () => namespaces.size },
        identities: directory,
        audience,
        oidcIssuer: given.oidcIssuer,
        lookupTimeoutMs: 1000,
      },
    );
    const rows = await buildInventoryRows({ serviceAccounts: [serviceAccount], namespaces, namespacesComplete: true, directory, policy, audience, oidcIssuer: given.oidcIssuer });
    const row = rows[0];
    if ((serviceAccount.annotations['azure.workload.identity/client-id'] ?? '') === '') {
      t.same(rows, [], 'no client ID, no row');
      return;
    }
    if (!row) throw new Error('expected one row');
    const d = outcome.decision;
    const expected = !policy ? 'unchecked' : !d.allowed ? 'denied' : (d.warnings?.length ?? 0) > 0 ? 'warned' : 'approved';
    t.equal(row.status, expected, `status agrees with admission (${outcome.reason})`);
    if (outcome.reason === 'Exempt') t.same(row.reasons, ['Exempt']);
    else t.equal([...new Set(row.reasons)].join(','), d.auditAnnotations?.reasons ?? '', 'the same reasons');
    const first = !d.allowed ? d.status?.message.split('\n')[0] : undefined;
    if (first !== undefined && row.reasons[0] === outcome.reason) t.equal(`wi-admission: ${row.detail} [${outcome.reason}]`, first, 'detail is the denial message');
  });
}
