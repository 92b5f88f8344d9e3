import type { CertificateStore } from '../certs/self-managed.js';
import { isConflict, isNotFound } from './api-error.js';
import { KUBE_PATHS } from './paths.js';
import type { KubeRestClient } from './rest-client.js';

interface SecretObject {
  metadata?: { resourceVersion?: string };
  data?: Record<string, string>;
}

interface WebhookConfigurationObject {
  webhooks?: { clientConfig?: { caBundle?: string } }[];
}

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
  return {
    async readSecret() {
      const secret = (await client.getOrUndefined(KUBE_PATHS.secret(namespace, secretName))) as SecretObject | undefined;
      if (!secret) return undefined;
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
      return { data, resourceVersion: secret.metadata?.resourceVersion ?? '' };
    },
    async writeSecret(data, resourceVersion) {
      const body = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: secretName, namespace, ...(resourceVersion ? { resourceVersion } : {}), labels: { 'app.kubernetes.io/managed-by': 'wi-admission' } },
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
    async injectCaBundle(caPem) {
      const caBundle = Buffer.from(caPem, 'utf8').toString('base64');
      const kinds = [
        { kind: 'MutatingWebhookConfiguration', required: true, path: KUBE_PATHS.mutatingWebhookConfiguration(webhookConfigurationName) },
        { kind: 'ValidatingWebhookConfiguration', required: false, path: KUBE_PATHS.validatingWebhookConfiguration(webhookConfigurationName) },
      ];
      for (const kind of kinds) {
        for (let attempt = 0; ; attempt++) {
          let config: WebhookConfigurationObject;
          try {
            config = (await client.get(kind.path)) as WebhookConfigurationObject;
          } catch (err) {
            // The validating one exists only with a policy; the mutating one must (the pass is retried).
            if (isNotFound(err) && !kind.required) break;
            if (isNotFound(err)) throw new Error(`${kind.kind} ${webhookConfigurationName} not found: the CA bundle cannot be written yet`, { cause: err });
            throw err;
          }
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
