import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { isAppError } from '../../src/errors.js';
import { tokenFile } from '../../src/kube/credentials.js';
import { loadKubeConnection } from '../../src/kube/kubeconfig.js';

const CA = '-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n';
const b64 = (text: string): string => Buffer.from(text).toString('base64');

function kubeconfig(parts: { clusters?: unknown[]; users?: unknown[]; contexts?: unknown[]; current?: string }): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: parts.clusters ?? [],
    users: parts.users ?? [],
    contexts: parts.contexts ?? [],
    ...(parts.current !== undefined ? { 'current-context': parts.current } : {}),
  });
}

const simple = (server: string, user: Record<string, unknown> = { token: 't0' }) =>
  kubeconfig({
    clusters: [{ name: 'c', cluster: { server, 'certificate-authority-data': b64(CA) } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    current: 'ctx',
  });

void t.test('where the API server is found: --kubeconfig, then $KUBECONFIG, then in-cluster, then ~/.kube/config', async (t) => {
  const dir = t.testdir({
    flag: simple('https://flag.example:6443'),
    env: simple('https://env.example:6443'),
    home: { '.kube': { config: simple('https://home.example:6443') } },
    sa: { token: 'in-cluster-token\n', 'ca.crt': CA },
  });
  const inCluster = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
  const options = { inClusterDir: join(dir, 'sa') };
  const all = { KUBECONFIG: join(dir, 'env'), ...inCluster, HOME: join(dir, 'home') };
  t.equal(loadKubeConnection(join(dir, 'flag'), all, options).server, 'https://flag.example:6443', 'the flag wins');
  t.equal(loadKubeConnection('', all, options).server, 'https://env.example:6443', '$KUBECONFIG before in-cluster');
  t.equal(loadKubeConnection('', { ...inCluster, HOME: join(dir, 'home') }, options).server, 'https://10.0.0.1:443', 'in-cluster before ~/.kube/config');
  t.equal(loadKubeConnection('', { HOME: join(dir, 'home') }, options).server, 'https://home.example:6443');
  t.equal(loadKubeConnection('', { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, options).server, 'https://[fd00::1]:443', 'IPv6 in brackets');
  const err = (() => {
    try {
      loadKubeConnection('', { HOME: join(dir, 'nowhere'), ...inCluster }, { inClusterDir: join(dir, 'no-sa') });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(isAppError(err, 'WIA_ERR_KUBECONFIG_INVALID'));
  t.match(err, /no API server configured: give --kubeconfig, set KUBECONFIG, run in a pod, or create ~\/\.kube\/config/);
});

void t.test('in-cluster: the mounted CA, and the token read again once a minute (bound token rotation)', async (t) => {
  const dir = t.testdir({ token: 'first\n', 'ca.crt': CA });
  const connection = loadKubeConnection('', { KUBERNETES_SERVICE_HOST: 'kubernetes.default.svc', KUBERNETES_SERVICE_PORT: '443' }, { inClusterDir: dir });
  t.equal(connection.origin, 'in-cluster');
  t.equal(connection.tls.ca?.toString(), CA);
  t.equal(connection.tls.rejectUnauthorized, true);
  t.same(await connection.credentials.authorize(), { header: 'Bearer first' });

  let now = 0;
  const credentials = tokenFile(join(dir, 'token'), { now: () => now });
  t.same(await credentials.authorize(), { header: 'Bearer first' });
  writeFileSync(join(dir, 'token'), 'second');
  now = 59_000;
  t.same(await credentials.authorize(), { header: 'Bearer first' }, 'cached within the minute');
  now = 60_000;
  t.same(await credentials.authorize(), { header: 'Bearer second' }, 'read again after it');
  writeFileSync(join(dir, 'token'), 'third');
  now = 120_000;
  t.same(await credentials.authorize(), { header: 'Bearer third' });
  await t.rejects(tokenFile(join(dir, 'missing')).authorize(), /cannot read the API server token file .*missing/);
});

void t.test('$KUBECONFIG lists files: the first to name an entry wins, and its paths are relative to its own file', async (t) => {
  const dir = t.testdir({
    a: { config: kubeconfig({ contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }], current: 'ctx', users: [{ name: 'u', user: { tokenFile: 'token', 'client-certificate': 'client.crt', 'client-key-data': b64('KEY') } }] }), token: 'from-a', 'client.crt': 'CERT' },
    b: { config: kubeconfig({ clusters: [{ name: 'c', cluster: { server: 'https://b.example/', 'certificate-authority': 'ca.crt', 'tls-server-name': 'kubernetes' } }], users: [{ name: 'u', user: { token: 'ignored' } }], current: 'other' }), 'ca.crt': CA },
  });
  const connection = loadKubeConnection('', { KUBECONFIG: `${join(dir, 'a', 'config')}:${join(dir, 'missing')}:${join(dir, 'b', 'config')}` });
  t.equal(connection.server, 'https://b.example', 'trailing slash dropped');
  t.equal(connection.tls.ca?.toString(), CA, 'b/ca.crt, relative to b');
  t.equal(connection.tls.cert?.toString(), 'CERT', 'a/client.crt, relative to a');
  t.equal(connection.tls.key?.toString(), 'KEY');
  t.equal(connection.tls.servername, 'kubernetes');
  t.equal(connection.tls.rejectUnauthorized, true);
  t.same(await connection.credentials.authorize(), { header: 'Bearer from-a' }, "a's user and a's token file");
  t.match(connection.origin, /\(context ctx\)$/);
});

void t.test('users: token, basic, none', async (t) => {
  const dir = t.testdir({
    token: simple('https://x', { token: 'abc' }),
    basic: simple('https://x', { username: 'admin', password: 'pw' }),
    none: kubeconfig({ clusters: [{ name: 'c', cluster: { server: 'http://127.0.0.1:8080' } }], contexts: [{ name: 'ctx', context: { cluster: 'c' } }], current: 'ctx' }),
  });
  t.same(await loadKubeConnection(join(dir, 'token'), {}).credentials.authorize(), { header: 'Bearer abc' });
  t.same(await loadKubeConnection(join(dir, 'basic'), {}).credentials.authorize(), { header: `Basic ${b64('admin:pw')}` });
  const insecure = kubeconfig({ clusters: [{ name: 'c', cluster: { server: 'https://x', 'insecure-skip-tls-verify': true } }], contexts: [{ name: 'ctx', context: { cluster: 'c' } }], current: 'ctx' });
  writeFileSync(join(dir, 'insecure'), insecure);
  t.equal(loadKubeConnection(join(dir, 'insecure'), {}).tls.rejectUnauthorized, false, 'insecure-skip-tls-verify without a CA is honoured');
  const none = loadKubeConnection(join(dir, 'none'), {});
  t.same(await none.credentials.authorize(), {});
  t.equal(none.server, 'http://127.0.0.1:8080');
});

void t.test('an exec credential plugin runs through client-node, loaded on demand', async (t) => {
  const dir = t.testdir({
    'plugin.mjs': "process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: 'from-plugin' } }));\n",
  });
  writeFileSync(
    join(dir, 'config'),
    simple('https://x', { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: process.execPath, args: [join(dir, 'plugin.mjs')], interactiveMode: 'Never' } }),
  );
  const connection = loadKubeConnection(join(dir, 'config'), {});
  t.same(await connection.credentials.authorize(), { header: 'Bearer from-plugin' });
});

void t.test('an exec command with a path separator is relative to the kubeconfig\'s directory; a bare name is looked up on PATH', async (t) => {
  const credential = (token: string): string =>
    `#!${process.execPath}\nprocess.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: '${token}' } }));\n`;
  const dir = t.testdir({ cluster: { bin: { plugin: credential('relative') } }, path: { 'wi-test-plugin': credential('on-path') } });
  chmodSync(join(dir, 'cluster', 'bin', 'plugin'), 0o755);
  chmodSync(join(dir, 'path', 'wi-test-plugin'), 0o755);
  const exec = (command: string, env: { name: string; value: string }[] = []) => ({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command, env, interactiveMode: 'Never' } });
  writeFileSync(join(dir, 'cluster', 'relative'), simple('https://x', exec('./bin/plugin')));
  writeFileSync(join(dir, 'cluster', 'bare'), simple('https://x', exec('wi-test-plugin', [{ name: 'PATH', value: join(dir, 'path') }])));
  t.not(process.cwd(), join(dir, 'cluster'), 'run from elsewhere');
  t.same(await loadKubeConnection(join(dir, 'cluster', 'relative'), {}).credentials.authorize(), { header: 'Bearer relative' });
  t.same(await loadKubeConnection(join(dir, 'cluster', 'bare'), {}).credentials.authorize(), { header: 'Bearer on-path' });
});

void t.test('errors name the file, the context and the field', async (t) => {
  const dir = t.testdir({
    'no-current': kubeconfig({}),
    'bad-context': kubeconfig({ current: 'gone' }),
    'no-cluster': kubeconfig({ contexts: [{ name: 'ctx', context: { cluster: 'gone' } }], current: 'ctx' }),
    'bad-server': simple('ftp://x'),
    proxy: kubeconfig({ clusters: [{ name: 'c', cluster: { server: 'https://x', 'proxy-url': 'socks5://p:1080' } }], contexts: [{ name: 'ctx', context: { cluster: 'c' } }], current: 'ctx' }),
    'ca-missing': kubeconfig({ clusters: [{ name: 'c', cluster: { server: 'https://x', 'certificate-authority': 'nope.crt' } }], contexts: [{ name: 'ctx', context: { cluster: 'c' } }], current: 'ctx' }),
    'cert-only': simple('https://x', { 'client-certificate-data': b64('CERT') }),
    'not-yaml': 'clusters: [',
    list: '- a\n- b\n',
  });
  const cases: [string, RegExp][] = [
    ['no-current', /no-current: current-context is not set/],
    ['bad-context', /bad-context: context "gone" is not defined/],
    ['no-cluster', /no-cluster: cluster "gone" is not defined/],
    ['bad-server', /bad-server: cluster "c": server: must be an https:\/\/ \(or http:\/\/\) URL/],
    ['proxy', /\(context ctx\): cluster "c" sets proxy-url, which is not supported/],
    ['ca-missing', /certificate-authority: cannot read .*nope\.crt/],
    ['cert-only', /user "u" has a client certificate without a key/],
    ['not-yaml', /kubeconfig .*not-yaml: /],
    ['list', /list: not a kubeconfig/],
    ['absent', /--kubeconfig .*absent: no such file/],
  ];
  for (const [file, pattern] of cases) {
    try {
      loadKubeConnection(join(dir, file), {});
      t.fail(`${file}: no error`);
    } catch (err) {
      t.ok(isAppError(err, 'WIA_ERR_KUBECONFIG_INVALID'), `${file}: typed`);
      t.match((err as Error).message, pattern, file);
    }
  }
});

void t.test('tokenFile wins over token and is read again; the literal token is used only while the file cannot be read (client-go)', async (t) => {
  const dir = t.testdir({ 'token-file': 'from-file\n' });
  writeFileSync(join(dir, 'config'), simple('https://x', { token: 'literal', tokenFile: 'token-file' }));
  const credentials = loadKubeConnection(join(dir, 'config'), {}).credentials;
  t.same(await credentials.authorize(), { header: 'Bearer from-file' }, 'the file, relative to the kubeconfig, wins');
  writeFileSync(join(dir, 'token-file'), 'rotated');
  t.same(await credentials.authorize(), { header: 'Bearer from-file' }, 'cached within the minute');
  credentials.refresh?.({ header: 'Bearer from-file' });
  t.same(await credentials.authorize(), { header: 'Bearer rotated' }, 'read again at once after a 401');

  writeFileSync(join(dir, 'missing-file'), simple('https://x', { token: 'literal', tokenFile: 'nowhere' }));
  t.same(await loadKubeConnection(join(dir, 'missing-file'), {}).credentials.authorize(), { header: 'Bearer literal' }, 'an unreadable file falls back to the token');
});

void t.test('the namespace comes from the context, or from the pod\'s ServiceAccount mount', async (t) => {
  const dir = t.testdir({
    ns: kubeconfig({ clusters: [{ name: 'c', cluster: { server: 'https://x' } }], contexts: [{ name: 'ctx', context: { cluster: 'c', namespace: 'team-a' } }], current: 'ctx' }),
    'no-ns': simple('https://x'),
    sa: { token: 't', 'ca.crt': CA, namespace: 'wi-system\n' },
    'sa-no-ns': { token: 't', 'ca.crt': CA },
  });
  t.equal(loadKubeConnection(join(dir, 'ns'), {}).namespace, 'team-a');
  t.equal(loadKubeConnection(join(dir, 'no-ns'), {}).namespace, undefined);
  const inCluster = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
  t.equal(loadKubeConnection('', inCluster, { inClusterDir: join(dir, 'sa') }).namespace, 'wi-system');
  t.equal(loadKubeConnection('', inCluster, { inClusterDir: join(dir, 'sa-no-ns') }).namespace, undefined);
});

void t.test('impersonation, insecure-skip-tls-verify with a CA, an interactive plugin and unknown auth-providers are refused in one line naming the entry', async (t) => {
  const withCluster = (cluster: Record<string, unknown>, user: Record<string, unknown> = { token: 't' }) =>
    kubeconfig({ clusters: [{ name: 'c', cluster: { server: 'https://x', ...cluster } }], users: [{ name: 'ops', user }], contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'ops' } }], current: 'ctx' });
  const dir = t.testdir({
    as: withCluster({}, { token: 't', as: 'system:admin' }),
    groups: withCluster({}, { token: 't', 'as-groups': ['system:masters'] }),
    insecure: withCluster({ 'insecure-skip-tls-verify': true, 'certificate-authority-data': b64(CA) }),
    interactive: withCluster({}, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'kubelogin', interactiveMode: 'Always' } }),
    provider: withCluster({}, { 'auth-provider': { name: 'openstack', config: {} } }),
    both: withCluster({}, { exec: { command: 'x' }, 'auth-provider': { name: 'oidc' } }),
  });
  const cases: [string, RegExp][] = [
    ['as', /\(context ctx\): user "ops" sets as \(impersonation\), which is not supported; give the webhook a user that is allowed to read ServiceAccounts itself$/],
    ['groups', /user "ops" sets as-groups \(impersonation\), which is not supported/],
    ['insecure', /cluster "c" sets both insecure-skip-tls-verify and a certificate-authority, which client-go refuses too; remove one of them$/],
    ['interactive', /user "ops": the exec plugin needs an interactive terminal \(interactiveMode: Always\)/],
    ['provider', /user "ops": auth-provider "openstack" is not supported \(supported: azure, gcp, oidc, or an exec plugin\)$/],
    ['both', /user "ops" sets both exec and auth-provider/],
  ];
  for (const [file, pattern] of cases) {
    try {
      loadKubeConnection(join(dir, file), {});
      t.fail(`${file}: accepted`);
    } catch (err) {
      t.ok(isAppError(err, 'WIA_ERR_KUBECONFIG_INVALID'), `${file}: typed`);
      t.match((err as Error).message, pattern, file);
      t.notMatch((err as Error).message, /\n/, `${file}: one line`);
    }
  }
});
