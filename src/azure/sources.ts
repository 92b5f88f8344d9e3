import type { TokenCredential } from '@azure/identity';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { ArmMsiIdentitySource, createDefaultArmCredential, parseArmScope, type ArmMsiIdentitySourceOptions, type ArmScope } from './arm-source.js';
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

/** The sources for the `--identities` values (as text or parsed), in order. */
export function createIdentitySources(specs: readonly (string | IdentitySourceSpec)[], deps: IdentitySourceDeps): IdentitySource[] {
  let credential = deps.credential;
  return specs.map((value) => {
    const spec = typeof value === 'string' ? parseIdentitySourceSpec(value) : value;
    if (spec.kind === 'file') return new FileIdentitySource(spec.path, { log: deps.log });
    credential ??= createDefaultArmCredential();
    return new ArmMsiIdentitySource({
      scope: spec.scope,
      credential,
      log: deps.log,
      ...(deps.armEndpoint ? { endpoint: deps.armEndpoint } : {}),
      ...(deps.onArmRequest ? { onArmRequest: deps.onArmRequest } : {}),
    });
  });
}
