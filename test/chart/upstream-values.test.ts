// Upstream's values file on our chart: every top-level key of the
// workload-identity-webhook v1.6.0 chart, set to a non-default value in
// test/fixtures/chart/upstream-every-key.yaml, renders through a real helm with
// upstream's meaning. Each key's effect is asserted in the rendered objects,
// and where it reaches the server, through the server's own loadConfig on the
// rendered container. Refusals name the value; the custom token endpoint's are
// the server's start-up rules, so each is checked against loadConfig as well.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { CHART, findObject, loadContainerConfig, renderChart, renderChartError, webhookContainer, type K8sObject } from '../helpers/chart.js';
import { helmBinary } from '../helpers/helm.js';

const EVERY_KEY = new URL('../fixtures/chart/upstream-every-key.yaml', import.meta.url).pathname;
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const SELECTOR_LABELS = { 'app.kubernetes.io/name': 'wi-admission', 'app.kubernetes.io/instance': 'wi' };

type PodSpec = Record<string, unknown> & { containers: Record<string, unknown>[] };
type Deployment = { spec: { replicas: number; revisionHistoryLimit?: number; template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: PodSpec } } };
type Webhook = { clientConfig: { service?: { port: number } }; namespaceSelector: unknown };
type WebhookConfiguration = K8sObject & { webhooks: Webhook[] };

const deploymentOf = (objects: K8sObject[]): Deployment => findObject(objects, 'Deployment') as unknown as Deployment;
const mutatingOf = (objects: K8sObject[]): WebhookConfiguration => findObject(objects, 'MutatingWebhookConfiguration') as WebhookConfiguration;

function helmRun(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(helmBinary(), args, { encoding: 'utf8' });
}

