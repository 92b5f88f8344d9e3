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
  /** Discovery of the PolicyReport API (404 when its CRD is not installed). */
  policyReportApi: '/apis/wgpolicyk8s.io/v1alpha2',
  policyReports: '/apis/wgpolicyk8s.io/v1alpha2/policyreports',
  policyReportsIn: (namespace: string): string => `/apis/wgpolicyk8s.io/v1alpha2/namespaces/${encodeURIComponent(namespace)}/policyreports`,
  policyReport: (namespace: string, name: string): string => `/apis/wgpolicyk8s.io/v1alpha2/namespaces/${encodeURIComponent(namespace)}/policyreports/${encodeURIComponent(name)}`,
  events: (namespace: string): string => `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`,
  leases: (namespace: string): string => `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`,
  lease: (namespace: string, name: string): string => `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(name)}`,
} as const;
