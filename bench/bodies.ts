// Request bodies shared by the benchmarks: one realistic opted-in pod and
// the AdmissionReview envelope the API server wraps objects in.

/** A realistic opted-in pod: 2 init containers, 3 containers, probes, resources, env (~8 KB). */
export function realisticPod(): Record<string, unknown> {
  const container = (name: string, i: number) => ({
    name,
    image: `contoso.azurecr.io/shop/${name}:1.${i}.0`,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/app'],
    args: ['--port=8080', '--log-format=json', `--component=${name}`],
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }],
    env: [
      ...Array.from({ length: 12 }, (_, k) => ({ name: `SHOP_SETTING_${k}`, value: `value-${name}-${k}-${'x'.repeat(12)}` })),
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    ],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    livenessProbe: { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' }, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1 },
    readinessProbe: { httpGet: { path: '/readyz', port: 8080, scheme: 'HTTP' }, periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1 },
    volumeMounts: [{ name: 'config', mountPath: '/etc/shop', readOnly: true }, { name: 'kube-api-access-abcde', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'checkout-api-7c9d8f5b4-',
      namespace: 'checkout-prod',
      labels: { app: 'checkout-api', 'pod-template-hash': '7c9d8f5b4', 'azure.workload.identity/use': 'true', 'app.kubernetes.io/part-of': 'shop' },
      annotations: { 'prometheus.io/scrape': 'true', 'kubectl.kubernetes.io/restartedAt': '2026-11-01T10:00:00Z' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'checkout-api-7c9d8f5b4', uid: '5a1b2c3d-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      serviceAccountName: 'checkout-api',
      initContainers: [container('migrate', 1), container('warmup', 2)],
      containers: [container('api', 3), container('worker', 4), container('proxy', 5)],
      volumes: [{ name: 'config', configMap: { name: 'shop-config', defaultMode: 420 } }, { name: 'kube-api-access-abcde', projected: { defaultMode: 420, sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] } }],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    },
  };
}

export function review(uid: string, kind: string, object: unknown): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: kind === 'Deployment' ? 'apps' : '', version: 'v1', kind }, resource: { group: '', version: 'v1', resource: `${kind.toLowerCase()}s` }, namespace: 'checkout-prod', operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' }, object, oldObject: null, dryRun: false },
  });
}
