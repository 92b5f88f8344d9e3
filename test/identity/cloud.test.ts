import t from 'tap';
import { resolveAuthorityHost } from '../../src/identity/cloud.js';

const noFile = (): string => {
  throw new Error('not read');
};

const cases: [string, string][] = [
  ['', 'https://login.microsoftonline.com/'],
  ['AzurePublicCloud', 'https://login.microsoftonline.com/'],
  ['azurecloud', 'https://login.microsoftonline.com/'],
  ['AZUREUSGOVERNMENTCLOUD', 'https://login.microsoftonline.us/'],
  ['AzureUSGovernment', 'https://login.microsoftonline.us/'],
  ['AzureChinaCloud', 'https://login.chinacloudapi.cn/'],
  ['AzureGermanCloud', 'https://login.microsoftonline.de/'],
];
for (const [name, host] of cases) {
  t.same(resolveAuthorityHost(name, noFile), { ok: true, authorityHost: host }, `${JSON.stringify(name)} → ${host}`);
}

t.same(
  resolveAuthorityHost('AzureMarsCloud', noFile),
  { ok: false, error: 'autorest/azure: There is no cloud environment matching the name "AZUREMARSCLOUD"' },
  'an unknown cloud is an error with upstream text',
);
t.same(
  resolveAuthorityHost('AzureStackCloud', () => JSON.stringify({ activeDirectoryEndpoint: 'https://adfs.local.azurestack.external/adfs/' })),
  { ok: true, authorityHost: 'https://adfs.local.azurestack.external/adfs/' },
  'Azure Stack reads activeDirectoryEndpoint from the environment file',
);
t.match(resolveAuthorityHost('AzureStackCloud', () => '{}'), { ok: false, error: /no activeDirectoryEndpoint/ });
t.match(resolveAuthorityHost('AzureStackCloud', noFile), { ok: false, error: /cannot read the AzureStackCloud environment file: not read/ });
