{{/*
Rules values.schema.json cannot say, or cannot say clearly: each refuses the
install with a message that names the values and what to change. The custom
token endpoint rules are the server's start-up rules (src/config.ts), checked
here so a bad value fails `helm install` instead of crash-looping the pods.
*/}}
{{- define "wi-admission.validate" -}}
{{- $v := .Values -}}
{{- if not $v.azureTenantID }}
{{- fail "azureTenantID is required (the tenant injected when a ServiceAccount has no tenant-id annotation)" }}
{{- end }}

{{- if regexMatch "(^|/)workload-identity/webhook$" (toString $v.image.repository) }}
{{- fail (printf "image.repository %q is upstream's webhook image, which does not run wi-admission: remove image.repository and image.release from the values file, or name the wi-admission image" $v.image.repository) }}
{{- end }}
{{- if and $v.image.release $v.image.tag (ne (toString $v.image.release) (toString $v.image.tag)) }}
{{- fail (printf "image.release (%s) and image.tag (%s) both name the image tag: set one of them" $v.image.release $v.image.tag) }}
{{- end }}

{{- if ne (lower (toString $v.metricsBackend)) "prometheus" }}
{{- fail (printf "metricsBackend %q is not supported: wi-admission exports Prometheus metrics only; set metricsBackend: prometheus or remove it" (toString $v.metricsBackend)) }}
{{- end }}
{{- $metricsPort := include "wi-admission.metricsPort" . | int }}
{{- if or (lt $metricsPort 1) (gt $metricsPort 65535) }}
{{- fail (printf "metricsAddr %q: the port must be 1-65535" $v.metricsAddr) }}
{{- end }}
{{- if or (eq $metricsPort (int $v.service.targetPort)) (eq $metricsPort 9440) }}
{{- fail (printf "metricsAddr %q: port %d is taken by the webhook (service.targetPort %d) or the health probes (9440)" $v.metricsAddr $metricsPort (int $v.service.targetPort)) }}
{{- end }}
{{- if eq (int $v.service.targetPort) 9440 }}
{{- fail "service.targetPort 9440 is the health probes' port: choose another" }}
{{- end }}
{{- if eq (int $v.service.port) $metricsPort }}
{{- fail (printf "service.port %d is the Service's metrics port (from metricsAddr): choose another" (int $v.service.port)) }}
{{- end }}

{{- $pdb := $v.podDisruptionBudget | default dict }}
{{- if and (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both (upstream renders both and the API server refuses the budget)" }}
{{- end }}

{{- with dig "limits" "memory" "" ($v.resources | default dict) }}
{{- $mebibytes := include "wi-admission.mebibytes" . }}
{{- if and $mebibytes (lt ($mebibytes | float64) 128.0) }}
{{- fail (printf "resources.limits.memory %v is below 128Mi: the server needs about 85 MiB at ready on an empty cluster and 190 MiB with 50,000 ServiceAccounts, and would be OOM-killed (upstream's 30Mi is sized for its Go binary; see values.yaml for sizing)" .) }}
{{- end }}
{{- end }}

{{- $cte := $v.customTokenEndpoint | default dict }}
{{- if or $cte.annotationSuffix $cte.audience }}
{{- if not (and $cte.annotationSuffix $cte.audience) }}
{{- fail "customTokenEndpoint.annotationSuffix and customTokenEndpoint.audience go together: set both to enable the custom token endpoint, or neither" }}
{{- end }}
{{- if eq (lower (toString $cte.audience)) "api://azureadtokenexchange" }}
{{- fail "customTokenEndpoint.audience cannot be the default audience api://AzureADTokenExchange: the custom token endpoint needs its own" }}
{{- end }}
{{- $caSources := list }}
{{- range list "azureKubernetesCaData" "azureKubernetesCAConfigMapName" "azureKubernetesCACTBSignerName" }}
{{- if index $cte . }}{{ $caSources = append $caSources (printf "customTokenEndpoint.%s" .) }}{{ end }}
{{- end }}
{{- if gt (len $caSources) 1 }}
{{- fail (printf "%s: set at most one CA source for the custom token endpoint" (join ", " $caSources)) }}
{{- end }}
{{- if and $cte.azureKubernetesCACTBLabelSelector (not $cte.azureKubernetesCACTBSignerName) }}
{{- fail "customTokenEndpoint.azureKubernetesCACTBLabelSelector needs customTokenEndpoint.azureKubernetesCACTBSignerName" }}
{{- end }}
{{- end }}
{{- with $cte.azureKubernetesCACTBLabelSelector }}
{{- if or (not (regexMatch "^\\s*\\{" .)) (hasKey (fromJson .) "Error") }}
{{- fail (printf "customTokenEndpoint.azureKubernetesCACTBLabelSelector %q is not a JSON LabelSelector object, e.g. {\"matchLabels\":{\"app\":\"ca\"}}" .) }}
{{- end }}
{{- end }}

{{- with $v.monitoring.prometheusRule }}
{{- if and .enabled (ge (.thresholds.latencySeconds | float64) ($v.webhook.timeoutSeconds | float64)) }}
{{- fail (printf "monitoring.prometheusRule.thresholds.latencySeconds %v is not under webhook.timeoutSeconds (%v): the alert would fire only once the API server already gives up; keep it well under" .thresholds.latencySeconds $v.webhook.timeoutSeconds) }}
{{- end }}
{{- end }}

{{- range $v.extraEnv }}
{{- if eq .name "POD_NAMESPACE" }}
{{- fail "extraEnv: POD_NAMESPACE is set by the chart (the webhook's own namespace) and cannot be replaced" }}
{{- end }}
{{- end }}
{{- range $v.extraVolumes }}
{{- if has .name (list "certs" "config" "azure-token") }}
{{- fail (printf "extraVolumes: the volume name %q is the chart's (certs, config and azure-token are reserved): rename it" .name) }}
{{- end }}
{{- end }}
{{- range $v.extraVolumeMounts }}
{{- if has (trimSuffix "/" .mountPath) (list "/certs" "/etc/wi-admission" "/var/run/secrets/azure/self") }}
{{- fail (printf "extraVolumeMounts: the mount path %q is the chart's (/certs, /etc/wi-admission and /var/run/secrets/azure/self are reserved): choose another" .mountPath) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A Kubernetes memory quantity in MiB, or "" for a form not read here (left to the API server). */}}
{{- define "wi-admission.mebibytes" -}}
{{- $quantity := toString . -}}
{{- if regexMatch "^[0-9]+(\\.[0-9]+)?([KMGTPE]i|[kMGTPE]|m)?$" $quantity -}}
{{- $number := regexReplaceAll "^([0-9.]+).*$" $quantity "${1}" | float64 -}}
{{- $suffix := regexReplaceAll "^[0-9.]+" $quantity "" -}}
{{- $perMiB := dict "" 0.00000095367431640625 "m" 0.00000000095367431640625 "k" 0.00095367431640625 "Ki" 0.0009765625 "M" 0.95367431640625 "Mi" 1.0 "G" 953.67431640625 "Gi" 1024.0 "T" 953674.31640625 "Ti" 1048576.0 "P" 953674316.40625 "Pi" 1073741824.0 "E" 953674316406.25 "Ei" 1099511627776.0 -}}
{{- mulf $number (index $perMiB $suffix) -}}
{{- end -}}
{{- end -}}
