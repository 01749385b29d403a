{{/*
The Deployments: one per service, plus render-cpu (a CPU-only render pool
beside the GPU one). "scout.workloads" lists them as YAML so every template
(Deployment, PDB, HPA, ScaledObject) iterates over the same list:
  name        object name suffix (edge, ..., render, render-cpu)
  service     what `scout serve` runs and the port it listens on
  component   the app.kubernetes.io/component label (render-cpu is render:
              one Service and one ServiceMonitor reach both pools)
  pool        render only: gpu or cpu (tells the two Deployments apart)
  gpu         whether the pod gets a GPU and the GPU image
  values      where its settings are in values.yaml
*/}}
{{- define "scout.workloads" -}}
{{- range $svc := splitList " " (include "scout.serviceNames" .) }}
{{- if eq $svc "render" }}
- {name: render, service: render, component: render, pool: {{ ternary "gpu" "cpu" $.Values.render.gpu.enabled }}, gpu: {{ $.Values.render.gpu.enabled }}, values: render}
{{- if and $.Values.render.gpu.enabled $.Values.render.cpuPool.enabled }}
- {name: render-cpu, service: render, component: render, pool: cpu, gpu: false, values: render.cpuPool}
{{- end }}
{{- else }}
- {name: {{ $svc }}, service: {{ $svc }}, component: {{ $svc }}, pool: "", gpu: false, values: {{ $svc }}}
{{- end }}
{{- end }}
{{- end -}}

{{/* The settings of one workload: render-cpu takes its own sizing and placement, the rest from render. */}}
{{- define "scout.workloadValues" -}}
{{- $root := .root -}}
{{- if eq .w.values "render.cpuPool" -}}
{{- $base := omit $root.Values.render "gpu" "cpuPool" "replicas" "resources" "autoscaling" "nodeSelector" "tolerations" "affinity" -}}
{{- toYaml (merge (deepCopy $root.Values.render.cpuPool) $base) -}}
{{- else -}}
{{- toYaml (index $root.Values .w.values) -}}
{{- end -}}
{{- end -}}

{{- define "scout.workloadSelector" -}}
{{ include "scout.selectorLabels" (dict "root" .root "component" .w.component) }}
{{- if .w.pool }}
scout.dev/pool: {{ .w.pool }}
{{- end }}
{{- end -}}

