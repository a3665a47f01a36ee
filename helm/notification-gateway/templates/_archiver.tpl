{{/*
The audit archiver (python -m archiver, templates/archiver.yaml). Its pods have labels
of their own: the gateway's selector labels would put them behind the gateway's Service
and in its PodDisruptionBudget.
*/}}
{{- define "notification-gateway.archiverName" -}}
{{- printf "%s-archiver" (include "notification-gateway.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "notification-gateway.archiverSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-archiver" (include "notification-gateway.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "notification-gateway.archiverLabels" -}}
helm.sh/chart: {{ include "notification-gateway.chart" . }}
{{ include "notification-gateway.archiverSelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: archiver
app.kubernetes.io/part-of: {{ include "notification-gateway.name" . }}
{{- end -}}

{{/* The Secret holding ARCHIVE_DATABASE_PASSWORD: its own, or the gateway's. */}}
{{- define "notification-gateway.archiverSecretName" -}}
{{- .Values.archiver.database.existingSecret | default (include "notification-gateway.secretName" .) -}}
{{- end -}}

{{/* The archiver's pod spec, shared by the CronJob and the Deployment. */}}
{{- define "notification-gateway.archiverPodSpec" -}}
{{- $a := .Values.archiver -}}
{{- $once := eq $a.mode "cronjob" -}}
{{- $gatewaySecret := include "notification-gateway.secretName" . -}}
{{- $archiveSecret := include "notification-gateway.archiverSecretName" . -}}
serviceAccountName: {{ include "notification-gateway.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $once }}
restartPolicy: Never
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
containers:
  - name: archiver
    image: {{ include "notification-gateway.image" . | quote }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: ["python", "-m", "archiver"{{ if $once }}, "--once"{{ end }}]
    # The gateway's own settings: REDIS_*, GATEWAY_QUEUES, QUEUE_PREFIX, LOG_LEVEL.
    envFrom:
      - configMapRef:
          name: {{ include "notification-gateway.fullname" . }}
    env:
      - name: ARCHIVE_DATABASE_URL
        value: {{ $a.database.url | quote }}
      - name: ARCHIVE_INTERVAL_SECONDS
        value: {{ $a.intervalSeconds | int | quote }}
      - name: ARCHIVE_MIN_AGE_SECONDS
        value: {{ $a.minAgeSeconds | int | quote }}
      - name: ARCHIVE_BATCH
        value: {{ $a.batch | int | quote }}
      - name: ARCHIVE_METRICS_HOST
        value: {{ $a.metricsHost | quote }}
      - name: ARCHIVE_METRICS_PORT
        value: {{ ternary 0 $a.metricsPort $once | int | quote }}
      - name: ARCHIVE_APPLY_MIGRATIONS
        value: {{ $a.applyMigrations | toString | quote }}
      {{- if $archiveSecret }}
      - name: ARCHIVE_DATABASE_PASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ $archiveSecret }}
            key: {{ $a.database.passwordKey }}
            optional: true
      {{- end }}
      {{- if $gatewaySecret }}
      - name: REDIS_PASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ $gatewaySecret }}
            key: {{ .Values.secrets.redisPasswordKey }}
            optional: true
      - name: REDIS_SENTINEL_PASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ $gatewaySecret }}
            key: {{ .Values.secrets.redisSentinelPasswordKey }}
            optional: true
      {{- end }}
    {{- if not $once }}
    ports:
      - name: metrics
        containerPort: {{ $a.metricsPort }}
        protocol: TCP
    livenessProbe:
      httpGet:
        path: /metrics
        port: metrics
      periodSeconds: 30
      timeoutSeconds: 5
      failureThreshold: 3
    {{- end }}
    resources:
      {{- toYaml $a.resources | nindent 6 }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