void t.test('helm lint --strict is clean with the upstream values file, and helm template prints no warning', async (t) => {
  const lint = helmRun(['lint', '--strict', CHART, '-f', EVERY_KEY]);
  t.equal(lint.status, 0);
  t.match(lint.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  t.notMatch(lint.stdout, /\[(INFO|WARNING|ERROR)\]/, 'not even an informational finding');
  t.equal(lint.stderr, '', 'no refusal swallowed by lint mode');
  const template = helmRun(['template', 'wi', CHART, '-n', 'wi-system', '-f', EVERY_KEY]);
  t.equal(template.status, 0);
  t.equal(template.stderr, '');
});

void t.test('every upstream key has upstream\'s meaning', async (t) => {
  const objects = renderChart(['-f', EVERY_KEY]);
  const deployment = deploymentOf(objects);
  const pod = deployment.spec.template.spec;
  const container = webhookContainer(objects);
  const loaded = loadContainerConfig(container);
  if (!loaded.ok) throw new Error(`the server refuses the rendered container: ${loaded.error}`);
  const config = loaded.config;
  const service = findObject(objects, 'Service') as unknown as { spec: { type: string; ports: { name: string; port: number; targetPort: string }[] } };
  const mutating = mutatingOf(objects);
  const port = (name: string): number | undefined => container.ports.find((p) => p.name === name)?.containerPort;

  t.equal(deployment.spec.replicas, 3, 'replicaCount');
  t.equal(deployment.spec.revisionHistoryLimit, 4, 'revisionHistoryLimit');
  t.equal(container.image, 'registry.example/platform/wi-admission:v9.8.7', 'image.repository and image.release (the tag)');
  t.equal(container.imagePullPolicy, 'Always', 'image.pullPolicy');
  t.same(pod.imagePullSecrets, [{ name: 'registry-credentials' }], 'imagePullSecrets');
  t.same(pod.nodeSelector, { 'kubernetes.io/os': 'linux', 'node.example/pool': 'system' }, 'nodeSelector');
  t.same(container.resources, { limits: { cpu: '1500m', memory: '1Gi' }, requests: { cpu: '250m', memory: '300Mi' } }, 'resources');
  t.same(pod.tolerations, [{ key: 'CriticalAddonsOnly', operator: 'Exists', effect: 'NoSchedule' }], 'tolerations');
  t.match(pod.affinity, { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.azure.com/mode', values: ['system'] }] }] } } }, 'affinity');
  t.same(pod.topologySpreadConstraints, [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: SELECTOR_LABELS } }], 'topologySpreadConstraints, spreading the webhook\'s own pods');

  t.equal(service.spec.type, 'NodePort', 'service.type');
  t.same(service.spec.ports.find((p) => p.name === 'https'), { name: 'https', port: 8443, targetPort: 'webhook', protocol: 'TCP' }, 'service.port on the Service');
  t.equal(mutating.webhooks[0]?.clientConfig.service?.port, 8443, 'service.port is the port the API server calls');
  t.equal(port('webhook'), 10443, 'service.targetPort is the container port behind it');
  t.same(config.webhookAddr, { host: '0.0.0.0', port: 10443 }, 'and the port the server listens on');

  t.equal(config.authorityHost, 'https://login.microsoftonline.us/', 'azureEnvironment reaches the server');
  t.equal(config.defaultTenantId, '0c8b4a5e-2f6d-4e3a-9b1c-7d5e3f2a1b0c', 'azureTenantID reaches the server');
  t.equal(config.logLevel, 'debug', 'logLevel');
  t.same(config.metricsAddr, { host: '0.0.0.0', port: 9095 }, 'metricsAddr is the server\'s --metrics-addr');
  t.equal(port('metrics'), 9095, 'and the container\'s metrics port');
  t.equal(service.spec.ports.find((p) => p.name === 'metrics')?.port, 9095, 'and the Service\'s');
  t.ok(container.args.includes('--metrics-backend=Prometheus'), 'metricsBackend, in upstream\'s any case, is accepted by the server');
  t.equal(pod.priorityClassName, 'platform-critical', 'priorityClassName');

  t.same(mutating.metadata.annotations, { 'admissions.enforcer/disabled': 'true' }, 'mutatingWebhookAnnotations');
  t.same(deployment.spec.template.metadata.labels, { ...SELECTOR_LABELS, team: 'platform' }, 'podLabels');
  t.match(deployment.spec.template.metadata.annotations, { 'prometheus.io/scrape': 'true', 'checksum/config': /^[0-9a-f]{64}$/ }, 'podAnnotations');
  t.same(mutating.webhooks[0]?.namespaceSelector, {
    matchLabels: { 'azure-workload-identity': 'enabled' },
    matchExpressions: [
      { key: 'tier', operator: 'NotIn', values: ['sandbox'] },
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['wi-system', 'kube-system'] },
    ],
  }, 'mutatingWebhookNamespaceSelector narrows the mutating webhook; the chart\'s exclusions stay');
  t.same((findObject(objects, 'PodDisruptionBudget') as unknown as { spec: Record<string, unknown> }).spec, { maxUnavailable: 1, selector: { matchLabels: SELECTOR_LABELS } }, 'podDisruptionBudget.maxUnavailable, minAvailable: null');

  t.same(config.customTokenEndpoint, {
    annotation: 'azure.workload.identity/use-identity-binding',
    audience: 'api://AKSIdentityBinding',
    tokenProxy: 'https://ib.example.internal:443',
    sniName: 'ib.example.internal',
    caData: '',
    caSource: { kind: 'configMap', name: 'identity-binding-ca' },
  }, 'customTokenEndpoint: annotationSuffix, audience, azureKubernetesTokenProxy, azureKubernetesSniName, azureKubernetesCAConfigMapName');

  t.equal(config.proxyImage, 'registry.example/oss/azure/workload-identity/proxy:v1.6.0', 'extraEnv reaches the server (PROXY_IMAGE)');
  t.ok(container.env.some((e) => e.name === 'AZURE_ENVIRONMENT_FILEPATH' && e.value === '/etc/azure-stack/environment.json'), 'every extraEnv entry is in the container');
  t.ok((pod.volumes as { name: string; configMap?: { name: string } }[]).some((v) => v.name === 'azure-stack' && v.configMap?.name === 'azure-stack-environment'), 'extraVolumes');
  t.ok(container.volumeMounts.some((m) => m.name === 'azure-stack' && m.mountPath === '/etc/azure-stack'), 'extraVolumeMounts');
});

