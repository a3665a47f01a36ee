{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "notification-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "notification-gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "notification-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "notification-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "notification-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "notification-gateway.labels" -}}
helm.sh/chart: {{ include "notification-gateway.chart" . }}
{{ include "notification-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "notification-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "notification-gateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "notification-gateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The Secret holding JWT_SECRET and REDIS_PASSWORD: an existing one, the chart's own, or
none (only valid with a JWT public key and a Redis without a password).
*/}}
{{- define "notification-gateway.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if .Values.secrets.create -}}
{{- include "notification-gateway.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* GATEWAY_QUEUES: queue=concurrency,... */}}
{{- define "notification-gateway.queues" -}}
{{- include "notification-gateway.queueList" .Values.gateway.queues -}}
{{- end -}}

{{/* A list of {name, concurrency} as GATEWAY_QUEUES reads it, in its order (precedence). */}}
{{- define "notification-gateway.queueList" -}}
{{- $items := list -}}
{{- range . -}}
{{- $items = append $items (printf "%s=%d" .name (int .concurrency)) -}}
{{- end -}}
{{- join "," $items -}}
{{- end -}}

{{/*
The secret settings, from the Secret (secretKeyRef, optional: a missing key leaves the
variable unset); the env entries of every gateway container (connection and consumer pods).
*/}}
{{- define "notification-gateway.secretEnv" -}}
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "notification-gateway.secretName" . }}
      key: {{ .Values.secrets.jwtSecretKey }}
      optional: true
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "notification-gateway.secretName" . }}
      key: {{ .Values.secrets.redisPasswordKey }}
      optional: true
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "notification-gateway.secretName" . }}
      key: {{ .Values.secrets.redisSentinelPasswordKey }}
      optional: true
- name: GATEWAY_RECOVERY_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "notification-gateway.secretName" . }}
      key: {{ .Values.secrets.recoverySecretKey }}
      optional: true
{{- end -}}

{{/* THROTTLE_RULES: event=seconds,... ("" = no rules) */}}
{{- define "notification-gateway.throttleRules" -}}
{{- $items := list -}}
{{- range .Values.gateway.throttleRules -}}
{{- $items = append $items (printf "%s=%v" .event .seconds) -}}
{{- end -}}
{{- join "," $items -}}
{{- end -}}

{{/* The grace period: above the preStop sleep plus the drain, or the template fails. */}}
{{- define "notification-gateway.terminationGracePeriodSeconds" -}}
{{- $needed := add (int .Values.lifecycle.preStopSleepSeconds) (int (ceil .Values.gateway.drainSeconds)) -}}
{{- $grace := .Values.terminationGracePeriodSeconds | default (add $needed 10) -}}
{{- if le (int $grace) (int $needed) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed lifecycle.preStopSleepSeconds + gateway.drainSeconds (%v)" $grace $needed) -}}
{{- end -}}
{{- int $grace -}}
{{- end -}}
