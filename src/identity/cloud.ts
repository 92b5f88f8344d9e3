/**
 * Cloud name → Microsoft Entra authority host, as go-autorest's environment
 * table that upstream uses: names match case-insensitively, the trailing
 * slash is part of the value, an unknown name refuses to start.
 */
const AUTHORITY_HOSTS: ReadonlyMap<string, string> = new Map([
  ['AZUREPUBLICCLOUD', 'https://login.microsoftonline.com/'],
  ['AZURECLOUD', 'https://login.microsoftonline.com/'],
  ['AZUREUSGOVERNMENTCLOUD', 'https://login.microsoftonline.us/'],
  ['AZUREUSGOVERNMENT', 'https://login.microsoftonline.us/'],
  ['AZURECHINACLOUD', 'https://login.chinacloudapi.cn/'],
  ['AZUREGERMANCLOUD', 'https://login.microsoftonline.de/'],
]);

export const AZURE_STACK_CLOUD = 'AZURESTACKCLOUD';

export type AuthorityHost = { ok: true; authorityHost: string } | { ok: false; error: string };

/**
 * @param cloudName `AZURE_ENVIRONMENT`; empty means the public cloud.
 * @param readStackEnvironment returns the JSON text of the file at
 *   `AZURE_ENVIRONMENT_FILEPATH`; only called for `AzureStackCloud`.
 */
export function resolveAuthorityHost(
  cloudName: string,
  readStackEnvironment: () => string,
): AuthorityHost {
  const upper = cloudName.toUpperCase();
  if (upper === '') return { ok: true, authorityHost: 'https://login.microsoftonline.com/' };
  const known = AUTHORITY_HOSTS.get(upper);
  if (known) return { ok: true, authorityHost: known };
  if (upper === AZURE_STACK_CLOUD) return readStackAuthorityHost(readStackEnvironment);
  return {
    ok: false,
    error: `autorest/azure: There is no cloud environment matching the name "${upper}"`,
  };
}

function readStackAuthorityHost(readStackEnvironment: () => string): AuthorityHost {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readStackEnvironment());
  } catch (err) {
    return { ok: false, error: `cannot read the AzureStackCloud environment file: ${(err as Error).message}` };
  }
  const endpoint = (parsed as { activeDirectoryEndpoint?: unknown } | null)?.activeDirectoryEndpoint;
  if (typeof endpoint !== 'string' || endpoint === '') {
    return { ok: false, error: 'the AzureStackCloud environment file has no activeDirectoryEndpoint' };
  }
  return { ok: true, authorityHost: endpoint };
}
