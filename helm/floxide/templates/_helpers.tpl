{{/* Chart name, truncated to a DNS label. */}}
{{- define "floxide.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-operator by default, or just "floxide-operator" for a release named floxide. */}}
{{- define "floxide.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if eq .Release.Name (include "floxide.name" .) }}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s-operator" .Release.Name (include "floxide.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "floxide.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "floxide.labels" -}}
helm.sh/chart: {{ include "floxide.chart" . }}
app.kubernetes.io/part-of: floxide
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "floxide.operatorSelectorLabels" -}}
app.kubernetes.io/name: floxide-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "floxide.operatorLabels" -}}
{{ include "floxide.labels" . }}
app.kubernetes.io/name: floxide-operator
app.kubernetes.io/component: operator
{{- end }}

{{- define "floxide.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "floxide.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "floxide.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Leader election is on when asked for; more than one replica without it is refused. */}}
{{- define "floxide.leaderElect" -}}
{{- if and (gt (int .Values.operator.replicas) 1) (not .Values.operator.leaderElection.enabled) }}
{{- fail "operator.replicas > 1 needs operator.leaderElection.enabled=true (replicas would fight over the same WorkflowDeployments)" }}
{{- end }}
{{- ternary "true" "false" .Values.operator.leaderElection.enabled }}
{{- end }}

{{- define "floxide.checkScope" -}}
{{- if and (eq .Values.rbac.scope "namespaced") (empty .Values.operator.watchNamespaces) }}
{{- fail "rbac.scope=namespaced needs operator.watchNamespaces (the namespaces to grant the operator a Role in)" }}
{{- end }}
{{- end }}

{{/*
The operator's rules, the same as deploy/rbac/operator.yaml (a test compares them: change both).
*/}}
{{- define "floxide.operatorRules" -}}
# Watch WorkflowDeployments, write their status.
- apiGroups: [floxide.dev]
  resources: [workflowdeployments]
  verbs: [get, list, watch]
- apiGroups: [floxide.dev]
  resources: [workflowdeployments/status]
  verbs: [get, patch, update]
# ownerReferences with blockOwnerDeletion need this where OwnerReferencesPermissionEnforcement is on.
- apiGroups: [floxide.dev]
  resources: [workflowdeployments/finalizers]
  verbs: [update]
# The children, written by server-side apply (create + patch); the PDB is deleted when disabled.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, create, patch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, create, patch, delete]
# pod-deletion-cost annotations right before a scale-down.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, patch]
# Redis URL / password / CA referenced by a WorkflowDeployment.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{- define "floxide.leaderElectionRules" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
{{- end }}

{{- define "floxide.redisName" -}}
{{- printf "%s-redis" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
