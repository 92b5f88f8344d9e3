import { SERVE_FLAGS, envName } from './config.js';

export type Command = { name: 'serve'; argv: string[] } | { name: 'check'; argv: string[] } | { name: 'inventory'; argv: string[] } | { name: 'version' } | { name: 'help'; topic?: string } | { name: 'unknown'; word: string };

/**
 * `wi-admission <command> [flags]`. Flags without a command mean `serve`, so
 * upstream's container arguments (`--log-level=info --metrics-addr=:8095`)
 * work unchanged; `--version` is upstream's flag too.
 */
export function parseCommand(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined) return { name: 'help' };
  if (first === '--version' || first === 'version') return { name: 'version' };
  if (first === '--help' || first === '-h' || first === 'help') {
    // `help check` is `check --help`: each offline command prints its own.
    if (rest[0] === 'check' || rest[0] === 'inventory') return { name: rest[0], argv: ['--help'] };
    return { name: 'help', ...(rest[0] ? { topic: rest[0] } : {}) };
  }
  if (first === 'serve') {
    if (rest.includes('--help') || rest.includes('-h')) return { name: 'help', topic: 'serve' };
    if (rest.includes('--version')) return { name: 'version' };
    return { name: 'serve', argv: rest };
  }
  if (first === 'check') return { name: 'check', argv: rest };
  if (first === 'inventory') return { name: 'inventory', argv: rest };
  if (first.startsWith('--')) return parseCommand(['serve', ...argv]);
  return { name: 'unknown', word: first };
}

export function usage(): string {
  return [
    'wi-admission — admission webhook for Azure (Microsoft Entra) Workload Identity',
    '',
    'Usage:',
    '  wi-admission serve [--config FILE] [flags]   run the webhook (see "wi-admission serve --help")',
    '  wi-admission check -f PATH... [flags]        run the validation (and mutation) on manifests, offline (see "wi-admission check --help")',
    '  wi-admission inventory [flags]               who binds what: ServiceAccount, client ID, identity, approval (see "wi-admission inventory --help")',
    '  wi-admission version                         print the version as JSON',
    '',
    'Examples:',
    '  AZURE_TENANT_ID=<tenant> wi-admission serve --webhook-cert-dir certs --objects examples/objects.yaml',
    '  AZURE_TENANT_ID=<tenant> wi-admission serve --kubeconfig ~/.kube/config --webhook-addr 127.0.0.1:9443',
    '  helm template charts/shop | wi-admission check -f - --policy policy.yaml --identities file:identities.json',
  ].join('\n');
}

export function serveUsage(): string {
  const width = Math.max(...Object.keys(SERVE_FLAGS).map((f) => f.length)) + 4;
  const lines = Object.entries(SERVE_FLAGS).map(([flag, spec]) => {
    const def = spec.default === '' ? '' : ` (default ${JSON.stringify(spec.default)})`;
    return `  --${flag.padEnd(width)}${spec.help}${def}\n  ${' '.repeat(width + 2)}env ${envName(flag)}`;
  });
  return [
    'Usage: wi-admission serve [--config FILE] [flags]',
    '',
    'Flags (each also read from the env var shown; flag > env > --config file > default):',
    ...lines,
    '',
    'Upstream environment (CONFIG_<NAME> is read before <NAME>, as upstream):',
    '  AZURE_TENANT_ID (required), AZURE_ENVIRONMENT (default AzurePublicCloud), AZURE_ENVIRONMENT_FILEPATH,',
    '  PROXY_IMAGE, PROXY_INIT_IMAGE, POD_NAMESPACE, AZURE_KUBERNETES_TOKEN_PROXY, AZURE_KUBERNETES_SNI_NAME,',
    '  AZURE_KUBERNETES_CA_DATA, AZURE_KUBERNETES_CA_CONFIGMAP_NAME, AZURE_KUBERNETES_CA_CTB_SIGNER_NAME,',
    '  AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR',
    '',
    'Example:',
    '  AZURE_TENANT_ID=72f988bf-86f1-41af-91ab-2d7cd011db47 wi-admission serve \\',
    '    --webhook-cert-dir certs --objects examples/objects.yaml --health-addr 127.0.0.1:9440',
  ].join('\n');
}
