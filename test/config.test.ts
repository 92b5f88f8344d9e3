import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../src/config.js';

const ENV = { AZURE_TENANT_ID: 'tenant-a' };

void t.test('defaults match upstream and DESIGN §6', async (t) => {
  const loaded = loadConfig([], ENV);
  if (!loaded.ok) throw new Error(loaded.error);
  t.match(loaded.config, {
    webhookAddr: { host: '0.0.0.0', port: 9443 },
    healthAddr: { port: 9440 },
    metricsAddr: { port: 8095 },
    webhookCertDir: '/certs',
    tlsMinVersion: 'TLSv1.3',
    audience: 'api://AzureADTokenExchange',
    authorityHost: 'https://login.microsoftonline.com/',
    defaultTenantId: 'tenant-a',
    logLevel: 'info',
    podNamespace: undefined,
    proxyImage: 'mcr.microsoft.com/oss/azure/workload-identity/proxy:v1.6.0',
    proxyInitImage: 'mcr.microsoft.com/oss/azure/workload-identity/proxy-init:v1.6.0',
    kubernetesVersion: undefined,
    customTokenEndpoint: undefined,
  });
  t.ok(Object.isFrozen(loaded.config), 'the config is frozen');
});

void t.test('flag beats env beats --config file beats default', async (t) => {
  const dir = t.testdir({ 'cfg.yaml': 'webhook-addr: "127.0.0.1:1111"\nhealth-addr: "127.0.0.1:2222"\nmetrics-addr: "127.0.0.1:3333"\n' });
  const loaded = loadConfig(['--config', join(dir, 'cfg.yaml'), '--webhook-addr', '127.0.0.1:7777'], {
    ...ENV,
    WI_ADMISSION_WEBHOOK_ADDR: '127.0.0.1:8888',
    WI_ADMISSION_HEALTH_ADDR: '[::1]:9999',
  });
  if (!loaded.ok) throw new Error(loaded.error);
  t.same(loaded.config.webhookAddr, { host: '127.0.0.1', port: 7777 }, 'flag wins');
  t.same(loaded.config.healthAddr, { host: '::1', port: 9999 }, 'env beats the file');
  t.same(loaded.config.metricsAddr, { host: '127.0.0.1', port: 3333 }, 'the file beats the default');
});

void t.test('upstream environment, CONFIG_ prefix first', async (t) => {
  const loaded = loadConfig(['--log-level='], {
    AZURE_TENANT_ID: 'plain',
    CONFIG_AZURE_TENANT_ID: 'prefixed',
    AZURE_ENVIRONMENT: 'azureusgovernment',
    PROXY_IMAGE: 'registry.local/proxy:1',
    POD_NAMESPACE: 'wi-system',
  });
  if (!loaded.ok) throw new Error(loaded.error);
  t.equal(loaded.config.defaultTenantId, 'prefixed');
  t.equal(loaded.config.authorityHost, 'https://login.microsoftonline.us/');
  t.equal(loaded.config.proxyImage, 'registry.local/proxy:1');
  t.equal(loaded.config.podNamespace, 'wi-system');
  t.equal(loaded.config.logLevel, '', 'upstream\'s empty level (warnings only) is accepted');
  const empty = loadConfig([], { AZURE_TENANT_ID: 't', AZURE_ENVIRONMENT: '' });
  t.equal(empty.ok && empty.config.authorityHost, 'https://login.microsoftonline.com/', 'set-but-empty cloud is the public cloud');
});

