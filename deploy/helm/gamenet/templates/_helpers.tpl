{{/*
Every template's first line is "# deno-fmt-ignore-file": `deno fmt --check`
formats the repository's YAML and cannot parse a template. No template may
render to comments alone (some tools take that for an object without a
kind), so optional objects share a file with one that is always there.
*/}}

{{/*
The prefix of every object's name: the release name when it already says
gamenet ("gamenet", "gamenet-prod"), else "<release>-gamenet".
*/}}
{{- define "gamenet.fullname" -}}
{{- if contains "gamenet" .Release.Name -}}
{{- .Release.Name | trunc 55 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-gamenet" .Release.Name | trunc 55 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that pick gamenet's Pods: never change them, selectors are immutable. */}}
{{- define "gamenet.selectorLabels" -}}
app.kubernetes.io/name: gamenet
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object the chart makes. */}}
{{- define "gamenet.labels" -}}
{{ include "gamenet.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The webhook's CA: PEM is encoded, base64 passes as it is. */}}
{{- define "gamenet.caBundle" -}}
{{- $ca := .Values.caBundle | trim -}}
{{- if hasPrefix "-----BEGIN" $ca -}}
{{- $ca | b64enc -}}
{{- else -}}
{{- $ca -}}
{{- end -}}
{{- end -}}
