import { createHash } from 'node:crypto';
import t from 'tap';
import { buildVolumeName } from '../../src/identity/token-volume.js';
import { parseSkipContainers, resolveTenantId } from '../../src/identity/mutate-pod.js';
import { shouldInjectProxy } from '../../src/identity/proxy.js';
import { parseKubernetesVersion, supportsNativeSidecar } from '../../src/kube/server-version.js';

t.equal(buildVolumeName('pod'), 'azure-workload-identity-reserved-425c89ed5bb78a7623fae60fd8a6f6', 'upstream example for pod "pod"');
t.equal(buildVolumeName('x'.repeat(253)).length, 63, 'always 63 characters');
t.equal(
  buildVolumeName('web-7c9d8f5b4- (prefix)'),
  `azure-workload-identity-reserved-${createHash('sha256').update('web-7c9d8f5b4- (prefix)').digest('hex').slice(0, 30)}`,
);
t.match(buildVolumeName('Ünïcode-名前'), /^azure-workload-identity-reserved-[0-9a-f]{30}$/, 'a DNS label for any input');

t.same([...parseSkipContainers({ 'azure.workload.identity/skip-containers': ' a ; b;;c; ' })], ['a', 'b', 'c'], 'split on ;, trimmed, empty entries dropped');
t.same([...parseSkipContainers({ 'azure.workload.identity/skip-containers': '' })], [], 'empty annotation skips nothing');
t.same([...parseSkipContainers({})], []);

const sa = (annotations: Record<string, string>) => ({ namespace: 'ns', name: 'sa', annotations });
t.equal(resolveTenantId(sa({}), 'default-tenant'), 'default-tenant', 'absent → configured tenant');
t.equal(resolveTenantId(sa({ 'azure.workload.identity/tenant-id': '' }), 'default-tenant'), '', 'present but empty → empty, no fallback');
t.equal(resolveTenantId(sa({ 'azure.workload.identity/tenant-id': 'abc' }), 'default-tenant'), 'abc');

for (const [value, inject] of [[undefined, false], ['', true], ['true', true], ['false', false], ['False', false], ['no', true]] as const) {
  const annotations: Record<string, string> = value === undefined ? {} : { 'azure.workload.identity/inject-proxy-sidecar': value };
  t.equal(shouldInjectProxy(annotations), inject, `inject-proxy-sidecar ${JSON.stringify(value)} → ${inject}`);
}

for (const [git, native] of [['v1.31.9', false], ['v1.32.0', true], ['v1.32.0-eks-5ca49cb', true], ['v1.33.1+k3s1', true], ['v2.0.0', true], ['v1.9.0', false]] as const) {
  const parsed = parseKubernetesVersion(git);
  t.ok(parsed, `${git} parses`);
  if (parsed) t.equal(supportsNativeSidecar(parsed), native, `${git} → native sidecar ${native}`);
}
for (const bad of ['v1.32', '1.32.x', 'v1.032.0', '', 'latest']) t.equal(parseKubernetesVersion(bad), undefined, `${JSON.stringify(bad)} is not strict semver`);
