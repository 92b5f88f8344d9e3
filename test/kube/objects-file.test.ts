import t from 'tap';
import { isAppError } from '../../src/errors.js';
import { ObjectsFileLookup, parseObjects } from '../../src/kube/objects-file.js';

void t.test('reads ServiceAccounts and Namespaces from multi-document YAML and Lists', async (t) => {
  const objects = parseObjects(
    [
      '# comment',
      'apiVersion: v1',
      'kind: ServiceAccount',
      'metadata: {name: a, namespace: ns1, annotations: {azure.workload.identity/client-id: c1, other.io/x: y}}',
      '---',
      '---',
      'apiVersion: v1',
      'kind: List',
      'items:',
      '- {apiVersion: v1, kind: Namespace, metadata: {name: ns1, labels: {tier: prod}}}',
      '- {apiVersion: v1, kind: ServiceAccount, metadata: {name: b}}',
      '- {apiVersion: v1, kind: ConfigMap, metadata: {name: ignored}}',
    ].join('\n'),
    'objects.yaml',
  );
  t.same(objects.serviceAccounts, [
    { namespace: 'ns1', name: 'a', annotations: { 'azure.workload.identity/client-id': 'c1' } },
    { namespace: 'default', name: 'b', annotations: {} },
  ]);
  t.same(objects.namespaces, [{ name: 'ns1', labels: { tier: 'prod' } }]);
  const lookup = new ObjectsFileLookup(objects);
  t.equal(lookup.getCached('ns1', 'a')?.name, 'a');
  t.equal(await lookup.getLive('ns1', 'missing'), undefined);
  t.equal(lookup.size(), 2);
});

void t.test('bad files name the document', async (t) => {
  const cases: [string, RegExp][] = [
    ['kind: ServiceAccount\nmetadata: {name: [unclosed', /objects\.yaml: document 1:/],
    ['kind: ServiceAccount\nmetadata: {name: a}\n---\n- just\n- a list', /document 2: expected a Kubernetes object with a kind/],
    ['kind: ServiceAccount\nmetadata: {}', /document 1: ServiceAccount without metadata\.name/],
    ['kind: List\nitems: 3', /List without items/],
  ];
  for (const [text, pattern] of cases) {
    const err = (() => {
      try {
        parseObjects(text, 'objects.yaml');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(isAppError(err, 'WIA_ERR_OBJECTS_INVALID'), `rejected: ${JSON.stringify(text)}`);
    t.match((err as Error).message, pattern);
  }
  t.throws(() => ObjectsFileLookup.fromFile('/nonexistent/objects.yaml'), /--objects \/nonexistent\/objects\.yaml: ENOENT/);
});
