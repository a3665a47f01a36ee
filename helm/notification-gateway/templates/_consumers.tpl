{{/*
Consumer pods (GATEWAY_ROLE=consumer, templates/consumers.yaml): one Deployment per entry
of `consumers`. Their labels are their own: the gateway's selector labels would put them
behind the gateway's Service (clients sent to pods that refuse them) and in its
PodDisruptionBudget, and one Deployment's selector would match another's pods.
*/}}
{{- define "notification-gateway.consumerName" -}}
{{- printf "%s-consumer-%s" (include "notification-gateway.fullname" .root) .consumer.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "notification-gateway.consumerSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-consumer" (include "notification-gateway.name" .root) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ printf "consumer-%s" .consumer.name | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "notification-gateway.consumerLabels" -}}
helm.sh/chart: {{ include "notification-gateway.chart" .root }}
{{ include "notification-gateway.consumerSelectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: {{ include "notification-gateway.name" .root }}
{{- end -}}

{{/* What every consumer pod carries, to be found by the PodMonitor. */}}
{{- define "notification-gateway.consumerCommonLabels" -}}
app.kubernetes.io/name: {{ printf "%s-consumer" (include "notification-gateway.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
