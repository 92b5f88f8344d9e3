// Generic runner: every test/fixtures/mutate/*.yaml is one whole case, from
// AdmissionRequest to the pod the API server ends up with, or the denial.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyPatch, type Operation } from 'rfc6902';
import t from 'tap';
import { parse } from 'yaml';
import { handleMutation } from '../../src/admission/handle-mutation.js';
import type { DecodedReview } from '../../src/admission/review.js';
import type { CaSource } from '../../src/identity/token-volume.js';
import { FakeServiceAccountLookup } from '../helpers/fake-service-accounts.js';
import { testSettings } from '../helpers/settings.js';

interface Fixture {
  description: string;
  upstream?: string;
  given: {
    namespace: string;
    operation?: string;
    kind?: string;
    serviceAccounts?: { name: string; namespace?: string; annotations?: Record<string, string> }[];
    settings?: {
      nativeSidecar?: boolean | null;
      defaultTenantId?: string;
      authorityHost?: string;
      audience?: string;
      proxyLogLevel?: string;
      customTokenEndpoint?: { annotation: string; audience: string; tokenProxy?: string; sniName?: string; caData?: string; caSource?: CaSource };
    };
    pod: Record<string, unknown>;
  };
  expect: {
    pod?: Record<string, unknown>;
    warnings?: string[];
    allowed?: 'unchanged';
    denied?: { code: number; reason: string; messageContains?: string[] };
  };
}

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'mutate');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

t.ok(files.length > 0, 'there are mutation fixtures');

for (const file of files) {
  const fixture = parse(readFileSync(join(dir, file), 'utf8')) as Fixture;
  void t.test(`${file}: ${fixture.description}`, async (t) => {
    const { given, expect } = fixture;
    const lookup = new FakeServiceAccountLookup(
      (given.serviceAccounts ?? []).map((sa) => ({ namespace: sa.namespace ?? given.namespace, name: sa.name, annotations: sa.annotations ?? {} })),
    );
    const s = given.settings ?? {};
    const settings = testSettings({
      ...(s.defaultTenantId !== undefined ? { defaultTenantId: s.defaultTenantId } : {}),
      ...(s.authorityHost !== undefined ? { authorityHost: s.authorityHost } : {}),
      ...(s.audience !== undefined ? { audience: s.audience } : {}),
      ...('nativeSidecar' in s ? { nativeSidecar: s.nativeSidecar ?? undefined } : {}),
      ...(s.customTokenEndpoint
        ? {
            customTokenEndpoint: {
              tokenProxy: '',
              sniName: '',
              caData: '',
              caSource: { kind: 'none' },
              ...s.customTokenEndpoint,
            },
          }
        : {}),
    });
    if (s.proxyLogLevel !== undefined) Object.assign(settings.proxy, { logLevel: s.proxyLogLevel });
    const deps = { serviceAccounts: lookup, settings: () => settings, serviceAccountLookupTimeoutMs: 1000 };
    const review = (pod: unknown): DecodedReview => ({
      apiVersion: 'admission.k8s.io/v1',
      request: {
        uid: 'fixture-uid',
        kind: { group: '', version: 'v1', kind: given.kind ?? 'Pod' },
        namespace: given.namespace,
        operation: given.operation ?? 'CREATE',
        object: pod,
      },
    });

    const input = given.pod;
    const pristine = structuredClone(input);
    const outcome = await handleMutation(review(input), deps);
    t.same(input, pristine, 'the input pod is not modified');

    if (expect.denied) {
      t.equal(outcome.decision.allowed, false, 'denied');
      t.equal(outcome.decision.status?.code, expect.denied.code, 'status code');
      t.equal(outcome.reason, expect.denied.reason, 'reason');
      const message = outcome.decision.status?.message ?? '';
      t.match(message, /^wi-admission: /, 'message starts with the webhook name');
      for (const part of expect.denied.messageContains ?? []) t.ok(message.includes(part), `message contains ${JSON.stringify(part)}: ${message}`);
      t.notOk(outcome.decision.patch, 'a denial carries no patch');
      return;
    }
    t.equal(outcome.decision.allowed, true, 'allowed');
    if (expect.allowed === 'unchanged') {
      t.notOk(outcome.decision.patch, 'no patch');
      return;
    }
    t.ok(outcome.decision.patch, 'a patch is returned');
    const operations = JSON.parse(Buffer.from(outcome.decision.patch ?? '', 'base64').toString('utf8')) as Operation[];
    t.same(
      operations.filter((op) => op.op !== 'add' && op.op !== 'replace'),
      [],
      'the patch only adds or replaces',
    );
    const patched = structuredClone(input);
    const errors = applyPatch(patched, operations).filter((e) => e !== null);
    t.same(errors, [], 'the patch applies cleanly to the input');
    t.strictSame(patched, expect.pod, 'patched input is the expected pod');
    t.strictSame(outcome.decision.warnings ?? [], expect.warnings ?? [], 'warnings');

    const again = await handleMutation(review(patched), deps);
    t.equal(again.decision.allowed, true, 'reinvocation is allowed');
    t.notOk(again.decision.patch, 'mutating twice equals mutating once (reinvocation adds nothing)');
  });
}
