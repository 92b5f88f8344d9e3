// Untrusted keys never become log keys: label, annotation, tag and userInfo
// keys chosen by whoever writes a Pod, a ServiceAccount, a Namespace or an
// identity reach the server through every path (the informers, live GETs,
// both webhooks, denials, warnings, bad bodies), with debug logging. No key
// of any log line, at any depth, may be one of them, and none may replace a
// key the server writes (msg, level, time, err).
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CLIENT_ID_ANNOTATION, PROXY_SIDECAR_PORT_ANNOTATION, SKIP_CONTAINERS_ANNOTATION, USE_LABEL } from '../../src/identity/constants.js';
import { startHarness, waitReady } from '../helpers/harness.js';
import { post } from '../helpers/https-client.js';
import { assertNoSecrets, KUBE_TOKEN, logKeys } from './support.js';

const examples = new URL('../../examples/', import.meta.url).pathname;
const CHECKOUT = '6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e2';
const BILLING = '0b5e1c9a-7d3f-4e21-9a8b-1c2d3e4f5a6b';
/** Every untrusted key and value below contains this marker. */
const MARK = 'zzhostile';

/** Keys an object's owner chooses; some are the names of pino's own keys. */
function hostile(where: string): Record<string, string> {
  return {
    [`${MARK}-${where}`]: 'x',
    [`${MARK}.example.com/${where}`]: 'x',
    [`azure.workload.identity/${MARK}-${where}`]: 'x',
    msg: `${MARK}-msg`,
    level: `${MARK}-level`,
    time: `${MARK}-time`,
    err: `${MARK}-err`,
  };
}

function review(uid: string, kind: string, group: string, namespace: string, object: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group, version: 'v1', kind },
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'someone', extra: { [`${MARK}-extra`]: ['x'] } },
      [`${MARK}-request-field`]: { [`${MARK}-nested`]: 1 },
      object,
    },
  });
}

