{{/* Names are cut at 63 characters, the limit of a DNS label. */}}
{{- define "moonwake.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "moonwake.hubName" -}}
{{- printf "%s-hub" (include "moonwake.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The selector: fixed for the life of a release (selectors cannot change). */}}
{{- define "moonwake.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "moonwake.labels" -}}
{{ include "moonwake.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "moonwake.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "moonwake.adminTokenSecret" -}}
{{- .Values.hub.adminToken.existingSecret | default (printf "%s-admin-token" (include "moonwake.fullname" .)) -}}
{{- end -}}

{{- define "moonwake.relayTokenSecret" -}}
{{- .Values.relayToken.existingSecret | default (printf "%s-relay-token" (include "moonwake.fullname" .)) -}}
{{- end -}}

{{/*
A token for a generated Secret: the one already stored under that key (so an
upgrade keeps it), else a new mw_ and 43 random letters and digits (256 bits;
randAlphaNum reads crypto/rand). Arguments: [root context, secret name, key].
helm template and --dry-run=client cannot look up, and always make a new one.
*/}}
{{- define "moonwake.token" -}}
{{- $root := index . 0 -}}
{{- $old := lookup "v1" "Secret" $root.Release.Namespace (index . 1) -}}
{{- $data := dig "data" (index . 2) "" $old -}}
{{- $data | default (printf "mw_%s" (randAlphaNum 43) | b64enc) -}}
{{- end -}}

{{/*
A relay's settings, as YAML: relayDefaults with the keys of its entry in
relays replacing theirs whole (a nodeSelector given on a relay is its whole
nodeSelector). Arguments: [root context, relay name].
*/}}
{{- define "moonwake.relay" -}}
{{- $root := index . 0 -}}
{{- $r := deepCopy $root.Values.relayDefaults -}}
{{- range $k, $v := index $root.Values.relays (index . 1) }}{{ $_ := set $r $k $v }}{{ end -}}
{{- toYaml $r -}}
{{- end -}}

{{/* Kept on uninstall: the database and the tokens that match it. */}}
{{- define "moonwake.keep" -}}
helm.sh/resource-policy: keep
{{- end -}}

{{/*
Pod and container security shared by the hub and the relays: what the
restricted Pod Security level asks for. Argument: the user ID (0 only for a
relay that needs raw sockets; see relayDefaults.rawSockets).
*/}}
{{- define "moonwake.podSecurity" -}}
runAsNonRoot: {{ ne (int .) 0 }}
runAsUser: {{ . }}
runAsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "moonwake.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
  {{- with . }}
  add: {{ toJson . }}
  {{- end }}
{{- end -}}

{{/*
Sysctls for a pod in its own network namespace (never the host's: the kubelet
refuses net.* sysctls there). Both are "safe" sysctls, allowed by the
restricted level. ping_group_range lets the non-root process ping through an
unprivileged ICMP socket; ip_unprivileged_port_start lets it bind the lowest
UDP port asked for (Moonlight's 9) with no capability. Argument: the ports.
*/}}
{{- define "moonwake.sysctls" -}}
- name: net.ipv4.ping_group_range
  value: "65532 65532"
{{- $low := 1024 -}}
{{- range . }}{{ if lt (int .) $low }}{{ $low = int . }}{{ end }}{{ end -}}
{{- if lt $low 1024 }}
- name: net.ipv4.ip_unprivileged_port_start
  value: {{ $low | quote }}
{{- end -}}
{{- end -}}

{{/* ":47009,:9" from [47009, 9], for MOONWAKE_PASSTHROUGH_LISTEN. */}}
{{- define "moonwake.listenList" -}}
{{- $addrs := list -}}
{{- range . }}{{ $addrs = append $addrs (printf ":%d" (int .)) }}{{ end -}}
{{- join "," $addrs -}}
{{- end -}}
