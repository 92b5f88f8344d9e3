import { ManagedServiceIdentityClient, type FederatedIdentityCredential, type Identity } from '@azure/arm-msi';
import { exponentialRetryPolicy, systemErrorRetryPolicy, type TlsSettings } from '@azure/core-rest-pipeline';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type { Logger } from 'pino';
import { formatArmScope, type ArmScope } from './arm-scope.js';
import { classifyArmError, type ArmErrorKind } from './errors.js';
import type { FederatedCredential, IdentitySource, ManagedIdentity } from './identity-source.js';
import { parseIdentityResourceId } from './resource-id.js';
import { createInterner, type Interner } from '../util/intern.js';

export const DEFAULT_ARM_ENDPOINT = 'https://management.azure.com';

export type ArmOperation = 'listBySubscription' | 'listByResourceGroup' | 'listFederatedCredentials';
export type ArmRequestResult = 'success' | ArmErrorKind;

export interface ArmRetryOptions {
  /** Retries of 5xx, 408 and connection errors; 429 is never retried here (the inventory honours Retry-After). */
  readonly maxRetries: number;
  readonly retryDelayInMs: number;
  readonly maxRetryDelayInMs: number;
}

export interface ArmMsiIdentitySourceOptions {
  readonly scope: ArmScope;
  readonly credential: TokenCredential;
  /** ARM endpoint, e.g. https://management.usgovcloudapi.net; the token scope is `<endpoint>/.default`. */
  readonly endpoint?: string;
  /** Called once per ARM page request (metrics: armRequestDuration). */
  readonly onArmRequest?: (operation: ArmOperation, result: ArmRequestResult, seconds: number) => void;
  readonly log?: Logger;
  readonly retry?: ArmRetryOptions;
  /** Extra trusted CAs (tests, or an egress proxy that re-signs); replaces the default CA list. */
  readonly tlsOptions?: TlsSettings;
}

const DEFAULT_RETRY: ArmRetryOptions = { maxRetries: 2, retryDelayInMs: 1000, maxRetryDelayInMs: 8000 };

/**
 * `--identities arm:/subscriptions/<id>[/resourceGroups/<rg>]`: user-assigned
 * managed identities listed from ARM with @azure/arm-msi, all pages, and their
 * federated identity credentials on request.
 */
export class ArmMsiIdentitySource implements IdentitySource {
  readonly description: string;
  private readonly clients = new Map<string, ManagedServiceIdentityClient>();
  private readonly endpoint: string;

  constructor(private readonly options: ArmMsiIdentitySourceOptions) {
    this.description = formatArmScope(options.scope);
    this.endpoint = (options.endpoint ?? DEFAULT_ARM_ENDPOINT).replace(/\/+$/, '');
  }

  async listIdentities(signal?: AbortSignal): Promise<ManagedIdentity[]> {
    const { subscriptionId, resourceGroup } = this.options.scope;
    const client = this.clientFor(subscriptionId);
    const pages = resourceGroup
      ? client.userAssignedIdentities.listByResourceGroup(resourceGroup, { abortSignal: signal }).byPage()
      : client.userAssignedIdentities.listBySubscription({ abortSignal: signal }).byPage();
    const identities: ManagedIdentity[] = [];
    const intern = createInterner();
    const operation = resourceGroup ? 'listByResourceGroup' : 'listBySubscription';
    for await (const page of this.timedPages(operation, pages)) {
      for (const item of page) {
        const identity = toManagedIdentity(item, intern);
        if (identity) identities.push(identity);
        else this.options.log?.warn({ id: item.id, name: item.name }, 'skipping an identity without clientId, principalId or tenantId');
      }
    }
    return identities;
  }

  async listFederatedCredentials(identity: ManagedIdentity, signal?: AbortSignal): Promise<FederatedCredential[]> {
    const client = this.clientFor(identity.subscriptionId || this.options.scope.subscriptionId);
    const pages = client.federatedIdentityCredentials.list(identity.resourceGroup, identity.name, { abortSignal: signal }).byPage();
    const credentials: FederatedCredential[] = [];
    for await (const page of this.timedPages('listFederatedCredentials', pages)) {
      for (const item of page) credentials.push(toFederatedCredential(item));
    }
    return credentials;
  }

  /** Yields the pages, timing each request (a 50-page listing is 50 samples, not one). */
  private async *timedPages<T>(operation: ArmOperation, pages: AsyncIterableIterator<T[]>): AsyncGenerator<T[]> {
    for (;;) {
      const started = performance.now();
      let next: IteratorResult<T[]>;
      try {
        next = await pages.next();
      } catch (err) {
        this.options.onArmRequest?.(operation, classifyArmError(err), (performance.now() - started) / 1000);
        throw err;
      }
      if (next.done) return;
      this.options.onArmRequest?.(operation, 'success', (performance.now() - started) / 1000);
      yield next.value;
    }
  }

  private clientFor(subscriptionId: string): ManagedServiceIdentityClient {
    let client = this.clients.get(subscriptionId);
    if (!client) {
      client = new ManagedServiceIdentityClient(this.options.credential, subscriptionId, {
        endpoint: this.endpoint,
        $host: this.endpoint,
        credentialScopes: [`${this.endpoint}/.default`],
        ...(this.options.tlsOptions ? { tlsOptions: this.options.tlsOptions } : {}),
      });
      // The default retry policy sleeps through 429 Retry-After inside the
      // call, holding the inventory's single refresh for minutes and hiding
      // the throttling from it; keep retries for transient failures only.
      const retry = this.options.retry ?? DEFAULT_RETRY;
      client.pipeline.removePolicy({ phase: 'Retry' });
      client.pipeline.addPolicy(exponentialRetryPolicy(retry), { phase: 'Retry' });
      client.pipeline.addPolicy(systemErrorRetryPolicy(retry), { phase: 'Retry' });
      this.clients.set(subscriptionId, client);
    }
    return client;
  }
}

function toManagedIdentity(item: Identity, intern: Interner): ManagedIdentity | undefined {
  if (!item.id || !item.clientId || !item.principalId || !item.tenantId) return undefined;
  const parts = parseIdentityResourceId(item.id);
  return {
    clientId: item.clientId,
    principalId: item.principalId,
    tenantId: intern.string(item.tenantId),
    name: item.name ?? parts?.name ?? '',
    id: item.id,
    subscriptionId: intern.string(parts?.subscriptionId ?? ''),
    resourceGroup: intern.string(parts?.resourceGroup ?? ''),
    tags: intern.record(item.tags ?? {}),
    // undefined: ask listFederatedCredentials (lazily, per identity).
  };
}

function toFederatedCredential(item: FederatedIdentityCredential): FederatedCredential {
  return { name: item.name ?? '', issuer: item.issuer ?? '', subject: item.subject ?? '', audiences: [...(item.audiences ?? [])] };
}

/**
 * The production credential: DefaultAzureCredential, so the webhook's own
 * workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID,
 * AZURE_FEDERATED_TOKEN_FILE from the chart) is used in a cluster, and
 * `az login` on a workstation.
 */
export function createDefaultArmCredential(): TokenCredential {
  return new DefaultAzureCredential();
}
