/**
 * `npm start`: the server on https://127.0.0.1:9443 with the development
 * certificates (created on first run), the example objects file instead of
 * an API server, the example policy and identities file instead of Azure,
 * and curl lines that show a mutation and a validation.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDevCertificates } from '../src/certs/issue.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const certs = join(root, 'certs');
if (!existsSync(join(certs, 'tls.crt')) || !existsSync(join(certs, 'tls.key')) || !existsSync(join(certs, 'ca.crt'))) {
  await writeDevCertificates(certs, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
  console.error('created development certificates in certs/');
}

const args = [
  '--import', 'tsx', join(root, 'src', 'main.ts'), 'serve',
  '--webhook-addr', '127.0.0.1:9443',
  '--health-addr', '127.0.0.1:9440',
  '--metrics-addr', '127.0.0.1:8095',
  '--webhook-cert-dir', certs,
  '--objects', join(root, 'examples', 'objects.yaml'),
  '--policy', join(root, 'examples', 'policy.yaml'),
  '--identities', `file:${join(root, 'examples', 'identities.json')}`,
  '--shutdown-delay', '0s',
  ...process.argv.slice(2),
];
console.error(
  [
    '',
    'wi-admission on https://127.0.0.1:9443 (readiness: http://127.0.0.1:9440/readyz, metrics: http://127.0.0.1:8095/metrics)',
    'Try a mutation (decodes the JSON patch the API server would apply):',
    `  curl -s --cacert certs/ca.crt -H 'Content-Type: application/json' --data @examples/review-pod.json https://127.0.0.1:9443/mutate-v1-pod | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const r=JSON.parse(s).response;console.log(JSON.stringify({...r,patch:r.patch&&JSON.parse(Buffer.from(r.patch,'base64'))},null,2))})"`,
    'Try a validation (a ServiceAccount binding another team\'s identity is rejected):',
    `  curl -s --cacert certs/ca.crt -H 'Content-Type: application/json' --data @examples/review-sa-denied.json https://127.0.0.1:9443/validate`,
    '',
  ].join('\n'),
);
const child = spawn(process.execPath, args, {
  stdio: 'inherit',
  env: { AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47', ...process.env },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