void t.test('no label, annotation, tag or userInfo key reaches a log key, on any path', async (t) => {
  const dir = t.testdirName;
  const identities = (JSON.parse(readFileSync(join(examples, 'identities.json'), 'utf8')) as { tags: Record<string, string> }[]).map((i) => ({ ...i, tags: { ...i.tags, ...hostile('tag') } }));
  // The harness logs at debug, the most verbose level the server writes.
  const h = await startHarness(t, ['--policy', join(dir, 'policy.yaml'), '--identities', `file:${join(dir, 'identities.json')}`], (_dir, api) => {
    copyFileSync(join(examples, 'policy.yaml'), join(dir, 'policy.yaml'));
    writeFileSync(join(dir, 'identities.json'), JSON.stringify(identities));
    // Listed by the informers at start.
    api.putNamespace('checkout-prod', { 'platform.example.com/owner': 'checkout-team', ...hostile('namespace-label') });
    api.putServiceAccount('checkout-prod', 'checkout-api', { [CLIENT_ID_ANNOTATION]: CHECKOUT, ...hostile('sa-annotation') });
  });
  await waitReady(h);
  // Read live on a cache miss: the informers have not delivered these.
  h.api.putServiceAccount('checkout-prod', 'live', { [CLIENT_ID_ANNOTATION]: BILLING, ...hostile('live-sa-annotation') }, { silent: true });
  h.api.putNamespace('other-prod', { 'platform.example.com/owner': 'other-team', ...hostile('live-namespace-label') });

  const pod = (name: string, serviceAccountName: string, annotations: Record<string, string> = {}, spec: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { [USE_LABEL]: 'true', ...hostile('pod-label') }, annotations: { ...hostile('pod-annotation'), ...annotations } },
    spec: { serviceAccountName, containers: [{ name: 'app', image: 'app:1', env: [{ name: `${MARK}_ENV`, value: 'x' }] }], ...spec },
  });
  const template = { metadata: { labels: hostile('template-label'), annotations: hostile('template-annotation') }, spec: { serviceAccountName: 'checkout-api', containers: [{ name: 'c', image: 'i' }] } };
  const requests: [string, string, string][] = [
    ['/mutate-v1-pod', 'patched, with a warning', review('m1', 'Pod', '', 'checkout-prod', pod('p1', 'checkout-api', { [SKIP_CONTAINERS_ANNOTATION]: `${MARK}-container` }))],
    ['/mutate-v1-pod', 'a live ServiceAccount read', review('m2', 'Pod', '', 'checkout-prod', pod('p2', 'live'))],
    ['/mutate-v1-pod', 'ServiceAccountNotFound', review('m3', 'Pod', '', 'checkout-prod', pod('p3', `${MARK}-missing`))],
    ['/mutate-v1-pod', 'InvalidProxyPort', review('m4', 'Pod', '', 'checkout-prod', pod('p4', 'checkout-api', { 'azure.workload.identity/inject-proxy-sidecar': 'true', [PROXY_SIDECAR_PORT_ANNOTATION]: MARK }))],
    ['/mutate-v1-pod', 'InvalidPod', review('m5', 'Pod', '', 'checkout-prod', { metadata: { name: 'p5', labels: { [USE_LABEL]: 'true', ...hostile('bad-pod-label') } }, spec: { containers: { [MARK]: 1 } } })],
    ['/validate', 'IdentityNotApproved', review('v1', 'ServiceAccount', '', 'checkout-prod', { metadata: { name: 'sa', annotations: { [CLIENT_ID_ANNOTATION]: BILLING, ...hostile('validate-sa') } } })],
    ['/validate', 'a live Namespace read', review('v2', 'ServiceAccount', '', 'other-prod', { metadata: { name: 'sa', annotations: { [CLIENT_ID_ANNOTATION]: CHECKOUT, ...hostile('validate-sa-2') } } })],
    ['/validate', 'MissingUseLabel', review('v3', 'Deployment', 'apps', 'checkout-prod', { metadata: { name: 'web', labels: hostile('deployment-label') }, spec: { template } })],
    ['/validate', 'a pod with its ServiceAccount read live', review('v4', 'Pod', '', 'checkout-prod', pod('p6', 'live'))],
    ['/mutate-v1-pod', 'HTTP 400: not a review', JSON.stringify({ ...hostile('body'), request: hostile('request') })],
    ['/validate', 'HTTP 400: a review without uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: hostile('no-uid') })],
  ];
  for (const [path, what, body] of requests) {
    const res = await post(h.server.webhookPort, path, body, { ca: h.ca });
    t.ok(res.status === 200 || res.status === 400, `${path} ${what}: answered (${res.status})`);
  }
  t.ok(h.api.calls.some((c) => c.verb === 'get' && c.resource === 'serviceaccounts' && c.name === 'live'), 'the live ServiceAccount GET happened');
  t.ok(h.api.calls.some((c) => c.verb === 'get' && c.resource === 'namespaces' && c.name === 'other-prod'), 'the live Namespace GET happened');

  const lines = h.sink.lines;
  t.equal(lines.filter((l) => l.msg === 'admission').length, 9, 'one line per admission');
  t.equal(lines.filter((l) => l.msg === 'request rejected').length, 2, 'one line per rejected body');
  t.same([...logKeys(lines)].filter((k) => k.toLowerCase().includes(MARK)), [], 'no untrusted key at any depth of any line');
  const overridden = lines.filter((l) => typeof l.level !== 'number' || typeof l.time !== 'string' || String(l.msg).includes(MARK) || (l.err !== undefined && typeof l.err !== 'object'));
  t.same(overridden, [], 'msg, level, time and err are always the server\'s own');
  assertNoSecrets(t, h.sink.text(), { 'the kubeconfig token': KUBE_TOKEN, 'the serving private key': readFileSync(join(h.certDir, 'tls.key'), 'utf8') });
});
