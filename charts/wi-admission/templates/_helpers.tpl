{{/* Object names: the release name, or fullnameOverride. 52 characters leave room for "-tls". */}}
{{- define "wi-admission.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "wi-admission.name" -}}
{{- default "wi-admission" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wi-admission.labels" -}}
app.kubernetes.io/name: {{ include "wi-admission.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "wi-admission.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wi-admission.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wi-admission.tlsSecret" -}}
{{- default (printf "%s-tls" (include "wi-admission.fullname" .)) .Values.certificates.secretName -}}
{{- end -}}

{{/*
The webhook's own namespace never goes through it, nor webhook.excludeNamespaces
(kube-system by default). `selector` (mutatingWebhookNamespaceSelector) narrows
it further: its matchLabels and matchExpressions are kept, the exclusion added.
*/}}
{{- define "wi-admission.namespaceSelector" -}}
{{- $selector := .selector | default dict -}}
namespaceSelector:
  {{- with $selector.matchLabels }}
  matchLabels: {{- toYaml . | nindent 4 }}
  {{- end }}
  matchExpressions:
    {{- with $selector.matchExpressions }}{{ toYaml . | nindent 4 }}{{ end }}
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        - {{ .root.Release.Namespace }}
        {{- range .root.Values.webhook.excludeNamespaces }}
        {{- if ne . $.root.Release.Namespace }}
        - {{ . }}
        {{- end }}
        {{- end }}
{{- end -}}

{{- define "wi-admission.clientConfig" -}}
clientConfig:
  {{- if .Values.webhook.url }}
  url: {{ printf "%s%s" (trimSuffix "/" .Values.webhook.url) .path }}
  {{- else }}
  service:
    name: {{ include "wi-admission.fullname" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: {{ .Values.service.port }}
  {{- end }}
  {{- if .Values.webhook.caBundle }}
  caBundle: {{ .Values.webhook.caBundle }}
  {{- end }}
{{- end -}}

{{/* `extra`: mutatingWebhookAnnotations; cainjector's annotation is the chart's. */}}
{{- define "wi-admission.webhookAnnotations" -}}
{{- $annotations := deepCopy (.extra | default dict) -}}
{{- if eq .root.Values.certificates.mode "cert-manager" }}
{{- $_ := set $annotations "cert-manager.io/inject-ca-from" (printf "%s/%s" .root.Release.Namespace (include "wi-admission.fullname" .root)) }}
{{- end }}
{{- with $annotations }}
annotations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Entra authority host of azureEnvironment, for the webhook's own credential. */}}
{{- define "wi-admission.authorityHost" -}}
{{- $cloud := upper .Values.azureEnvironment -}}
{{- if or (eq $cloud "AZUREUSGOVERNMENTCLOUD") (eq $cloud "AZUREUSGOVERNMENT") -}}https://login.microsoftonline.us/
{{- else if eq $cloud "AZURECHINACLOUD" -}}https://login.chinacloudapi.cn/
{{- else -}}https://login.microsoftonline.com/
{{- end -}}
{{- end -}}

{{/* The port of metricsAddr ([host]:port). */}}
{{- define "wi-admission.metricsPort" -}}
{{- regexFind "[0-9]+$" (toString .Values.metricsAddr) -}}
{{- end -}}

{{/* image.release (upstream's name) or image.tag, else the chart's appVersion. */}}
{{- define "wi-admission.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.release | default .Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The container's env as a YAML list. An extraEnv entry of the same name
replaces the chart's (upstream's env wins over its ConfigMap the same way).
*/}}
{{- define "wi-admission.env" -}}
{{- $cte := .Values.customTokenEndpoint | default dict -}}
{{- $env := list (dict "name" "AZURE_TENANT_ID" "value" (toString .Values.azureTenantID)) (dict "name" "AZURE_ENVIRONMENT" "value" (toString .Values.azureEnvironment)) -}}
{{- $env = append $env (dict "name" "POD_NAMESPACE" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.namespace"))) -}}
{{- range $key, $name := dict "azureKubernetesCaData" "AZURE_KUBERNETES_CA_DATA" "azureKubernetesSniName" "AZURE_KUBERNETES_SNI_NAME" "azureKubernetesTokenProxy" "AZURE_KUBERNETES_TOKEN_PROXY" "azureKubernetesCAConfigMapName" "AZURE_KUBERNETES_CA_CONFIGMAP_NAME" "azureKubernetesCACTBSignerName" "AZURE_KUBERNETES_CA_CTB_SIGNER_NAME" "azureKubernetesCACTBLabelSelector" "AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR" -}}
{{- with index $cte $key }}{{ $env = append $env (dict "name" $name "value" (toString .)) }}{{ end -}}
{{- end -}}
{{- with .Values.identities.workloadIdentity.clientId -}}
{{- /* The webhook's own identity for ARM, set here: it never mutates itself. */ -}}
{{- $env = append $env (dict "name" "AZURE_CLIENT_ID" "value" (toString .)) -}}
{{- $env = append $env (dict "name" "AZURE_FEDERATED_TOKEN_FILE" "value" "/var/run/secrets/azure/self/azure-identity-token") -}}
{{- $env = append $env (dict "name" "AZURE_AUTHORITY_HOST" "value" (include "wi-admission.authorityHost" $)) -}}
{{- end -}}
{{- $replaced := list -}}
{{- range .Values.extraEnv }}{{ $replaced = append $replaced .name }}{{ end -}}
{{- $kept := list -}}
{{- range $env }}{{ if not (has .name $replaced) }}{{ $kept = append $kept . }}{{ end }}{{ end -}}
{{- toYaml (concat $kept (.Values.extraEnv | default list)) -}}
{{- end -}}
