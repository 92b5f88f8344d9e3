import { DEFAULT_AUDIENCE, DEFAULT_PROXY_IMAGE, DEFAULT_PROXY_INIT_IMAGE } from '../../src/identity/constants.js';
import type { MutationSettings } from '../../src/identity/mutate-pod.js';

/** The settings of a production start-up: public cloud, a default tenant, upstream images, log level info. */
export const TEST_TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';

export function testSettings(overrides: Partial<MutationSettings> & { nativeSidecar?: boolean | undefined } = {}): MutationSettings {
  const { nativeSidecar, proxy, ...rest } = overrides;
  return {
    audience: DEFAULT_AUDIENCE,
    authorityHost: 'https://login.microsoftonline.com/',
    defaultTenantId: TEST_TENANT_ID,
    customTokenEndpoint: undefined,
    ...rest,
    proxy: {
      image: DEFAULT_PROXY_IMAGE,
      initImage: DEFAULT_PROXY_INIT_IMAGE,
      logLevel: 'info',
      nativeSidecar: 'nativeSidecar' in overrides ? nativeSidecar : false,
      ...proxy,
    },
  };
}