{{/* One Deployment: (dict "root" $ "w" workload). */}}
{{- define "scout.deployment" -}}
{{- $root := .root -}}
{{- $w := .w -}}
{{- $v := fromYaml (include "scout.workloadValues" .) -}}
{{- $fullname := include "scout.fullname" $root -}}
{{- $port := include "scout.port" $w.service -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}-{{ $w.name }}
  labels:
    {{- include "scout.labels" $root | nindent 4 }}
    {{- include "scout.workloadSelector" . | nindent 4 }}
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "scout.workloadSelector" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      {{- if $w.gpu }}
      # GPUs are scarce: a surge pod would wait for a free one and stall the
      # rollout, so replace one pod at a time instead.
      maxSurge: 0
      maxUnavailable: 1
      {{- else }}
      maxSurge: 25%
      maxUnavailable: 0
      {{- end }}
  template:
    metadata:
      labels:
        {{- include "scout.labels" $root | nindent 8 }}
        {{- include "scout.workloadSelector" . | nindent 8 }}
      annotations:
        checksum/config: {{ include "scout.configToml" $root | sha256sum }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "scout.serviceAccountName" $root }}
      automountServiceAccountToken: false
      # Kubernetes would otherwise put SCOUT_EDGE_PORT and friends (from the
      # Services of a release named "scout") into the environment, and the
      # binary refuses any SCOUT_* variable it does not know.
      enableServiceLinks: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if and $w.gpu $root.Values.render.gpu.runtimeClassName }}
      runtimeClassName: {{ $root.Values.render.gpu.runtimeClassName }}
      {{- end }}
      securityContext:
        {{- include "scout.podSecurityContext" $root | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      containers:
        - name: {{ $w.service }}
          image: {{ ternary (include "scout.gpuImage" $root) (include "scout.image" $root) $w.gpu | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: ["scout"]
          args: ["serve", {{ $w.service | quote }}, "--config", "/etc/scout/scout.toml"]
          ports:
            - name: http
              containerPort: {{ $port }}
              protocol: TCP
          env:
            {{- include "scout.commonSecretEnv" $root | nindent 12 }}
            {{- if has $w.service (list "identity" "tasks" "publish") }}
            {{- include "scout.secretEnv" (dict "root" $root "env" (printf "SCOUT_%s_DATABASE_URL" (upper $w.service)) "ref" (index $root.Values.secrets (printf "%sDatabaseUrl" $w.service))) | nindent 12 }}
            {{- end }}
            {{- if eq $w.service "identity" }}
            - name: SCOUT_AUTH_SIGNING_KEY_FILE
              value: /run/secrets/scout/identity-ed25519.pem
            {{- include "scout.secretEnv" (dict "root" $root "env" "SCOUT_SMS_ALIYUN_ACCESS_KEY_ID" "ref" $root.Values.secrets.smsAccessKeyId) | nindent 12 }}
            {{- include "scout.secretEnv" (dict "root" $root "env" "SCOUT_SMS_ALIYUN_ACCESS_KEY_SECRET" "ref" $root.Values.secrets.smsAccessKeySecret) | nindent 12 }}
            {{- end }}
            {{- if eq $w.service "vision" }}
            {{- include "scout.secretEnv" (dict "root" $root "env" "SCOUT_AI_VISION_MODEL_API_KEY" "ref" $root.Values.secrets.visionModelApiKey) | nindent 12 }}
            {{- include "scout.secretEnv" (dict "root" $root "env" "SCOUT_AI_TEXT_MODEL_API_KEY" "ref" $root.Values.secrets.textModelApiKey) | nindent 12 }}
            {{- if $root.Values.secrets.imageModelApiKey }}
            {{- include "scout.secretEnv" (dict "root" $root "env" "SCOUT_AI_IMAGE_MODEL_API_KEY" "ref" $root.Values.secrets.imageModelApiKey) | nindent 12 }}
            {{- end }}
            {{- end }}
            {{- if and (eq $w.service "render") $root.Values.secrets.generativeApiToken }}
            {{- include "scout.secretEnv" (dict "root" $root "env" "SCOUT_GENERATIVE_API_TOKEN" "ref" $root.Values.secrets.generativeApiToken) | nindent 12 }}
            {{- end }}
            {{- if eq $w.service "publish" }}
            {{- include "scout.secretEnv" (dict "root" $root "env" "SCOUT_PLATFORMS_TOKEN_KEYS" "ref" $root.Values.secrets.platformTokenKeys) | nindent 12 }}
            {{- include "scout.secretEnv" (dict "root" $root "env" "SCOUT_PLATFORMS_DOUYIN_CLIENT_SECRET" "ref" $root.Values.secrets.douyinClientSecret) | nindent 12 }}
            {{- include "scout.secretEnv" (dict "root" $root "env" "SCOUT_PLATFORMS_YOUTUBE_CLIENT_SECRET" "ref" $root.Values.secrets.youtubeClientSecret) | nindent 12 }}
            {{- include "scout.secretEnv" (dict "root" $root "env" "SCOUT_PLATFORMS_TIKTOK_CLIENT_SECRET" "ref" $root.Values.secrets.tiktokClientSecret) | nindent 12 }}
            {{- end }}
            {{- if eq $w.service "render" }}
            {{- include "scout.secretEnv" (dict "root" $root "env" "SCOUT_VOICE_SEED_TTS_TOKEN" "ref" $root.Values.secrets.seedTtsToken) | nindent 12 }}
            - name: SCOUT_MEDIA_WORK_DIR
              value: /var/lib/scout/work
            - name: SCOUT_MEDIA_GPU
              value: {{ ternary $root.Values.render.gpu.mode "off" $w.gpu | quote }}
            {{- if $w.gpu }}
            - name: SCOUT_MEDIA_NVDEC_SESSIONS
              value: {{ $root.Values.render.gpu.nvdecSessions | default 0 | quote }}
            {{- end }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          # Started once /healthz answers (render probes its GPU at start).
          startupProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 2
            failureThreshold: 90
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          # /readyz checks the database, cache, bus and blob store (2 s each)
          # and answers 503 while draining.
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            periodSeconds: 10
            timeoutSeconds: 9
            failureThreshold: 2
          lifecycle:
            # Let the endpoint removal reach every proxy before the drain starts.
            preStop:
              exec:
                command: ["sleep", {{ $v.preStopSleepSeconds | quote }}]
          resources:
            {{- $res := deepCopy $v.resources }}
            {{- if $w.gpu }}
            {{- $gpu := dict $root.Values.render.gpu.resourceName (toString (int $root.Values.render.gpu.count)) }}
            {{- $_ := set $res "limits" (merge (default dict $res.limits) $gpu) }}
            {{- $_ := set $res "requests" (merge (default dict $res.requests) $gpu) }}
            {{- end }}
            {{- toYaml $res | nindent 12 }}
          securityContext:
            {{- include "scout.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            - {name: config, mountPath: /etc/scout, readOnly: true}
            - {name: tmp, mountPath: /tmp}
            - {name: data, mountPath: /var/lib/scout}
            {{- if eq $w.service "render" }}
            - {name: work, mountPath: /var/lib/scout/work}
            {{- end }}
            {{- if eq $w.service "identity" }}
            - {name: signing-key, mountPath: /run/secrets/scout, readOnly: true}
            {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ $fullname }}-config
        - name: tmp
          emptyDir: {sizeLimit: 1Gi}
        - name: data
          emptyDir: {sizeLimit: 1Gi}
        {{- if eq $w.service "render" }}
        - name: work
          emptyDir:
            sizeLimit: {{ $v.workDir.sizeLimit }}
            {{- with $v.workDir.medium }}
            medium: {{ . }}
            {{- end }}
        {{- end }}
        {{- if eq $w.service "identity" }}
        - name: signing-key
          secret:
            secretName: {{ default $root.Values.secrets.name $root.Values.secrets.signingKey.name }}
            defaultMode: 0440
            items:
              - key: {{ $root.Values.secrets.signingKey.key }}
                path: identity-ed25519.pem
        {{- end }}
      {{- $nodeSelector := $v.nodeSelector }}
      {{- $tolerations := $v.tolerations }}
      {{- if $w.gpu }}
      {{- $nodeSelector = merge (deepCopy (default dict $v.nodeSelector)) $root.Values.render.gpu.nodeSelector }}
      {{- $tolerations = concat (default list $v.tolerations) $root.Values.render.gpu.tolerations }}
      {{- end }}
      {{- with $nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $root.Values.topologySpread.enabled }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: {{ $root.Values.topologySpread.topologyKey }}
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "scout.workloadSelector" . | nindent 14 }}
      {{- end }}
{{- end -}}
