import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { CertificateStore } from '../certs/self-managed.js';
import { isNotFound } from './client.js';

function isConflict(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 409;
}

/**
 * The self-managed certificates' Secret and the CA bundle of the webhook
 * configurations, through the API server. Writes carry the resourceVersion
 * they read (optimistic concurrency), so replicas never overwrite each other.
 */
export function createCertificateStore(kc: KubeConfig, namespace: string, secretName: string, webhookConfigurationName: string): CertificateStore {
  const core = kc.makeApiClient(CoreV1Api);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  return {
    async readSecret() {
      try {
        const secret = await core.readNamespacedSecret({ name: secretName, namespace });
        const data: Record<string, string> = {};
        for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
        return { data, resourceVersion: secret.metadata?.resourceVersion ?? '' };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async writeSecret(data, resourceVersion) {
      const body = {
        metadata: { name: secretName, namespace, ...(resourceVersion ? { resourceVersion } : {}), labels: { 'app.kubernetes.io/managed-by': 'wi-admission' } },
        type: 'Opaque',
        data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
      };
      try {
        if (resourceVersion) await core.replaceNamespacedSecret({ name: secretName, namespace, body });
        else await core.createNamespacedSecret({ namespace, body });
        return 'written';
      } catch (err) {
        if (isConflict(err)) return 'conflict';
        throw err;
      }
    },
    async injectCaBundle(caPem) {
      const caBundle = Buffer.from(caPem, 'utf8').toString('base64');
      const kinds = [
        { kind: 'MutatingWebhookConfiguration', required: true, read: () => admission.readMutatingWebhookConfiguration({ name: webhookConfigurationName }), replace: (body: never) => admission.replaceMutatingWebhookConfiguration({ name: webhookConfigurationName, body }) },
        { kind: 'ValidatingWebhookConfiguration', required: false, read: () => admission.readValidatingWebhookConfiguration({ name: webhookConfigurationName }), replace: (body: never) => admission.replaceValidatingWebhookConfiguration({ name: webhookConfigurationName, body }) },
      ];
      for (const kind of kinds) {
        for (let attempt = 0; ; attempt++) {
          let config;
          try {
            config = await kind.read();
          } catch (err) {
            // The validating one exists only with a policy; the mutating one must (the pass is retried).
            if (isNotFound(err) && !kind.required) break;
            if (isNotFound(err)) throw new Error(`${kind.kind} ${webhookConfigurationName} not found: the CA bundle cannot be written yet`, { cause: err });
            throw err;
          }
          const webhooks = config.webhooks ?? [];
          if (webhooks.every((w) => w.clientConfig.caBundle === caBundle)) break;
          for (const w of webhooks) w.clientConfig.caBundle = caBundle;
          try {
            await kind.replace(config as never);
            break;
          } catch (err) {
            if (!isConflict(err) || attempt >= 4) throw err;
          }
        }
      }
    },
  };
}
