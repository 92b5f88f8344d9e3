import type { CertificateStore, StoredSecret } from '../certs/self-managed.js';
import { isConflict, isNotFound } from './api-error.js';
import { KUBE_PATHS } from './paths.js';
import type { KubeRestClient } from './rest-client.js';

interface SecretObject {
  metadata?: { resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  data?: Record<string, string>;
}

interface WebhookConfigurationObject {
  webhooks?: { clientConfig?: { caBundle?: string } }[];
}

const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'wi-admission' };

/**
 * The self-managed certificates' Secret and the CA bundle of the webhook
 * configurations, through the API server. Writes carry the resourceVersion
 * they read (optimistic concurrency), so replicas never overwrite each other.
 */
export function createCertificateStore(
  client: Pick<KubeRestClient, 'get' | 'getOrUndefined' | 'request'>,
  namespace: string,
  secretName: string,
  webhookConfigurationName: string,
): CertificateStore {
  const configurations = [
    // The validating one exists only with a policy; the mutating one must.
    { kind: 'MutatingWebhookConfiguration', required: true, path: KUBE_PATHS.mutatingWebhookConfiguration(webhookConfigurationName) },
    { kind: 'ValidatingWebhookConfiguration', required: false, path: KUBE_PATHS.validatingWebhookConfiguration(webhookConfigurationName) },
  ];
  const readConfiguration = async (kind: (typeof configurations)[number]): Promise<WebhookConfigurationObject | undefined> => {
    try {
      return (await client.get(kind.path)) as WebhookConfigurationObject;
    } catch (err) {
      if (isNotFound(err) && !kind.required) return undefined;
      if (isNotFound(err)) throw new Error(`${kind.kind} ${webhookConfigurationName} not found: the CA bundle cannot be written yet`, { cause: err });
      throw err;
    }
  };
  return {
    async readSecret(): Promise<StoredSecret | undefined> {
      const secret = (await client.getOrUndefined(KUBE_PATHS.secret(namespace, secretName))) as SecretObject | undefined;
      if (!secret) return undefined;
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
      return { data, annotations: { ...secret.metadata?.annotations }, resourceVersion: secret.metadata?.resourceVersion ?? '' };
    },
    async writeSecret(data, annotations, resourceVersion) {
      const body = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: secretName, namespace, ...(resourceVersion ? { resourceVersion } : {}), labels: MANAGED_BY, annotations },
        type: 'Opaque',
        data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
      };
      try {
        if (resourceVersion) await client.request('PUT', KUBE_PATHS.secret(namespace, secretName), { body });
        else await client.request('POST', KUBE_PATHS.secrets(namespace), { body });
        return 'written';
      } catch (err) {
        if (isConflict(err)) return 'conflict';
        throw err;
      }
    },
    async readCaBundles() {
      const bundles: string[] = [];
      for (const kind of configurations) {
        const config = await readConfiguration(kind);
        for (const w of config?.webhooks ?? []) bundles.push(Buffer.from(w.clientConfig?.caBundle ?? '', 'base64').toString('utf8'));
      }
      return bundles;
    },
    async injectCaBundle(caPem) {
      const caBundle = Buffer.from(caPem, 'utf8').toString('base64');
      for (const kind of configurations) {
        for (let attempt = 0; ; attempt++) {
          const config = await readConfiguration(kind);
          if (!config) break;
          const webhooks = config.webhooks ?? [];
          if (webhooks.every((w) => w.clientConfig?.caBundle === caBundle)) break;
          for (const w of webhooks) w.clientConfig = { ...w.clientConfig, caBundle };
          try {
            // The object as read, resourceVersion included: a concurrent change is a 409, then read again.
            await client.request('PUT', kind.path, { body: config });
            break;
          } catch (err) {
            if (!isConflict(err) || attempt >= 4) throw err;
          }
        }
      }
    },
  };
}
