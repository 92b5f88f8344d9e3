/** API server paths the webhook reads. */
export const KUBE_PATHS = {
  version: '/version',
  serviceAccounts: '/api/v1/serviceaccounts',
  namespaces: '/api/v1/namespaces',
  pods: '/api/v1/pods',
  serviceAccount: (namespace: string, name: string): string => `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}`,
  namespace: (name: string): string => `/api/v1/namespaces/${encodeURIComponent(name)}`,
  secret: (namespace: string, name: string): string => `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
  secrets: (namespace: string): string => `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
  mutatingWebhookConfiguration: (name: string): string => `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${encodeURIComponent(name)}`,
  validatingWebhookConfiguration: (name: string): string => `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${encodeURIComponent(name)}`,
} as const;
