{{/*
Shared helpers. Every object is named <fullname>-<component>, where fullname
is the release name (or fullnameOverride): release "scout" gives scout-edge,
scout-identity, ... and the services find each other at
http://scout-identity:50051 and so on.
*/}}

{{- define "scout.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* The six services of the binary, in the order `scout up` starts them. */}}
{{- define "scout.serviceNames" -}}
edge identity tasks vision render publish
{{- end -}}

{{/* Each service's one port (gRPC, grpc-web, REST, /healthz, /readyz, /metrics). */}}
{{- define "scout.port" -}}
{{- $ports := dict "edge" 8080 "identity" 50051 "tasks" 50052 "vision" 50053 "render" 50054 "publish" 50055 -}}
{{- required (printf "no port for service %q" .) (get $ports .) -}}
{{- end -}}

{{- define "scout.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{/* The GPU variant (Dockerfile.gpu: the `nvidia` cargo feature). */}}
{{- define "scout.gpuImage" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- $repo := default .Values.image.repository .Values.image.gpu.repository -}}
{{- printf "%s:%s" $repo (default (printf "%s%s" $tag .Values.image.gpu.tagSuffix) .Values.image.gpu.tag) -}}
{{- end -}}

{{- define "scout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "scout.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "scout.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: scout
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: shop-video-scout
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "edge"). */}}
{{- define "scout.selectorLabels" -}}
app.kubernetes.io/name: scout
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every pod of this release (NetworkPolicy peers). */}}
{{- define "scout.releasePodLabels" -}}
app.kubernetes.io/name: scout
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
How long a service drains after SIGTERM: the pod's grace period less the
preStop sleep and a margin for the process to exit, so the drain always ends
before the kubelet's SIGKILL.
*/}}
{{- define "scout.drainSeconds" -}}
{{- $s := sub (sub (int .terminationGracePeriodSeconds) (int .preStopSleepSeconds)) 5 -}}
{{- if lt $s 1 -}}
{{- fail "terminationGracePeriodSeconds must exceed preStopSleepSeconds by more than 5 s" -}}
{{- end -}}
{{- $s -}}
{{- end -}}

{{/*
The config file every service reads (/etc/scout/scout.toml): the chart's
deployment facts (addresses, the other services' endpoints, the cluster
backends, drain timeouts) over the operator's `config` values. Secrets are
never here: they arrive as SCOUT_* variables from Secrets.
*/}}
{{- define "scout.configToml" -}}
{{- $root := . -}}
{{- $fullname := include "scout.fullname" . -}}
{{- $managed := dict "data_dir" "/var/lib/scout" -}}
{{- range $svc := splitList " " (include "scout.serviceNames" .) -}}
{{- $port := include "scout.port" $svc -}}
{{- $section := dict "addr" (printf "0.0.0.0:%s" $port) "drain_timeout" (printf "%ss" (include "scout.drainSeconds" (index $root.Values $svc))) -}}
{{- if ne $svc "edge" -}}
{{- $_ := set $section "endpoint" (printf "http://%s-%s:%s" $fullname $svc $port) -}}
{{- end -}}
{{- $_ := set $managed $svc $section -}}
{{- end -}}
{{- with (include "scout.publicUrl" .) -}}
{{- $_ := set $managed.edge "public_url" . -}}
{{- end -}}
{{- $_ := set $managed "cache" (dict "backend" "redis") -}}
{{- $_ := set $managed "bus" (dict "backend" "kafka" "brokers" .Values.kafka.brokers "topic_prefix" .Values.kafka.topicPrefix "partitions" .Values.kafka.partitions "replication" .Values.kafka.replication) -}}
{{- $_ := set $managed "blobs" (dict "backend" "s3" "endpoint" .Values.s3.endpoint "region" .Values.s3.region "bucket" .Values.s3.bucket "force_path_style" .Values.s3.forcePathStyle) -}}
{{- $config := mustMergeOverwrite (deepCopy (default dict .Values.config)) $managed -}}
# Rendered by the Helm chart from `config` (values.yaml) and the deployment's
# addresses and backends. Secrets come from SCOUT_* variables, not from here.
{{ include "scout.toml.table" (dict "path" (list) "map" $config) }}
{{- end -}}

