/**
 * `npm run certs`: a development CA and a server certificate for
 * localhost/127.0.0.1/::1 in certs/ (git-ignored). Existing files are kept
 * unless --force is given, so a running server is not disturbed.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDevCertificates } from '../src/certs/issue.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'certs');
const force = process.argv.includes('--force');
if (!force && existsSync(join(dir, 'tls.crt')) && existsSync(join(dir, 'tls.key')) && existsSync(join(dir, 'ca.crt'))) {
  console.log(`certs/ already has ca.crt, tls.crt and tls.key (use --force to replace them)`);
} else {
  mkdirSync(dir, { recursive: true });
  await writeDevCertificates(dir, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
  console.log(`wrote ${join('certs', 'ca.crt')}, ${join('certs', 'tls.crt')}, ${join('certs', 'tls.key')}`);
}
