{{/*
Chart name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "corekv.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, with the chart name appended
unless the release name already contains it.
*/}}
{{- define "corekv.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "corekv.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "corekv.labels" -}}
helm.sh/chart: {{ include "corekv.chart" . }}
{{ include "corekv.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "corekv.selectorLabels" -}}
app.kubernetes.io/name: {{ include "corekv.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The container image.
*/}}
{{- define "corekv.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/*
The number of workers per pod, which is also the number of core ports:
.Values.workers if set, else what the downward API passes as COREKV_WORKERS
(resources.limits.cpu with divisor 1, which Kubernetes rounds up: "2" -> 2,
"2500m" -> 3, "500m" -> 1).
*/}}
{{- define "corekv.workers" -}}
{{- if .Values.workers }}
{{- $workers := int .Values.workers }}
{{- if lt $workers 1 }}
{{- fail (printf "workers must be a positive integer, got %v" .Values.workers) }}
{{- end }}
{{- $workers }}
{{- else }}
{{- $cpu := "" }}
{{- with .Values.resources }}{{ with .limits }}{{ with .cpu }}
{{- $cpu = toString . }}
{{- end }}{{ end }}{{ end }}
{{- if not $cpu }}
{{- fail "set resources.limits.cpu (COREKV_WORKERS comes from it) or workers" }}
{{- end }}
{{- $milli := 0 }}
{{- if hasSuffix "m" $cpu }}
{{- $milli = trimSuffix "m" $cpu | int }}
{{- else }}
{{- $milli = mulf (float64 $cpu) 1000 | ceil | int }}
{{- end }}
{{- max 1 (div (add $milli 999) 1000) }}
{{- end }}
{{- end }}

{{/*
The headless Service: stable per-pod DNS names.
*/}}
{{- define "corekv.headless" -}}
{{- printf "%s-headless" (include "corekv.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The DNS suffix of every pod's name: <pod>.<this>.
*/}}
{{- define "corekv.podDomain" -}}
{{- printf "%s.%s.svc.%s" (include "corekv.headless" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/*
The ports every pod serves, as ServicePorts: shared, resp and, when "core"
is true, core-<i>. Called with (dict "root" $ "core" BOOL).
*/}}
{{- define "corekv.servicePorts" -}}
{{- $workers := include "corekv.workers" .root | int }}
- name: shared
  port: {{ .root.Values.port }}
  targetPort: shared
  protocol: TCP
{{- if .root.Values.respPort }}
- name: resp
  port: {{ .root.Values.respPort }}
  targetPort: resp
  protocol: TCP
{{- end }}
{{- if .core }}
{{- range $i := until $workers }}
- name: core-{{ $i }}
  port: {{ add $.root.Values.corePortBase $i }}
  targetPort: core-{{ $i }}
  protocol: TCP
{{- end }}
{{- end }}
{{- end }}

{{/*
The Secret holding the password: auth.existingSecret, else the chart's own.
*/}}
{{- define "corekv.secretName" -}}
{{- default (include "corekv.fullname" .) .Values.auth.existingSecret }}
{{- end }}
