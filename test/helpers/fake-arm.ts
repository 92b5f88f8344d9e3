import type { IncomingMessage, ServerResponse } from 'node:http';
import { startLoopbackTlsServer, type LoopbackTlsServer } from './loopback-tls.js';

export interface FakeArmIdentity {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  clientId: string;
  principalId: string;
  tenantId: string;
  tags?: Record<string, string>;
}

export interface FakeArmCredential {
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
}

export interface FakeArmRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  authorization: string | undefined;
  body: string;
  /** performance.now() when the request arrived, and when its answer was sent (undefined while pending). */
  at?: number;
  answeredAt?: number;
  /** HTTP status of the answer. */
  status?: number;
}

interface ScriptedFailure {
  status: number;
  headers: Record<string, string>;
  code: string;
  /** Only an identity listing page takes it; other requests pass it by. */
  listingsOnly: boolean;
}

const PROVIDER = '/providers/Microsoft.ManagedIdentity/userAssignedIdentities';

/**
 * A loopback stand-in for Azure Resource Manager (the Microsoft.ManagedIdentity
 * list operations) and for the Entra ID endpoints MSAL calls for a client
 * credential (OpenID configuration discovery, token). It speaks the real wire
 * formats, so the real @azure/arm-msi and @azure/identity code runs against it
 * over TLS with a CA of its own.
 */
export class FakeArm {
  readonly tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  readonly accessToken = 'fake-arm-access-token';
  readonly identities: FakeArmIdentity[] = [];
  /** Federated credentials by identity name. */
  readonly credentials = new Map<string, FakeArmCredential[]>();
  readonly requests: FakeArmRequest[] = [];
  /** Items per list page; nextLink carries a $skipToken. */
  pageSize = 2;
  /** Delay before answering ARM requests (slow ARM). */
  delayMs = 0;
  /** When true every ARM request (not the token endpoints) gets a 503 (ARM down). */
  down = false;
  /** The client secret the token endpoint accepts. */
  clientSecret = 'fake-secret';
  caCert = '';
  private baseUrl = '';
  private readonly failures: ScriptedFailure[] = [];
  /** While set, identity listing pages wait for it (see holdListings). */
  private listingGate: Promise<void> | undefined;
  private releaseListings: (() => void) | undefined;
  private server: LoopbackTlsServer | undefined;

  /** `extraHosts`: more names in its certificate, e.g. login.microsoftonline.com when reached through a CONNECT proxy. */
  async start(options: { extraHosts?: readonly string[] } = {}): Promise<void> {
    this.server = await startLoopbackTlsServer('fake ARM CA', (req, res) => void this.handle(req, res), options);
    this.caCert = this.server.caCert;
    this.baseUrl = `https://127.0.0.1:${this.server.port}`;
  }

  /** Base URL for ARM (`endpoint`) and Entra ID (`authorityHost`); fixed once started. */
  get url(): string {
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    this.releaseListings?.();
    await this.server?.close();
  }


  /**
   * The next `count` ARM requests (not token requests) fail with `status`;
   * with `listingsOnly`, the next `count` identity listing pages (federated
   * credential reads, which other work makes meanwhile, are answered).
   */
  failNext(status: number, options: { count?: number; headers?: Record<string, string>; code?: string; listingsOnly?: boolean } = {}): void {
    for (let i = 0; i < (options.count ?? 1); i++) {
      this.failures.push({ status, headers: options.headers ?? {}, code: options.code ?? (status === 429 ? 'TooManyRequests' : 'InternalServerError'), listingsOnly: options.listingsOnly ?? false });
    }
  }

  /**
   * Holds every page of the identity listings (not federated credentials,
   * not tokens) unanswered until the returned `release` is called: a
   * listing stays in flight for as long as the test needs to look, instead
   * of racing a delay. The requests still arrive and are recorded.
   */
  holdListings(): () => void {
    this.releaseListings?.();
    const gate = new Promise<void>((resolve) => {
      this.releaseListings = () => {
        resolve();
        if (this.listingGate === gate) this.listingGate = undefined;
      };
    });
    this.listingGate = gate;
    return this.releaseListings ?? (() => undefined);
  }

  armRequests(): FakeArmRequest[] {
    return this.requests.filter((r) => r.url.startsWith('/subscriptions/'));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const record: FakeArmRequest = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body, at: performance.now() };
    this.requests.push(record);
    res.on('finish', () => {
      record.answeredAt = performance.now();
      record.status = res.statusCode;
    });

