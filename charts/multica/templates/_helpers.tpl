{{/* _helpers.tpl: names, labels and the values checks shared by every template. */}}

{{- define "multica.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "multica.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "multica.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "multica.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "multica.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "multica.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "api-gateway") */}}
{{- define "multica.selectorLabels" -}}
app.kubernetes.io/name: {{ include "multica.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "multica.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Host of the PostgreSQL the services use. */}}
{{- define "multica.dbHost" -}}
{{- if .Values.postgresql.enabled }}
{{- printf "%s-postgresql" (include "multica.fullname" .) }}
{{- else }}
{{- required "database.host is required (or set postgresql.enabled=true)" .Values.database.host }}
{{- end }}
{{- end }}

{{- define "multica.dbSslmode" -}}
{{- if .Values.postgresql.enabled }}disable{{ else }}{{ .Values.database.sslmode }}{{ end }}
{{- end }}

{{/* Values that would render a broken release stop the render with a reason. */}}
{{- define "multica.validate" -}}
{{- $_ := required "kafka.brokers is required: the bootstrap servers of your Kafka" .Values.kafka.brokers }}
{{- $partitions := int .Values.kafka.partitions }}
{{- if lt $partitions 1 }}
{{- fail "kafka.partitions must be at least 1" }}
{{- end }}
{{- $ing := index .Values.services "usage-ingester" }}
{{- if and $ing.autoscaling.enabled $ing.keda.enabled }}
{{- fail "services.usage-ingester: autoscaling.enabled (HPA on CPU) and keda.enabled (KEDA on consumer lag) are both true: two autoscalers would fight over the replica count; enable one" }}
{{- end }}
{{- if $ing.keda.enabled }}
{{- if gt (int $ing.keda.maxReplicaCount) $partitions }}
{{- fail (printf "services.usage-ingester.keda.maxReplicaCount (%d) must not exceed kafka.partitions (%d): an ingester beyond the partition count gets no partition and sits idle" (int $ing.keda.maxReplicaCount) $partitions) }}
{{- end }}
{{- if gt (int $ing.keda.minReplicaCount) (int $ing.keda.maxReplicaCount) }}
{{- fail "services.usage-ingester.keda.minReplicaCount must not exceed maxReplicaCount" }}
{{- end }}
{{- else if $ing.autoscaling.enabled }}
{{- if gt (int $ing.autoscaling.maxReplicas) $partitions }}
{{- fail (printf "services.usage-ingester.autoscaling.maxReplicas (%d) must not exceed kafka.partitions (%d): an ingester beyond the partition count of multica.usage.events gets no partition and sits idle" (int $ing.autoscaling.maxReplicas) $partitions) }}
{{- end }}
{{- if gt (int $ing.autoscaling.minReplicas) (int $ing.autoscaling.maxReplicas) }}
{{- fail "services.usage-ingester.autoscaling.minReplicas must not exceed maxReplicas" }}
{{- end }}
{{- else if gt (int $ing.replicas) $partitions }}
{{- fail (printf "services.usage-ingester.replicas (%d) must not exceed kafka.partitions (%d)" (int $ing.replicas) $partitions) }}
{{- end }}
{{- end }}