void t.test('the other two CA sources of the custom token endpoint reach the server', async (t) => {
  const withCa = (values: string[]): ReturnType<typeof loadContainerConfig> =>
    loadContainerConfig(webhookContainer(renderChart(['-f', EVERY_KEY, '--set', 'customTokenEndpoint.azureKubernetesCAConfigMapName=', ...values])));
  const inline = withCa(['--set', 'customTokenEndpoint.azureKubernetesCaData=LS0tLS1CRUdJTi1DRVJU']);
  t.match(inline.ok && inline.config.customTokenEndpoint, { caData: 'LS0tLS1CRUdJTi1DRVJU', caSource: { kind: 'none' } }, 'azureKubernetesCaData');
  const bundle = withCa(['--set', 'customTokenEndpoint.azureKubernetesCACTBSignerName=example.com/identity-binding', '--set-json', `customTokenEndpoint.azureKubernetesCACTBLabelSelector=${JSON.stringify('{"matchLabels":{"ca":"identity-binding"}}')}`]);
  t.same(bundle.ok && bundle.config.customTokenEndpoint?.caSource, { kind: 'clusterTrustBundle', signerName: 'example.com/identity-binding', labelSelector: { matchLabels: { ca: 'identity-binding' } } }, 'azureKubernetesCACTBSignerName and azureKubernetesCACTBLabelSelector');
});

void t.test('defaults that keep a failurePolicy Fail webhook alive', async (t) => {
  const objects = renderChart(['--set', `azureTenantID=${TENANT}`]);
  const pod = deploymentOf(objects).spec.template.spec;
  t.equal(pod.priorityClassName, 'system-cluster-critical', 'not preempted, as upstream');
  t.same(webhookContainer(objects).resources, { requests: { cpu: '100m', memory: '192Mi' }, limits: { cpu: '1', memory: '384Mi' } }, 'memory request above the RSS measured with 50,000 ServiceAccounts (191 MiB), limit twice it');
  t.same((findObject(objects, 'PodDisruptionBudget') as unknown as { spec: Record<string, unknown> }).spec, { minAvailable: 1, selector: { matchLabels: SELECTOR_LABELS } }, 'a disruption budget of one');
  t.same(pod.topologySpreadConstraints, [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: SELECTOR_LABELS } }], 'replicas spread over nodes');
  t.equal(deploymentOf(objects).spec.revisionHistoryLimit, undefined, 'revisionHistoryLimit left to Kubernetes unless set');
  const standalone = loadContainerConfig(webhookContainer(objects));
  t.ok(standalone.ok && standalone.config.metricsAddr.port === 8095, 'metricsAddr defaults to upstream\'s :8095');
});