void t.test('errors name the flag and its env var', async (t) => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [[], {}, /AZURE_TENANT_ID: required/],
    [[], { AZURE_TENANT_ID: '' }, /AZURE_TENANT_ID: required/],
    [['--tls-min-version', '1.1'], ENV, /--tls-min-version \(WI_ADMISSION_TLS_MIN_VERSION\): must be 1\.2 or 1\.3/],
    [['--webhook-addr', 'localhost'], ENV, /--webhook-addr \(WI_ADMISSION_WEBHOOK_ADDR\): "localhost" is not an address/],
    [['--log-level', 'verbose'], ENV, /--log-level \(WI_ADMISSION_LOG_LEVEL\): must be one of/],
    [['--metrics-backend', 'otel'], ENV, /--metrics-backend.*only prometheus/],
    [['--sa-lookup-timeout', 'soon'], ENV, /not a duration/],
    [['--cert-validity', '5s'], ENV, /--cert-validity \(WI_ADMISSION_CERT_VALIDITY\): must be at least 10s/],
    [['--cert-validity', '1h', '--cert-ca-validity', '2h'], ENV, /--cert-ca-validity \(WI_ADMISSION_CERT_CA_VALIDITY\): must be at least 3 times --cert-validity/],
    [['--no-such-flag'], ENV, /^unknown flag --no-such-flag; see "wi-admission serve --help"$/],
    [[], { ...ENV, AZURE_ENVIRONMENT: 'AzureMarsCloud' }, /There is no cloud environment matching the name "AZUREMARSCLOUD"/],
    [['--custom-token-endpoint-audience', 'api://AKSIdentityBinding'], ENV, /annotation suffix cannot be empty when audience is set/],
    [['--custom-token-endpoint-annotation-suffix', 'identity-binding'], ENV, /audience cannot be empty when annotation suffix is set/],
    [['--custom-token-endpoint-annotation-suffix', 'x', '--custom-token-endpoint-audience', 'API://AzureADTokenExchange'], ENV, /cannot be equal to default audience/],
    [['--custom-token-endpoint-annotation-suffix', 'bad/suffix', '--custom-token-endpoint-audience', 'api://x'], ENV, /annotation key "azure\.workload\.identity\/use-bad\/suffix" is not valid/],
    [['--custom-token-endpoint-annotation-suffix', 'x'.repeat(60), '--custom-token-endpoint-audience', 'api://x'], ENV, /is not valid/],
    [['--custom-token-endpoint-annotation-suffix', 'ib', '--custom-token-endpoint-audience', 'api://x'], { ...ENV, AZURE_KUBERNETES_CA_DATA: 'pem', AZURE_KUBERNETES_CA_CONFIGMAP_NAME: 'ca' }, /set at most one/],
    [['--custom-token-endpoint-annotation-suffix', 'ib', '--custom-token-endpoint-audience', 'api://x'], { ...ENV, AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR: '{}' }, /requires AZURE_KUBERNETES_CA_CTB_SIGNER_NAME/],
    [[], { ...ENV, AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR: '[1]' }, /AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR: is not a JSON LabelSelector object/],
  ];
  for (const [argv, env, pattern] of cases) {
    const loaded = loadConfig(argv, env);
    t.equal(loaded.ok, false, `${argv.join(' ')} ${JSON.stringify(env)} is rejected`);
    if (!loaded.ok) t.match(loaded.error, pattern);
  }
  const dir = t.testdir({ 'bad.yaml': 'webhook-adr: ":1"\n' });
  const bad = loadConfig(['--config', join(dir, 'bad.yaml')], ENV);
  t.match(bad.ok ? '' : bad.error, /unknown setting "webhook-adr"/);
});

void t.test('the custom token endpoint is built from both flags and the upstream env', async (t) => {
  const loaded = loadConfig(['--custom-token-endpoint-annotation-suffix', 'identity-binding', '--custom-token-endpoint-audience', 'api://AKSIdentityBinding'], {
    ...ENV,
    AZURE_KUBERNETES_TOKEN_PROXY: 'https://proxy.local',
    AZURE_KUBERNETES_SNI_NAME: 'sni.local',
    AZURE_KUBERNETES_CA_CTB_SIGNER_NAME: 'example.com/signer',
    AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR: '{"matchLabels":{"a":"b"}}',
  });
  if (!loaded.ok) throw new Error(loaded.error);
  t.same(loaded.config.customTokenEndpoint, {
    annotation: 'azure.workload.identity/use-identity-binding',
    audience: 'api://AKSIdentityBinding',
    tokenProxy: 'https://proxy.local',
    sniName: 'sni.local',
    caData: '',
    caSource: { kind: 'clusterTrustBundle', signerName: 'example.com/signer', labelSelector: { matchLabels: { a: 'b' } } },
  });
});

void t.test('Azure Stack reads the environment file; --objects implies a version; bare --disable-cert-rotation', async (t) => {
  const dir = t.testdir({});
  writeFileSync(join(dir, 'stack.json'), JSON.stringify({ activeDirectoryEndpoint: 'https://adfs.stack/adfs/' }));
  const loaded = loadConfig(['--objects', 'x.yaml', '--disable-cert-rotation'], { ...ENV, AZURE_ENVIRONMENT: 'AzureStackCloud', AZURE_ENVIRONMENT_FILEPATH: join(dir, 'stack.json') });
  if (!loaded.ok) throw new Error(loaded.error);
  t.equal(loaded.config.authorityHost, 'https://adfs.stack/adfs/');
  t.equal(loaded.config.kubernetesVersion, 'v1.32.0');
});

void t.test('--cert-mode self: the Secret, the hosts (empty means the namespace default, decided at start), and the lifetimes', async (t) => {
  const defaults = loadConfig(['--cert-mode', 'self'], { ...ENV, HOSTNAME: 'wi-admission-7d9f-abcde' });
  if (!defaults.ok) throw new Error(defaults.error);
  t.same(defaults.config.selfManagedCertificates, { secretName: 'wi-admission-tls', hosts: [], webhookConfiguration: 'wi-admission', leafValidityMs: 365 * 86_400_000, caValidityMs: 3650 * 86_400_000 });
  t.equal(defaults.config.replicaId, 'wi-admission-7d9f-abcde', 'the pod name');
  t.equal(defaults.config.podNamespace, undefined, 'no POD_NAMESPACE: decided from the kubeconfig or the pod at start');

  const short = loadConfig(['--cert-mode', 'self', '--cert-hosts', 'a.svc, 127.0.0.1', '--cert-validity', '20s'], { ...ENV, WI_ADMISSION_CERT_CA_VALIDITY: '1m', POD_NAMESPACE: 'wi' });
  if (!short.ok) throw new Error(short.error);
  t.match(short.config.selfManagedCertificates, { hosts: ['a.svc', '127.0.0.1'], leafValidityMs: 20_000, caValidityMs: 60_000 });
  t.equal(short.config.podNamespace, 'wi');
  t.match(short.config.replicaId, /-\d+$/, 'without HOSTNAME: host name and process id');
});