{{- define "scout.publicUrl" -}}
{{- if .Values.edge.publicUrl -}}
{{- .Values.edge.publicUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) .Values.ingress.host -}}
{{- end -}}
{{- end -}}

{{/*
A small TOML writer. Helm's own toToml writes every number from values as a
float (4194304 becomes 4194304.0), which the binary's config refuses for an
integer key; this writes whole numbers as integers, strings as TOML basic
strings (JSON escapes are a subset of TOML's), and nested maps as tables.
*/}}
{{- define "scout.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}{{ . }}{{- else -}}{{ toJson . }}{{- end -}}
{{- end -}}

{{- define "scout.toml.value" -}}
{{- $v := . -}}
{{- if kindIs "string" $v -}}
{{- toJson $v -}}
{{- else if kindIs "bool" $v -}}
{{- $v -}}
{{- else if kindIs "float64" $v -}}
{{- if eq $v (floor $v) -}}{{ int64 $v }}{{- else -}}{{ $v }}{{- end -}}
{{- else if or (kindIs "int" $v) (kindIs "int64" $v) (kindIs "uint64" $v) -}}
{{- $v -}}
{{- else if kindIs "slice" $v -}}
[{{- range $i, $e := $v -}}{{- if $i -}}, {{ end -}}{{- include "scout.toml.value" $e -}}{{- end -}}]
{{- else if kindIs "map" $v -}}
{ {{- $first := true -}}
{{- range $k := keys $v | sortAlpha -}}
{{- $e := get $v $k -}}
{{- if not (kindIs "invalid" $e) -}}
{{- if not $first -}}, {{ end -}}{{- $first = false -}}
{{- include "scout.toml.key" $k }} = {{ include "scout.toml.value" $e -}}
{{- end -}}
{{- end -}} }
{{- else -}}
{{- fail (printf "config: cannot write %v (a %s) as TOML" $v (kindOf $v)) -}}
{{- end -}}
{{- end -}}

{{/* (dict "path" list-of-keys "map" map): the map's plain keys, then its sub-tables. */}}
{{- define "scout.toml.table" -}}
{{- $path := .path -}}
{{- $m := .map -}}
{{- range $k := keys $m | sortAlpha -}}
{{- $v := get $m $k -}}
{{- if not (or (kindIs "map" $v) (kindIs "invalid" $v)) }}
{{ include "scout.toml.key" $k }} = {{ include "scout.toml.value" $v }}
{{- end -}}
{{- end -}}
{{- range $k := keys $m | sortAlpha -}}
{{- $v := get $m $k -}}
{{- if kindIs "map" $v -}}
{{- $sub := append $path $k }}

[{{ range $i, $p := $sub }}{{ if $i }}.{{ end }}{{ include "scout.toml.key" $p }}{{ end }}]
{{- include "scout.toml.table" (dict "path" $sub "map" $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* One secret-sourced variable: (dict "root" $ "env" "SCOUT_X" "ref" .Values.secrets.x). */}}
{{- define "scout.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ default .root.Values.secrets.name .ref.name | quote }}
      key: {{ required (printf "secrets: no key for %s" .env) .ref.key | quote }}
      {{- if .ref.optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* The variables every service gets: the mesh credential and the backends' credentials. */}}
{{- define "scout.commonSecretEnv" -}}
{{ include "scout.secretEnv" (dict "root" . "env" "SCOUT_AUTH_SERVICE_TOKEN" "ref" .Values.secrets.serviceToken) }}
{{ include "scout.secretEnv" (dict "root" . "env" "SCOUT_CACHE_URL" "ref" .Values.secrets.cacheUrl) }}
{{ include "scout.secretEnv" (dict "root" . "env" "SCOUT_BLOBS_ACCESS_KEY" "ref" .Values.secrets.blobsAccessKey) }}
{{ include "scout.secretEnv" (dict "root" . "env" "SCOUT_BLOBS_SECRET_KEY" "ref" .Values.secrets.blobsSecretKey) }}
{{- end -}}

{{/* The pod-level security context: the image's user (Dockerfile: USER 10001:10001). */}}
{{- define "scout.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "scout.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end -}}
