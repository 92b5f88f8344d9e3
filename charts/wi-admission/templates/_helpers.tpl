{{- define "wi-admission.fullname" -}}
{{- printf "%s" (.Release.Name | trunc 52 | trimSuffix "-") -}}
{{- end -}}

{{- define "wi-admission.labels" -}}
app.kubernetes.io/name: wi-admission
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "wi-admission.selectorLabels" -}}
app.kubernetes.io/name: wi-admission
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wi-admission.tlsSecret" -}}
{{- default (printf "%s-tls" (include "wi-admission.fullname" .)) .Values.certificates.secretName -}}
{{- end -}}

{{/* The webhook's own namespace and kube-system never go through it. */}}
{{- define "wi-admission.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        - {{ .Release.Namespace }}
        - kube-system
        {{- range .Values.webhook.excludeNamespaces }}
        - {{ . }}
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
    port: 443
  {{- end }}
  {{- if .Values.webhook.caBundle }}
  caBundle: {{ .Values.webhook.caBundle }}
  {{- end }}
{{- end -}}

{{- define "wi-admission.webhookAnnotations" -}}
{{- if eq .Values.certificates.mode "cert-manager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "wi-admission.fullname" .) }}
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
