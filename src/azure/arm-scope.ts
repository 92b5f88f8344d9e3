import { AppError } from '../errors.js';

/** Where identities are listed: a whole subscription, or one resource group in it. */
export interface ArmScope {
  readonly subscriptionId: string;
  readonly resourceGroup?: string;
}

const SCOPE_FORMAT = 'arm:/subscriptions/<subscription GUID>[/resourceGroups/<name>]';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Azure's rule for resource group names: 1–90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.'.
const RESOURCE_GROUP = /^[-\w.()\p{L}\p{N}]{1,90}$/u;

/**
 * Parses `arm:/subscriptions/<guid>[/resourceGroups/<name>]` (an
 * `--identities` value). Segment names are matched case-insensitively, as ARM
 * does; a trailing slash is allowed.
 */
export function parseArmScope(text: string): ArmScope {
  const fail = (why: string): never => {
    throw new AppError('WIA_ERR_IDENTITY_SOURCE_INVALID', `identity source ${JSON.stringify(text)}: ${why}; expected ${SCOPE_FORMAT}`);
  };
  if (!text.startsWith('arm:')) fail('does not start with arm:');
  const path = text.slice('arm:'.length).replace(/\/$/, '');
  const segments = path.split('/');
  if (segments[0] !== '' || segments[1]?.toLowerCase() !== 'subscriptions') fail('the path must start with /subscriptions/');
  const subscriptionId = segments[2] ?? '';
  if (!GUID.test(subscriptionId)) fail(`subscription ID ${JSON.stringify(subscriptionId)} is not a GUID`);
  if (segments.length === 3) return { subscriptionId };
  if (segments[3]?.toLowerCase() !== 'resourcegroups' || segments.length !== 5) fail('only /resourceGroups/<name> may follow the subscription');
  const resourceGroup = segments[4] ?? '';
  if (!RESOURCE_GROUP.test(resourceGroup) || resourceGroup.endsWith('.')) {
    fail(`resource group name ${JSON.stringify(resourceGroup)} is not valid (1–90 letters, digits, _ - . ( ), not ending in .)`);
  }
  return { subscriptionId, resourceGroup };
}

export function formatArmScope(scope: ArmScope): string {
  return `arm:/subscriptions/${scope.subscriptionId}${scope.resourceGroup ? `/resourceGroups/${scope.resourceGroup}` : ''}`;
}