void t.test('upstream\'s own defaults (its README) render, except its image and its memory limit, which are refused by name', async (t) => {
  // Upstream's values.yaml defaults as its README documents them.
  const upstreamDefaults = [
    '--set', `azureTenantID=${TENANT}`, '--set', 'replicaCount=2', '--set', 'image.pullPolicy=IfNotPresent',
    '--set-json', 'imagePullSecrets=[]', '--set', 'nodeSelector.kubernetes\\.io/os=linux', '--set-json', 'tolerations=[]', '--set-json', 'affinity={}',
    '--set-json', 'topologySpreadConstraints=[]', '--set', 'service.type=ClusterIP', '--set', 'service.port=443', '--set', 'service.targetPort=9443',
    '--set', 'azureEnvironment=AzurePublicCloud', '--set', 'logLevel=info', '--set', 'metricsAddr=:8095', '--set', 'metricsBackend=prometheus',
    '--set', 'priorityClassName=system-cluster-critical', '--set-json', 'mutatingWebhookAnnotations={}', '--set-json', 'podLabels={}', '--set-json', 'podAnnotations={}',
    '--set-json', 'mutatingWebhookNamespaceSelector={}', '--set', 'podDisruptionBudget.minAvailable=1',
    '--set-json', 'customTokenEndpoint={"annotationSuffix":"","audience":"","azureKubernetesCaData":"","azureKubernetesSniName":"","azureKubernetesTokenProxy":"","azureKubernetesCAConfigMapName":"","azureKubernetesCACTBSignerName":"","azureKubernetesCACTBLabelSelector":""}',
    '--set-json', 'extraEnv=[]', '--set-json', 'extraVolumes=[]', '--set-json', 'extraVolumeMounts=[]',
  ];
  const objects = renderChart(upstreamDefaults);
  const loaded = loadContainerConfig(webhookContainer(objects));
  t.ok(loaded.ok, `the server accepts them: ${loaded.ok ? '' : loaded.error}`);
  t.notOk(deploymentOf(objects).spec.template.spec.topologySpreadConstraints, 'upstream\'s empty spread means none');
  t.match(renderChartError([...upstreamDefaults, '--set', 'image.repository=mcr.microsoft.com/oss/azure/workload-identity/webhook', '--set', 'image.release=v1.6.0']),
    /image\.repository "mcr\.microsoft\.com\/oss\/azure\/workload-identity\/webhook" is upstream's webhook image, which does not run wi-admission: remove image\.repository and image\.release/);
  t.match(renderChartError([...upstreamDefaults, '--set', 'resources.limits.cpu=100m', '--set', 'resources.limits.memory=30Mi', '--set', 'resources.requests.memory=20Mi']),
    /resources\.limits\.memory 30Mi is below 128Mi: .*would be OOM-killed/);
});

void t.test('a misspelt or unsupported key fails with its name, at every level', async (t) => {
  const cases: [string, RegExp][] = [
    ['replicaCont=3', /at '': additional properties 'replicaCont' not allowed/],
    ['image.relase=v1', /at '\/image': additional properties 'relase' not allowed/],
    ['service.prot=1', /at '\/service': additional properties 'prot' not allowed/],
    ['customTokenEndpoint.audiance=x', /at '\/customTokenEndpoint': additional properties 'audiance' not allowed/],
    ['podDisruptionBudget.maxUnavaliable=1', /at '\/podDisruptionBudget': additional properties 'maxUnavaliable' not allowed/],
    ['server.extraEnv[0].name=X', /at '\/server': additional properties 'extraEnv' not allowed/],
    ['webhook.failurPolicy=Fail', /at '\/webhook': additional properties 'failurPolicy' not allowed/],
  ];
  for (const [value, pattern] of cases) t.match(renderChartError(['--set', `azureTenantID=${TENANT}`, '--set', value]), pattern, value);
});

void t.test('values the server would refuse at start-up are refused at install time, naming the value', async (t) => {
  // [values, chart message, the same setting given to the server, the server's message]
  const cases: [string[], RegExp, string[], Record<string, string>, RegExp][] = [
    [['--set', 'customTokenEndpoint.annotationSuffix=identity-binding'], /customTokenEndpoint\.annotationSuffix and customTokenEndpoint\.audience go together/,
      ['--custom-token-endpoint-annotation-suffix=identity-binding'], {}, /audience cannot be empty/],
    [['--set', 'customTokenEndpoint.audience=api://AKSIdentityBinding'], /customTokenEndpoint\.annotationSuffix and customTokenEndpoint\.audience go together/,
      ['--custom-token-endpoint-audience=api://AKSIdentityBinding'], {}, /annotation suffix cannot be empty/],
    [['--set', 'customTokenEndpoint.annotationSuffix=ib', '--set', 'customTokenEndpoint.audience=API://AzureADTokenExchange'], /cannot be the default audience/,
      ['--custom-token-endpoint-annotation-suffix=ib', '--custom-token-endpoint-audience=API://AzureADTokenExchange'], {}, /cannot be equal to default audience/],
    [['--set', 'customTokenEndpoint.annotationSuffix=ib', '--set', 'customTokenEndpoint.audience=api://ib', '--set', 'customTokenEndpoint.azureKubernetesCaData=Q0E=', '--set', 'customTokenEndpoint.azureKubernetesCAConfigMapName=ca'],
      /customTokenEndpoint\.azureKubernetesCaData, customTokenEndpoint\.azureKubernetesCAConfigMapName: set at most one CA source/,
      ['--custom-token-endpoint-annotation-suffix=ib', '--custom-token-endpoint-audience=api://ib'], { AZURE_KUBERNETES_CA_DATA: 'Q0E=', AZURE_KUBERNETES_CA_CONFIGMAP_NAME: 'ca' }, /set at most one/],
    [['--set', 'customTokenEndpoint.annotationSuffix=ib', '--set', 'customTokenEndpoint.audience=api://ib', '--set-json', `customTokenEndpoint.azureKubernetesCACTBLabelSelector=${JSON.stringify('{"matchLabels":{}}')}`],
      /azureKubernetesCACTBLabelSelector needs customTokenEndpoint\.azureKubernetesCACTBSignerName/,
      ['--custom-token-endpoint-annotation-suffix=ib', '--custom-token-endpoint-audience=api://ib'], { AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR: '{"matchLabels":{}}' }, /requires AZURE_KUBERNETES_CA_CTB_SIGNER_NAME/],
    [['--set', 'customTokenEndpoint.azureKubernetesCACTBLabelSelector=app=ca'], /azureKubernetesCACTBLabelSelector "app=ca" is not a JSON LabelSelector object/,
      [], { AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR: 'app=ca' }, /is not a JSON LabelSelector object/],
    [['--set', 'customTokenEndpoint.annotationSuffix=-bad-', '--set', 'customTokenEndpoint.audience=api://ib'], /at '\/customTokenEndpoint\/annotationSuffix'/,
      ['--custom-token-endpoint-annotation-suffix=-bad-', '--custom-token-endpoint-audience=api://ib'], {}, /annotation key "azure\.workload\.identity\/use--bad-" is not valid/],
    [['--set', 'metricsBackend=opencensus'], /metricsBackend "opencensus" is not supported: wi-admission exports Prometheus metrics only/,
      ['--metrics-backend=opencensus'], {}, /only prometheus is supported/],
  ];
  for (const [values, chartMessage, flags, env, serverMessage] of cases) {
    t.match(renderChartError(['--set', `azureTenantID=${TENANT}`, ...values]), chartMessage, values.filter((v) => !v.startsWith('--set')).join(' '));
    const server = loadConfig(flags, { AZURE_TENANT_ID: TENANT, ...env });
    t.match(server.ok ? '' : server.error, serverMessage, `and the server refuses it too: ${flags.join(' ')} ${Object.keys(env).join(' ')}`);
  }
});

void t.test('values that cannot work are refused at install time, naming the value', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--set', 'image.release=v2', '--set', 'image.tag=v3'], /image\.release \(v2\) and image\.tag \(v3\) both name the image tag: set one of them/],
    [['--set', 'podDisruptionBudget.minAvailable=1', '--set', 'podDisruptionBudget.maxUnavailable=1'], /podDisruptionBudget: set minAvailable or maxUnavailable, not both/],
    [['--set', 'resources.limits.memory=127Mi'], /resources\.limits\.memory 127Mi is below 128Mi/],
    [['--set', 'resources.limits.memory=100M'], /resources\.limits\.memory 100M is below 128Mi/],
    [['--set-json', 'extraEnv=[{"name":"POD_NAMESPACE","value":"x"}]'], /extraEnv: POD_NAMESPACE is set by the chart/],
    [['--set-json', 'extraVolumes=[{"name":"certs","emptyDir":{}}]'], /extraVolumes: the volume name "certs" is the chart's/],
    [['--set-json', 'extraVolumeMounts=[{"name":"x","mountPath":"/certs/"}]'], /extraVolumeMounts: the mount path "\/certs\/" is the chart's/],
    [['--set', 'metricsAddr=:9443'], /metricsAddr ":9443": port 9443 is taken by the webhook/],
    [['--set', 'metricsAddr=:9440'], /port 9440 is taken by the webhook \(service\.targetPort 9443\) or the health probes/],
    [['--set', 'metricsAddr=:0'], /metricsAddr ":0": the port must be 1-65535/],
    [['--set', 'metricsAddr=8095'], /at '\/metricsAddr'/],
    [['--set', 'service.targetPort=9440'], /service\.targetPort 9440 is the health probes' port/],
    [['--set', 'service.port=8095'], /service\.port 8095 is the Service's metrics port/],
    [['--set', 'service.type=ExternalName'], /at '\/service\/type'/],
  ];
  for (const [values, pattern] of cases) t.match(renderChartError(['--set', `azureTenantID=${TENANT}`, ...values]), pattern, values.join(' '));
  for (const memory of ['128Mi', '134217728', '0.5Gi', '1G']) {
    t.equal(renderChartError(['--set', `azureTenantID=${TENANT}`, '--set', `resources.limits.memory=${memory}`]), '', `a ${memory} limit is accepted`);
  }
});

void t.test('extraEnv replaces a variable the chart sets, as upstream\'s env wins over its ConfigMap', async (t) => {
  const container = webhookContainer(renderChart(['--set', `azureTenantID=${TENANT}`, '--set-json', 'extraEnv=[{"name":"AZURE_TENANT_ID","value":"3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9"},{"name":"PROXY_INIT_IMAGE","value":"registry.example/proxy-init:v1.6.0"}]']));
  t.same(container.env.filter((e) => e.name === 'AZURE_TENANT_ID'), [{ name: 'AZURE_TENANT_ID', value: '3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9' }], 'one AZURE_TENANT_ID, the extraEnv one (no duplicate for server-side apply to refuse)');
  const loaded = loadContainerConfig(container);
  t.match(loaded.ok && loaded.config, { defaultTenantId: '3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9', proxyInitImage: 'registry.example/proxy-init:v1.6.0' });
});

void t.test('a spread constraint with its own labelSelector is kept as written', async (t) => {
  const constraint = { maxSkew: 2, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'webhook' } } };
  const pod = deploymentOf(renderChart(['--set', `azureTenantID=${TENANT}`, '--set-json', `topologySpreadConstraints=[${JSON.stringify(constraint)}]`])).spec.template.spec;
  t.same(pod.topologySpreadConstraints, [constraint]);
});

void t.test('image.tag is accepted in place of image.release; nameOverride and fullnameOverride name the labels and objects', async (t) => {
  const objects = renderChart(['--set', `azureTenantID=${TENANT}`, '--set', 'image.tag=1.2.3', '--set', 'nameOverride=wia', '--set', 'fullnameOverride=platform-wi']);
  t.equal(webhookContainer(objects).image, 'wi-admission:1.2.3');
  t.ok(objects.every((o) => o.metadata.name === 'platform-wi' || (o.kind === 'Secret' && o.metadata.name === 'platform-wi-tls')), 'every object is named by fullnameOverride');
  t.same(deploymentOf(objects).spec.template.metadata.labels, { 'app.kubernetes.io/name': 'wia', 'app.kubernetes.io/instance': 'wi' });
  t.equal(webhookContainer(renderChart(['--set', `azureTenantID=${TENANT}`])).image, 'wi-admission:0.1.0', 'neither: the chart\'s appVersion');
});

void t.test('webhook.excludeNamespaces: [] lets the webhooks see kube-system, as upstream\'s does; the release namespace stays out', async (t) => {
  const mutating = mutatingOf(renderChart(['--set', `azureTenantID=${TENANT}`, '--set-json', 'webhook.excludeNamespaces=[]']));
  t.same(mutating.webhooks[0]?.namespaceSelector, { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['wi-system'] }] });
});
