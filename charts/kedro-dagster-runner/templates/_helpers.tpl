{{/*
Helpers of the kedro-dagster-runner chart. Every name is prefixed with "kdr." so that it can
never clash with a parent chart's helpers.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "kdr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The base name of every object: fullnameOverride, else "<release>-<chart name>", shortened to
"<release>" when the release name already contains the chart name.
*/}}
{{- define "kdr.fullname" -}}
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

{{/* "<chart>-<version>" for the helm.sh/chart label. */}}
{{- define "kdr.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the objects of this release. */}}
{{- define "kdr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kdr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels put on every object. */}}
{{- define "kdr.labels" -}}
helm.sh/chart: {{ include "kdr.chart" . }}
{{ include "kdr.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kedro-dagster-runner
{{- end -}}

{{/* The service account the driver pod and the step pods run as. */}}
{{- define "kdr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kdr.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap holding the Dagster instance's dagster.yaml. */}}
{{- define "kdr.instanceConfigMapName" -}}
{{- printf "%s-instance" (include "kdr.fullname" . | trunc 54 | trimSuffix "-") -}}
{{- end -}}

{{/* The Secret holding the Postgres password: an existing one, or the one this chart creates. */}}
{{- define "kdr.postgresql.secretName" -}}
{{- if .Values.postgresql.existingSecret -}}
{{- .Values.postgresql.existingSecret -}}
{{- else -}}
{{- printf "%s-postgresql" (include "kdr.fullname" . | trunc 52 | trimSuffix "-") -}}
{{- end -}}
{{- end -}}

{{/*
The key of the password inside that Secret. A Secret created by this chart always uses the
key DAGSTER_PG_PASSWORD, so that step pods can take it with envFrom (env_secrets).
*/}}
{{- define "kdr.postgresql.secretKey" -}}
{{- if .Values.postgresql.existingSecret -}}
{{- required "postgresql.existingSecretKey must name the key of the password in postgresql.existingSecret" .Values.postgresql.existingSecretKey -}}
{{- else -}}
DAGSTER_PG_PASSWORD
{{- end -}}
{{- end -}}

{{/* The project image: "repository@digest" when image.digest is set, else "repository:tag". */}}
{{- define "kdr.image" -}}
{{- $repository := required "image.repository is required: the image of your Kedro project" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- $tag := required "image.tag (or image.digest) is required" (.Values.image.tag | default "" | toString) -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The full command of the driver container: kedro run with DagsterRunner. */}}
{{- define "kdr.command" -}}
{{- $env := required "kedro.env is required: the Kedro configuration environment of the run" .Values.kedro.env -}}
{{- $cmd := list "kedro" "run" "--runner" "kedro_dagster_runner.DagsterRunner" "--env" (toString $env) -}}
{{- if .Values.kedro.runnerParams -}}
{{- $cmd = concat $cmd (list "--runner-params" (toString .Values.kedro.runnerParams)) -}}
{{- end -}}
{{- range .Values.kedro.extraArgs -}}
{{- $cmd = append $cmd (toString .) -}}
{{- end -}}
{{- toYaml $cmd -}}
{{- end -}}

{{/* The image pull secrets as LocalObjectReferences; accepts names or {name: ...} maps. */}}
{{- define "kdr.imagePullSecrets" -}}
{{- $refs := list -}}
{{- range .Values.image.pullSecrets -}}
{{- if kindIs "map" . -}}
{{- $refs = append $refs (dict "name" (required "image.pullSecrets entries need a name" .name)) -}}
{{- else -}}
{{- $refs = append $refs (dict "name" (toString .)) -}}
{{- end -}}
{{- end -}}
{{- if $refs -}}
{{- toYaml $refs -}}
{{- end -}}
{{- end -}}

{{/*
Volumes every pod of a run gets, the driver's and the step pods': a writable DAGSTER_HOME
(emptyDir) with the instance's dagster.yaml mounted into it from the ConfigMap, plus
extraVolumes. Returned as YAML for the list; the mounts are in kdr.volumeMounts.
*/}}
{{- define "kdr.volumes" -}}
{{- $volumes := list
  (dict "name" "dagster-home" "emptyDir" (dict))
  (dict "name" "dagster-instance" "configMap" (dict "name" (include "kdr.instanceConfigMapName" .) "items" (list (dict "key" "dagster.yaml" "path" "dagster.yaml"))))
-}}
{{- $volumes = concat $volumes (.Values.extraVolumes | default list) -}}
{{- toYaml $volumes -}}
{{- end -}}

{{- define "kdr.volumeMounts" -}}
{{- $home := required "dagster.home is required" .Values.dagster.home -}}
{{- $mounts := list
  (dict "name" "dagster-home" "mountPath" $home)
  (dict "name" "dagster-instance" "mountPath" (printf "%s/dagster.yaml" (trimSuffix "/" $home)) "subPath" "dagster.yaml" "readOnly" true)
-}}
{{- $mounts = concat $mounts (.Values.extraVolumeMounts | default list) -}}
{{- toYaml $mounts -}}
{{- end -}}

{{/*
The K8sRunLauncher section of dagster.yaml. dagster-k8s's k8s_job_executor needs a
K8sRunLauncher on the instance and copies its settings (image, namespace, service account,
pull policy and secrets, env, volumes, labels, resources, security context, raw k8s config)
onto every step Job it creates, so this is where the step pods are configured.
*/}}
{{- define "kdr.runLauncher" -}}
{{- $secretName := include "kdr.postgresql.secretName" . -}}
{{- $secretKey := include "kdr.postgresql.secretKey" . -}}
{{- $config := dict
  "load_incluster_config" true
  "job_namespace" .Release.Namespace
  "service_account_name" (include "kdr.serviceAccountName" .)
  "job_image" (include "kdr.image" .)
  "image_pull_policy" (default .Values.image.pullPolicy .Values.stepPods.imagePullPolicy)
  "instance_config_map" (include "kdr.instanceConfigMapName" .)
  "dagster_home" .Values.dagster.home
  "env_vars" (list "KEDRO_DISABLE_TELEMETRY=true")
-}}
{{- $pullSecrets := include "kdr.imagePullSecrets" . -}}
{{- if $pullSecrets -}}
{{- $_ := set $config "image_pull_secrets" (fromYamlArray $pullSecrets) -}}
{{- end -}}
{{- /* Step pods get the password like the driver: from the Secret, never as a literal. */ -}}
{{- $envSecrets := list -}}
{{- $containerEnv := list -}}
{{- if eq $secretKey "DAGSTER_PG_PASSWORD" -}}
{{- $envSecrets = append $envSecrets $secretName -}}
{{- else -}}
{{- $containerEnv = append $containerEnv (dict "name" "DAGSTER_PG_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" $secretName "key" $secretKey))) -}}
{{- end -}}
{{- $envSecrets = concat $envSecrets (.Values.envFrom.secrets | default list) -}}
{{- if $envSecrets -}}
{{- $_ := set $config "env_secrets" $envSecrets -}}
{{- end -}}
{{- if .Values.envFrom.configMaps -}}
{{- $_ := set $config "env_config_maps" .Values.envFrom.configMaps -}}
{{- end -}}
{{- $containerEnv = concat $containerEnv (.Values.env | default list) -}}
{{- $_ := set $config "volumes" (include "kdr.volumes" . | fromYamlArray) -}}
{{- $_ := set $config "volume_mounts" (include "kdr.volumeMounts" . | fromYamlArray) -}}
{{- $labels := merge (dict "app.kubernetes.io/instance" .Release.Name "app.kubernetes.io/part-of" "kedro-dagster-runner") (.Values.stepPods.labels | default dict) -}}
{{- $_ := set $config "labels" $labels -}}
{{- if .Values.stepPods.resources -}}
{{- $_ := set $config "resources" .Values.stepPods.resources -}}
{{- end -}}
{{- if .Values.containerSecurityContext -}}
{{- $_ := set $config "security_context" .Values.containerSecurityContext -}}
{{- end -}}
{{- $podSpec := dict -}}
{{- if .Values.podSecurityContext -}}
{{- $_ := set $podSpec "securityContext" .Values.podSecurityContext -}}
{{- end -}}
{{- if .Values.stepPods.inheritScheduling -}}
{{- if .Values.nodeSelector -}}
{{- $_ := set $podSpec "nodeSelector" .Values.nodeSelector -}}
{{- end -}}
{{- if .Values.tolerations -}}
{{- $_ := set $podSpec "tolerations" .Values.tolerations -}}
{{- end -}}
{{- if .Values.affinity -}}
{{- $_ := set $podSpec "affinity" .Values.affinity -}}
{{- end -}}
{{- end -}}
{{- $runK8sConfig := dict -}}
{{- if $containerEnv -}}
{{- $_ := set $runK8sConfig "container_config" (dict "env" $containerEnv) -}}
{{- end -}}
{{- if $podSpec -}}
{{- $_ := set $runK8sConfig "pod_spec_config" $podSpec -}}
{{- end -}}
{{- if $runK8sConfig -}}
{{- $_ := set $config "run_k8s_config" $runK8sConfig -}}
{{- end -}}
{{- toYaml (dict "module" "dagster_k8s" "class" "K8sRunLauncher" "config" $config) -}}
{{- end -}}

{{/*
The whole dagster.yaml of the instance. The password is only ever a reference to the
DAGSTER_PG_PASSWORD environment variable, which every pod takes from the Secret.
*/}}
{{- define "kdr.dagsterYaml" -}}
{{- $pg := .Values.postgresql -}}
{{- $db := dict
  "username" (required "postgresql.username is required" $pg.username)
  "password" (dict "env" "DAGSTER_PG_PASSWORD")
  "hostname" (required "postgresql.host is required" $pg.host)
  "db_name" (required "postgresql.database is required" $pg.database)
  "port" (int (required "postgresql.port is required" $pg.port))
  "params" ($pg.params | default dict)
-}}
{{- if $pg.scheme -}}
{{- $_ := set $db "scheme" $pg.scheme -}}
{{- end -}}
{{- $instance := dict
  "storage" (dict "postgres" (dict "postgres_db" $db))
  "run_launcher" (include "kdr.runLauncher" . | fromYaml)
  "telemetry" (dict "enabled" false)
  "nux" (dict "enabled" false)
-}}
{{- /* Extra top-level settings; the keys above always win. */ -}}
{{- $instance = merge $instance (deepCopy (.Values.dagster.instanceExtra | default dict)) -}}
{{- toYaml $instance -}}
{{- end -}}

{{/* The pod template of the driver, shared by the Job and the CronJob. */}}
{{- define "kdr.podTemplate" -}}
metadata:
  labels:
    {{- include "kdr.labels" . | nindent 4 }}
    app.kubernetes.io/component: driver
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "kdr.serviceAccountName" . }}
  automountServiceAccountToken: true
  {{- with (include "kdr.imagePullSecrets" .) }}
  imagePullSecrets:
    {{- . | nindent 4 }}
  {{- end }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: kedro
      image: {{ include "kdr.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      {{- with .Values.kedro.projectDir }}
      workingDir: {{ . | quote }}
      {{- end }}
      command:
        {{- include "kdr.command" . | nindent 8 }}
      env:
        - name: DAGSTER_HOME
          value: {{ .Values.dagster.home | quote }}
        - name: DAGSTER_PG_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ include "kdr.postgresql.secretName" . }}
              key: {{ include "kdr.postgresql.secretKey" . }}
        - name: KEDRO_DISABLE_TELEMETRY
          value: "true"
        {{- with .Values.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if or .Values.envFrom.secrets .Values.envFrom.configMaps }}
      envFrom:
        {{- range .Values.envFrom.configMaps }}
        - configMapRef:
            name: {{ . }}
        {{- end }}
        {{- range .Values.envFrom.secrets }}
        - secretRef:
            name: {{ . }}
        {{- end }}
      {{- end }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.containerSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        {{- include "kdr.volumeMounts" . | nindent 8 }}
  volumes:
    {{- include "kdr.volumes" . | nindent 4 }}
{{- end -}}

{{/* The Job spec, shared by the Job and the CronJob's jobTemplate. */}}
{{- define "kdr.jobSpec" -}}
backoffLimit: {{ int .Values.job.backoffLimit }}
{{- if not (kindIs "invalid" .Values.job.ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ int .Values.job.ttlSecondsAfterFinished }}
{{- end }}
{{- if not (kindIs "invalid" .Values.job.activeDeadlineSeconds) }}
activeDeadlineSeconds: {{ int .Values.job.activeDeadlineSeconds }}
{{- end }}
template:
  {{- include "kdr.podTemplate" . | nindent 2 }}
{{- end -}}
