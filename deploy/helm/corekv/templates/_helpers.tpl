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
The number of workers, which is also the number of core ports:
.Values.workers if set, else what the server itself derives from its cgroup
CPU quota, i.e. resources.limits.cpu rounded down, at least 1 ("2" -> 2,
"2500m" -> 2, "500m" -> 1).
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
{{- fail "set resources.limits.cpu (corekv starts one worker per CPU of its quota) or workers" }}
{{- end }}
{{- $milli := 0 }}
{{- if hasSuffix "m" $cpu }}
{{- $milli = trimSuffix "m" $cpu | int }}
{{- else }}
{{- $milli = mulf (float64 $cpu) 1000 | int }}
{{- end }}
{{- max 1 (div $milli 1000) }}
{{- end }}
{{- end }}

{{/*
The Secret holding the password: auth.existingSecret, else the chart's own.
*/}}
{{- define "corekv.secretName" -}}
{{- default (include "corekv.fullname" .) .Values.auth.existingSecret }}
{{- end }}
