import type { TokenCredential } from '@azure/identity';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { parseArmScope, type ArmScope } from './arm-scope.js';
import type { ArmMsiIdentitySourceOptions } from './arm-source.js';
import { FileIdentitySource } from './file-source.js';
import type { IdentitySource } from './identity-source.js';

export type IdentitySourceSpec = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'arm'; readonly scope: ArmScope };

/** An `--identities` value: `file:PATH` or `arm:/subscriptions/<id>[/resourceGroups/<rg>]`. */
export function parseIdentitySourceSpec(text: string): IdentitySourceSpec {
  if (text.startsWith('file:')) {
    const path = text.slice('file:'.length);
    if (path === '') throw new AppError('WIA_ERR_IDENTITY_SOURCE_INVALID', `identity source ${JSON.stringify(text)}: file: needs a path, e.g. file:/etc/wi-admission/identities.yaml`);
    return { kind: 'file', path };
  }
  if (text.startsWith('arm:')) return { kind: 'arm', scope: parseArmScope(text) };
  throw new AppError(
    'WIA_ERR_IDENTITY_SOURCE_INVALID',
    `identity source ${JSON.stringify(text)}: expected file:PATH or arm:/subscriptions/<subscription GUID>[/resourceGroups/<name>]`,
  );
}

export interface IdentitySourceDeps {
  readonly log: Logger;
  /** ARM sources share it; DefaultAzureCredential (created only if an arm: source exists) when not given. */
  readonly credential?: TokenCredential;
  readonly armEndpoint?: string;
  readonly onArmRequest?: ArmMsiIdentitySourceOptions['onArmRequest'];
}

/**
 * The sources for the `--identities` values (as text or parsed), in order.
 * The Azure SDK (about 25 MiB of resident memory) is loaded only when an
 * `arm:` source is among them.
 */
export async function createIdentitySources(specs: readonly (string | IdentitySourceSpec)[], deps: IdentitySourceDeps): Promise<IdentitySource[]> {
  const parsed = specs.map((value) => (typeof value === 'string' ? parseIdentitySourceSpec(value) : value));
  let arm: typeof import('./arm-source.js') | undefined;
  let credential = deps.credential;
  const sources: IdentitySource[] = [];
  for (const spec of parsed) {
    if (spec.kind === 'file') {
      sources.push(new FileIdentitySource(spec.path, { log: deps.log }));
      continue;
    }
    arm ??= await import('./arm-source.js');
    credential ??= arm.createDefaultArmCredential();
    sources.push(
      new arm.ArmMsiIdentitySource({
        scope: spec.scope,
        credential,
        log: deps.log,
        ...(deps.armEndpoint ? { endpoint: deps.armEndpoint } : {}),
        ...(deps.onArmRequest ? { onArmRequest: deps.onArmRequest } : {}),
      }),
    );
  }
  return sources;
}
