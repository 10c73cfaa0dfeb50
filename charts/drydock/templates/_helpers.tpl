{{/* The prefix of every object's name: fullnameOverride, else the release name. */}}
{{- define "drydock.prefix" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/* Where task pods go (--task-namespace). */}}
{{- define "drydock.taskNamespace" -}}
{{- default (printf "%s-tasks" (include "drydock.prefix" .)) .Values.tasks.namespace -}}
{{- end -}}

{{/*
Labels of every object: app.kubernetes.io/name, as in config/, plus Helm's own (which the chart-vs-kustomize test
leaves out when it compares).
*/}}
{{- define "drydock.labels" -}}
app.kubernetes.io/name: drydock
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* What the Deployment, the Service and the PodMonitor select the controller's pods by. */}}
{{- define "drydock.selectorLabels" -}}
app.kubernetes.io/name: drydock
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The controller's ServiceAccount as an RBAC subject. */}}
{{- define "drydock.subject" -}}
- kind: ServiceAccount
  name: {{ include "drydock.prefix" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
