/** AdmissionReview bodies as the API server sends them. */
export function podReview(
  pod: Record<string, unknown>,
  options: { uid?: string; namespace?: string; apiVersion?: string; operation?: string } = {},
): Record<string, unknown> {
  return {
    apiVersion: options.apiVersion ?? 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: options.uid ?? 'b1f6c0d2-5a7e-4c1b-9d3e-0f2a4b6c8d10',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: options.namespace ?? 'default',
      operation: options.operation ?? 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: pod,
      oldObject: null,
      dryRun: false,
    },
  };
}

export function labelledPod(name: string, serviceAccountName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { 'azure.workload.identity/use': 'true' } },
    spec: { serviceAccountName, containers: [{ name: 'app', image: 'app:1' }], ...extra },
  };
}

/** A ServiceAccount `namespace/name` binding `clientId`, as the API server sends it to /validate. */
export function serviceAccountReview(uid: string, clientId: string, name = 'checkout-api', namespace = 'checkout-prod'): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'ServiceAccount' },
      resource: { group: '', version: 'v1', resource: 'serviceaccounts' },
      namespace,
      operation: 'CREATE',
      object: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace, annotations: { 'azure.workload.identity/client-id': clientId } } },
    },
  });
}