    const tenantPath = url.pathname.match(/^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/);
    if (tenantPath) return this.handleEntra(tenantPath[1] ?? '', tenantPath[2] ?? '', body, res);

    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.down) return armError(res, 503, 'ServiceUnavailable', 'ARM is down');
    if (req.headers.authorization !== `Bearer ${this.accessToken}`) {
      return armError(res, 401, 'InvalidAuthenticationToken', 'The access token is invalid.');
    }
    const isListing = url.pathname.toLowerCase().endsWith(PROVIDER.toLowerCase());
    const failure = this.failures[0] && (!this.failures[0].listingsOnly || isListing) ? this.failures.shift() : undefined;
    if (failure) return armError(res, failure.status, failure.code, `scripted ${failure.status}`, failure.headers);
    if (!url.searchParams.get('api-version')) return armError(res, 400, 'MissingApiVersionParameter', 'The api-version query parameter is required.');

    if (isListing) await this.listingGate;
    const segments = url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
    // subscriptions/{sub}[/resourceGroups/{rg}]/providers/Microsoft.ManagedIdentity/userAssignedIdentities[/{name}/federatedIdentityCredentials]
    const lower = url.pathname.toLowerCase();
    const sub = segments[1] ?? '';
    if (lower === `/subscriptions/${sub}${PROVIDER}`.toLowerCase()) {
      return this.page(res, url, this.identities.filter((i) => sameText(i.subscriptionId, sub)).map((i) => this.identityResource(i)));
    }
    const rg = segments[3] ?? '';
    if (lower === `/subscriptions/${sub}/resourcegroups/${rg}${PROVIDER}`.toLowerCase()) {
      const found = this.identities.filter((i) => sameText(i.subscriptionId, sub) && sameText(i.resourceGroup, rg));
      return this.page(res, url, found.map((i) => this.identityResource(i)));
    }
    const name = segments[7] ?? '';
    if (lower === `/subscriptions/${sub}/resourcegroups/${rg}${PROVIDER}/${name}/federatedIdentityCredentials`.toLowerCase()) {
      const identity = this.identities.find((i) => sameText(i.subscriptionId, sub) && sameText(i.resourceGroup, rg) && sameText(i.name, name));
      if (!identity) return armError(res, 404, 'ResourceNotFound', `The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/${name}' was not found.`);
      const base = `/subscriptions/${sub}/resourcegroups/${rg}${PROVIDER}/${name}/federatedIdentityCredentials`;
      const items = (this.credentials.get(name) ?? []).map((c) => ({
        id: `${base}/${c.name}`,
        name: c.name,
        type: 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials',
        properties: { issuer: c.issuer, subject: c.subject, audiences: c.audiences },
      }));
      return this.page(res, url, items);
    }
    return armError(res, 404, 'InvalidResourceType', `no route for ${url.pathname}`);
  }

  /** What MSAL asks for with `disableInstanceDiscovery`: the tenant's OpenID configuration, then a token. */
  private handleEntra(tenant: string, what: string, body: string, res: ServerResponse): void {
    if (what.startsWith('v2.0')) {
      const base = `${this.url}/${tenant}`;
      return json(res, 200, {
        issuer: `${base}/v2.0`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        token_endpoint: `${base}/oauth2/v2.0/token`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        jwks_uri: `${base}/discovery/v2.0/keys`,
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      });
    }
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'client_credentials' || form.get('client_secret') !== this.clientSecret) {
      return json(res, 401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.', error_codes: [7000215] });
    }
    return json(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: this.accessToken });
  }

  private identityResource(i: FakeArmIdentity): Record<string, unknown> {
    return {
      id: `/subscriptions/${i.subscriptionId}/resourcegroups/${i.resourceGroup}${PROVIDER}/${i.name}`,
      name: i.name,
      type: 'Microsoft.ManagedIdentity/userAssignedIdentities',
      location: 'westeurope',
      tags: i.tags ?? {},
      properties: { tenantId: i.tenantId, principalId: i.principalId, clientId: i.clientId, isolationScope: 'None' },
    };
  }

  private page(res: ServerResponse, url: URL, items: unknown[]): void {
    const skip = Number(url.searchParams.get('$skipToken') ?? '0');
    const value = items.slice(skip, skip + this.pageSize);
    const next = skip + this.pageSize < items.length ? new URL(url.pathname + url.search, this.url) : undefined;
    next?.searchParams.set('$skipToken', String(skip + this.pageSize));
    json(res, 200, next ? { value, nextLink: next.toString() } : { value });
  }
}

function sameText(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function armError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  json(res, status, { error: { code, message } }, headers);
}
