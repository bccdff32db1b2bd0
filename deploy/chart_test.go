package deploy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// tokenFormat is what the hub takes as a token: mw_ and 43 letters and
// digits (256 bits).
var tokenFormat = regexp.MustCompile(`^mw_[A-Za-z0-9]{43}$`)

// TestChartLint runs `helm lint --strict` (warnings are errors) on the chart
// with its defaults and with every example.
func TestChartLint(t *testing.T) {
	for _, c := range chartCases(t) {
		t.Run(c.name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = "moonwake"
			lint.KubeVersion = kubeVersionCaps(t)
			res := lint.Run([]string{chartDir}, readValues(t, c.valuesFile))
			for _, m := range res.Messages {
				t.Logf("lint: %s", m)
			}
			if res.TotalChartsLinted != 1 || len(res.Errors) > 0 {
				t.Fatalf("helm lint --strict: %d charts linted, errors: %v", res.TotalChartsLinted, res.Errors)
			}
		})
	}
}

// TestChartHub checks the hub as every case renders it: one replica
// replaced by Recreate, on its volume, hardened as the restricted level
// asks, probed on /healthz and /readyz, configured through the environment,
// and given its tokens as files.
func TestChartHub(t *testing.T) {
	for _, c := range chartCases(t) {
		t.Run(c.name, func(t *testing.T) {
			vals := readValues(t, c.valuesFile)
			r := mustRender(t, vals)
			var d appsv1.Deployment
			typed(t, r.get(t, "Deployment", "moonwake-hub"), &d)
			if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("hub: replicas %d, strategy %s; want 1, Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
			}
			pod := d.Spec.Template.Spec
			checkPodHardened(t, pod, 65532)
			if pod.HostNetwork || *pod.AutomountServiceAccountToken || *pod.EnableServiceLinks {
				t.Errorf("hub: hostNetwork %v, automountServiceAccountToken %v, enableServiceLinks %v; want all false",
					pod.HostNetwork, *pod.AutomountServiceAccountToken, *pod.EnableServiceLinks)
			}
			if pod.SecurityContext.FSGroup == nil || *pod.SecurityContext.FSGroup != 65532 {
				t.Errorf("hub: fsGroup %v; want 65532, so the volume is the hub's", pod.SecurityContext.FSGroup)
			}
			hub := pod.Containers[0]
			if !slices.Equal(hub.Args, []string{"serve"}) {
				t.Errorf("hub args %q; want [serve]", hub.Args)
			}
			probe := func(p *corev1.Probe, path string) {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
					t.Errorf("hub probe %+v; want GET %s on port http", p, path)
				}
			}
			probe(hub.LivenessProbe, "/healthz")
			probe(hub.ReadinessProbe, "/readyz")
			if len(hub.Ports) == 0 || hub.Ports[0].Name != "http" || hub.Ports[0].ContainerPort != 8080 {
				t.Errorf("hub ports %+v; want http 8080 first", hub.Ports)
			}

			env := envOf(hub)
			want := map[string]string{
				"MOONWAKE_LISTEN":                 ":8080",
				"MOONWAKE_DATA":                   "/data",
				"MOONWAKE_LOG_FORMAT":             "json",
				"MOONWAKE_ADMIN_TOKEN_FILE":       "/run/secrets/moonwake/admin-token",
				"MOONWAKE_RELAY_ENROL_TOKEN_FILE": "/run/secrets/moonwake-relay/token",
			}
			if _, ok := dig(vals, "hub", "config").(map[string]any); ok {
				want["MOONWAKE_CONFIG"] = "/etc/moonwake/moonwake.yaml"
			}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("hub env %s=%q; want %q", k, env[k], v)
				}
			}
			mounts := mountsOf(hub)
			for path, volume := range map[string]string{"/data": "data", "/tmp": "tmp", "/run/secrets/moonwake": "admin-token", "/run/secrets/moonwake-relay": "relay-token"} {
				if mounts[path] != volume {
					t.Errorf("hub mounts %q at %s; want %q", mounts[path], path, volume)
				}
			}
			if f := env["MOONWAKE_CONFIG"]; f != "" {
				cm := r.get(t, "ConfigMap", "moonwake-hub")
				if mounts["/etc/moonwake"] != "config" || cm.Object["data"].(map[string]any)["moonwake.yaml"] == nil {
					t.Errorf("MOONWAKE_CONFIG=%s, but the ConfigMap is not mounted there", f)
				}
			}
			vol := volumesOf(pod)
			if vol["tmp"].EmptyDir == nil {
				t.Errorf("hub /tmp is %+v; want an emptyDir", vol["tmp"])
			}
			claim := vol["data"].PersistentVolumeClaim
			if claim == nil {
				t.Fatalf("hub /data is %+v; want a claim", vol["data"])
			}
			if existing, _ := dig(vals, "hub", "persistence", "existingClaim").(string); existing == "" {
				var pvc corev1.PersistentVolumeClaim
				typed(t, r.get(t, "PersistentVolumeClaim", claim.ClaimName), &pvc)
				if !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) || pvc.Annotations["helm.sh/resource-policy"] != "keep" {
					t.Errorf("PVC %s: modes %v, annotations %v; want ReadWriteOnce, kept on uninstall", pvc.Name, pvc.Spec.AccessModes, pvc.Annotations)
				}
			}
			checkTokenVolume(t, r, vol["admin-token"], "moonwake-admin-token", "admin-token")
			checkTokenVolume(t, r, vol["relay-token"], "moonwake-relay-token", "token")

			var svc corev1.Service
			typed(t, r.get(t, "Service", "moonwake-hub"), &svc)
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 8080 ||
				!maps.Equal(svc.Spec.Selector, d.Spec.Template.Labels) {
				t.Errorf("hub Service %+v; want port http 8080 selecting the hub's pods", svc.Spec)
			}
		})
	}
}

// checkTokenVolume checks that a token volume mounts the right key of a
// Secret and, when the chart made that Secret, that it holds a token of the
// hub's form, kept on uninstall.
func checkTokenVolume(t *testing.T, r rendered, v corev1.Volume, generated, key string) {
	t.Helper()
	if v.Secret == nil || len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != key || v.Secret.Items[0].Path != key {
		t.Fatalf("volume %s: %+v; want the key %s of a Secret", v.Name, v.VolumeSource, key)
	}
	if v.Secret.SecretName != generated {
		return // the user's own Secret
	}
	var s corev1.Secret
	typed(t, r.get(t, "Secret", generated), &s)
	if !tokenFormat.Match(s.Data[key]) || s.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("Secret %s: %s=%q, annotations %v; want a token like %s, kept on uninstall", s.Name, key, s.Data[key], s.Annotations, tokenFormat)
	}
}

// TestChartTokens: each render without a cluster makes new random tokens;
// existing Secrets replace the generated ones.
func TestChartTokens(t *testing.T) {
	a, b := mustRender(t, nil), mustRender(t, nil)
	for _, name := range []string{"moonwake-admin-token", "moonwake-relay-token"} {
		da := a.get(t, "Secret", name).Object["data"]
		db := b.get(t, "Secret", name).Object["data"]
		if fmt.Sprint(da) == fmt.Sprint(db) {
			t.Errorf("%s: two renders made the same token", name)
		}
	}
	r := mustRender(t, map[string]any{
		"hub":        map[string]any{"adminToken": map[string]any{"existingSecret": "my-admin"}},
		"relayToken": map[string]any{"existingSecret": "my-relays"},
	})
	for _, o := range r.objects {
		if o.GetKind() == "Secret" {
			t.Errorf("with existing Secrets the chart still makes %s", o.GetName())
		}
	}
	var hub, relay appsv1.Deployment
	typed(t, r.get(t, "Deployment", "moonwake-hub"), &hub)
	vol := volumesOf(hub.Spec.Template.Spec)
	if vol["admin-token"].Secret.SecretName != "my-admin" || vol["relay-token"].Secret.SecretName != "my-relays" {
		t.Errorf("hub token volumes %+v, %+v; want my-admin, my-relays", vol["admin-token"].Secret, vol["relay-token"].Secret)
	}
	typed(t, r.get(t, "DaemonSet", "moonwake-relay-lan"), &relay)
	if s := volumesOf(relay.Spec.Template.Spec)["token"].Secret.SecretName; s != "my-relays" {
		t.Errorf("relay token volume is Secret %s; want my-relays", s)
	}
	if !strings.Contains(r.notes, "get secret my-admin -o jsonpath='{.data.admin-token}' | base64 -d") {
		t.Errorf("NOTES do not say how to read the admin token from my-admin:\n%s", r.notes)
	}
}

// TestChartIngress: Traefik's annotations come from the traefik values, and
// another controller gets only its own.
func TestChartIngress(t *testing.T) {
	var traefik networkingv1.Ingress
	typed(t, mustRender(t, readValues(t, examplesDir+"/k3s-traefik.yaml")).get(t, "Ingress", "moonwake-hub"), &traefik)
	want := map[string]string{
		"traefik.ingress.kubernetes.io/router.entrypoints":      "websecure",
		"traefik.ingress.kubernetes.io/router.tls":              "true",
		"traefik.ingress.kubernetes.io/router.tls.certresolver": "letsencrypt",
	}
	if !maps.Equal(traefik.Annotations, want) || *traefik.Spec.IngressClassName != "traefik" || len(traefik.Spec.TLS) != 0 {
		t.Errorf("Traefik ingress: annotations %v, class %s, tls %v; want %v, traefik, none", traefik.Annotations, *traefik.Spec.IngressClassName, traefik.Spec.TLS, want)
	}
	rule := traefik.Spec.Rules[0]
	if rule.Host != "wake.example.org" || rule.HTTP.Paths[0].Backend.Service.Name != "moonwake-hub" || rule.HTTP.Paths[0].Backend.Service.Port.Name != "http" {
		t.Errorf("Traefik ingress rule %+v; want wake.example.org to moonwake-hub:http", rule)
	}

	var nginx networkingv1.Ingress
	typed(t, mustRender(t, readValues(t, examplesDir+"/hub-only.yaml")).get(t, "Ingress", "moonwake-hub"), &nginx)
	if !maps.Equal(nginx.Annotations, map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt"}) ||
		*nginx.Spec.IngressClassName != "nginx" || len(nginx.Spec.TLS) != 1 || nginx.Spec.TLS[0].SecretName != "wake-example-org-tls" {
		t.Errorf("nginx ingress: annotations %v, class %s, tls %+v", nginx.Annotations, *nginx.Spec.IngressClassName, nginx.Spec.TLS)
	}
	for _, o := range mustRender(t, nil).objects {
		if o.GetKind() == "Ingress" {
			t.Error("the defaults make an Ingress; it is off by default")
		}
	}
}

// TestChartRelays checks each way a relay can be set up: its kind and node,
// its network, and the privileges it gets, which are only those it needs.
func TestChartRelays(t *testing.T) {
	type want struct {
		kind        string
		hostNetwork bool
		uid         int64
		caps        []corev1.Capability
		sysctls     map[string]string
		nodes       map[string]string
		env         map[string]string
	}
	hostEnv := map[string]string{
		"MOONWAKE_HUB":                 "http://moonwake-hub.moonwake.svc.cluster.local:8080",
		"MOONWAKE_RELAY_NAME":          "$(NODE_NAME)",
		"MOONWAKE_RELAY_TOKEN_FILE":    "/run/secrets/moonwake-relay/token",
		"MOONWAKE_RELAY_STATE":         "/var/lib/moonwake-relay/relay.json",
		"MOONWAKE_RELAY_HEALTH_LISTEN": ":47011",
		"MOONWAKE_RELAY_NETWORKS":      "",
		"MOONWAKE_PASSTHROUGH_LISTEN":  "",
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		m = maps.Clone(m)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	multus := map[string]any{"network": "multus", "kind": "Deployment", "node": "k3s-1",
		"multus": map[string]any{"master": "enp3s0", "subnet": "192.168.1.0/24", "rangeStart": "192.168.1.240", "rangeEnd": "192.168.1.240"}}
	with2 := func(m map[string]any, kv ...any) map[string]any {
		m = maps.Clone(m)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	pingOnly := map[string]string{"net.ipv4.ping_group_range": "65532 65532"}
	cases := []struct {
		name  string
		relay map[string]any
		want  want
	}{
		{"defaults", map[string]any{}, want{kind: "DaemonSet", hostNetwork: true, uid: 65532,
			nodes: map[string]string{"moonwake.io/relay": "true"}, env: hostEnv}},
		{"raw sockets", map[string]any{"rawSockets": true}, want{kind: "DaemonSet", hostNetwork: true, uid: 0,
			caps: []corev1.Capability{"NET_RAW"}, nodes: map[string]string{"moonwake.io/relay": "true"}, env: hostEnv}},
		{"passthrough above 1024", map[string]any{"passthroughPorts": []any{47009}}, want{kind: "DaemonSet", hostNetwork: true, uid: 65532,
			nodes: map[string]string{"moonwake.io/relay": "true"}, env: with(hostEnv, "MOONWAKE_PASSTHROUGH_LISTEN", ":47009")}},
		{"passthrough on 9, host network", map[string]any{"passthroughPorts": []any{47009, 9}}, want{kind: "DaemonSet", hostNetwork: true, uid: 0,
			caps: []corev1.Capability{"NET_BIND_SERVICE"}, nodes: map[string]string{"moonwake.io/relay": "true"},
			env: with(hostEnv, "MOONWAKE_PASSTHROUGH_LISTEN", ":47009,:9")}},
		{"deployment on a node", map[string]any{"kind": "Deployment", "node": "pi", "name": "garage", "networks": []any{"192.168.1.0/24"}},
			want{kind: "Deployment", hostNetwork: true, uid: 65532, nodes: map[string]string{"kubernetes.io/hostname": "pi"},
				env: with(hostEnv, "MOONWAKE_RELAY_NAME", "garage", "MOONWAKE_RELAY_NETWORKS", "192.168.1.0/24")}},
		{"multus", multus, want{kind: "Deployment", uid: 65532, sysctls: pingOnly,
			nodes: map[string]string{"kubernetes.io/hostname": "k3s-1"}, env: with(hostEnv, "MOONWAKE_RELAY_NETWORKS", "192.168.1.0/24")}},
		{"multus, passthrough on 9", with2(multus, "passthroughPorts", []any{9, 47009}), want{kind: "Deployment", uid: 65532,
			sysctls: with(pingOnly, "net.ipv4.ip_unprivileged_port_start", "9"), nodes: map[string]string{"kubernetes.io/hostname": "k3s-1"},
			env: with(hostEnv, "MOONWAKE_RELAY_NETWORKS", "192.168.1.0/24", "MOONWAKE_PASSTHROUGH_LISTEN", ":9,:47009")}},
		{"multus, raw sockets", with2(multus, "rawSockets", true), want{kind: "Deployment", uid: 0, caps: []corev1.Capability{"NET_RAW"},
			sysctls: pingOnly, nodes: map[string]string{"kubernetes.io/hostname": "k3s-1"}, env: with(hostEnv, "MOONWAKE_RELAY_NETWORKS", "192.168.1.0/24")}},
		{"hub URL", map[string]any{"hubURL": "https://wake.example.org"}, want{kind: "DaemonSet", hostNetwork: true, uid: 65532,
			nodes: map[string]string{"moonwake.io/relay": "true"}, env: with(hostEnv, "MOONWAKE_HUB", "https://wake.example.org")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustRender(t, map[string]any{"relays": map[string]any{"lan": c.relay}})
			obj := r.get(t, c.want.kind, "moonwake-relay-lan")
			var tmpl corev1.PodTemplateSpec
			typed(t, &unstructured.Unstructured{Object: obj.Object["spec"].(map[string]any)["template"].(map[string]any)}, &tmpl)
			pod := tmpl.Spec
			checkPodHardened(t, pod, c.want.uid)
			relay := pod.Containers[0]
			if !slices.Equal(relay.Args, []string{"relay"}) || !slices.Equal(relay.SecurityContext.Capabilities.Add, c.want.caps) {
				t.Errorf("relay args %q, capabilities added %v; want [relay], %v", relay.Args, relay.SecurityContext.Capabilities.Add, c.want.caps)
			}
			if pod.HostNetwork != c.want.hostNetwork {
				t.Errorf("hostNetwork %v; want %v", pod.HostNetwork, c.want.hostNetwork)
			}
			if c.want.hostNetwork != (pod.DNSPolicy == corev1.DNSClusterFirstWithHostNet) {
				t.Errorf("dnsPolicy %q with hostNetwork %v; want ClusterFirstWithHostNet exactly on the host network", pod.DNSPolicy, pod.HostNetwork)
			}
			sysctls := map[string]string{}
			for _, s := range pod.SecurityContext.Sysctls {
				sysctls[s.Name] = s.Value
			}
			if len(sysctls) > 0 || len(c.want.sysctls) > 0 {
				if !maps.Equal(sysctls, c.want.sysctls) {
					t.Errorf("sysctls %v; want %v", sysctls, c.want.sysctls)
				}
			}
			if !maps.Equal(pod.NodeSelector, c.want.nodes) {
				t.Errorf("nodeSelector %v; want %v", pod.NodeSelector, c.want.nodes)
			}
			env := envOf(relay)
			for k, v := range c.want.env {
				if env[k] != v {
					t.Errorf("relay env %s=%q; want %q", k, env[k], v)
				}
			}
			if relay.Env[0].Name != "NODE_NAME" || relay.Env[0].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
				t.Errorf("relay env starts with %+v; want NODE_NAME from spec.nodeName, before $(NODE_NAME) uses it", relay.Env[0])
			}
			if p := relay.LivenessProbe; p == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "health" {
				t.Errorf("relay liveness probe %+v; want GET /healthz on port health", p)
			}
			vol := volumesOf(pod)
			if vol["state"].EmptyDir == nil || mountsOf(relay)["/var/lib/moonwake-relay"] != "state" {
				t.Errorf("relay state volume %+v; want an emptyDir at /var/lib/moonwake-relay", vol["state"])
			}
			checkTokenVolume(t, r, vol["token"], "moonwake-relay-token", "token")

			nad := tmpl.Annotations["k8s.v1.cni.cncf.io/networks"]
			if c.want.hostNetwork {
				if nad != "" {
					t.Errorf("a host-network relay asks Multus for %q", nad)
				}
				return
			}
			if nad != "moonwake-relay-lan" {
				t.Fatalf("multus relay: networks annotation %q; want moonwake-relay-lan", nad)
			}
			var cni map[string]any
			config, _ := dig(r.get(t, "NetworkAttachmentDefinition", nad).Object, "spec", "config").(string)
			if err := json.Unmarshal([]byte(config), &cni); err != nil {
				t.Fatalf("NetworkAttachmentDefinition config %q: %v", config, err)
			}
			wantCNI := `{"cniVersion":"0.3.1","ipam":{"rangeEnd":"192.168.1.240","rangeStart":"192.168.1.240","subnet":"192.168.1.0/24","type":"host-local"},"master":"enp3s0","mode":"bridge","type":"macvlan"}`
			if got, _ := json.Marshal(cni); string(got) != wantCNI {
				t.Errorf("CNI config %s; want %s", got, wantCNI)
			}
		})
	}
}

// TestChartTwoRelays: relays of their own names, each with its own settings
// over the shared defaults.
func TestChartTwoRelays(t *testing.T) {
	r := mustRender(t, readValues(t, examplesDir+"/two-lans.yaml"))
	var home appsv1.DaemonSet
	var studio appsv1.Deployment
	typed(t, r.get(t, "DaemonSet", "moonwake-relay-home"), &home)
	typed(t, r.get(t, "Deployment", "moonwake-relay-studio"), &studio)
	if !maps.Equal(home.Spec.Template.Spec.NodeSelector, map[string]string{"moonwake.io/lan": "home"}) ||
		!maps.Equal(studio.Spec.Template.Spec.NodeSelector, map[string]string{"kubernetes.io/hostname": "studio-nuc"}) {
		t.Errorf("nodeSelectors %v and %v", home.Spec.Template.Spec.NodeSelector, studio.Spec.Template.Spec.NodeSelector)
	}
	if maps.Equal(home.Spec.Selector.MatchLabels, studio.Spec.Selector.MatchLabels) {
		t.Errorf("the two relays select the same pods: %v", home.Spec.Selector.MatchLabels)
	}
	if studio.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("relay Deployment strategy %s; want Recreate (one relay of a name, the node's ports)", studio.Spec.Strategy.Type)
	}
	if n := envOf(studio.Spec.Template.Spec.Containers[0])["MOONWAKE_RELAY_NETWORKS"]; n != "192.168.50.0/24" {
		t.Errorf("studio networks %q", n)
	}
	for _, o := range r.objects {
		if o.GetName() == "moonwake-relay-lan" {
			t.Errorf("lan: null still makes %s %s", o.GetKind(), o.GetName())
		}
	}
	if !strings.Contains(r.notes, "pod-security.kubernetes.io/enforce=privileged") {
		t.Errorf("NOTES do not give the namespace label that host-network relays need:\n%s", r.notes)
	}
}

// TestChartHubPassthrough: the hub's own UDP ports get a Service that keeps
// the sender's address, and a low port a sysctl rather than a capability.
func TestChartHubPassthrough(t *testing.T) {
	r := mustRender(t, map[string]any{"hub": map[string]any{"passthrough": map[string]any{"ports": []any{47009, 9}}}})
	var svc corev1.Service
	typed(t, r.get(t, "Service", "moonwake-hub-passthrough"), &svc)
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal ||
		len(svc.Spec.Ports) != 2 || svc.Spec.Ports[1].Port != 9 || svc.Spec.Ports[1].Protocol != corev1.ProtocolUDP || svc.Spec.Ports[1].TargetPort.String() != "wol-9" {
		t.Errorf("passthrough Service %+v", svc.Spec)
	}
	var d appsv1.Deployment
	typed(t, r.get(t, "Deployment", "moonwake-hub"), &d)
	pod := d.Spec.Template.Spec
	checkPodHardened(t, pod, 65532)
	if env := envOf(pod.Containers[0]); env["MOONWAKE_PASSTHROUGH_LISTEN"] != ":47009,:9" {
		t.Errorf("MOONWAKE_PASSTHROUGH_LISTEN=%q", env["MOONWAKE_PASSTHROUGH_LISTEN"])
	}
	if s := pod.SecurityContext.Sysctls; len(s) != 2 || s[1] != (corev1.Sysctl{Name: "net.ipv4.ip_unprivileged_port_start", Value: "9"}) {
		t.Errorf("hub sysctls %v; want ip_unprivileged_port_start 9", s)
	}
}

// TestValuesRefused: a wrong value stops lint and install, with a message
// that names the field.
func TestValuesRefused(t *testing.T) {
	cases := []struct {
		name   string
		values map[string]any
		want   []string // in the error, in this order
	}{
		{"unknown key", map[string]any{"hub": map[string]any{"publicUrl": "https://x"}}, []string{"/hub", "publicUrl"}},
		{"network", map[string]any{"relayDefaults": map[string]any{"network": "hostnetwork"}}, []string{"/relayDefaults", "network", "hostNetwork"}},
		{"relay name", map[string]any{"relays": map[string]any{"LAN": map[string]any{}}}, []string{"/relays", "LAN"}},
		{"port", map[string]any{"relays": map[string]any{"lan": map[string]any{"passthroughPorts": []any{70000}}}}, []string{"/relays/lan/passthroughPorts/0", "maximum"}},
		{"cidr", map[string]any{"hub": map[string]any{"trustedProxies": []any{"10.42.0.0"}}}, []string{"/hub/trustedProxies/0"}},
		{"size", map[string]any{"hub": map[string]any{"persistence": map[string]any{"size": "1 GB"}}}, []string{"/hub/persistence/size"}},
		{"public URL", map[string]any{"hub": map[string]any{"publicURL": "wake.example.org"}}, []string{"/hub/publicURL"}},
		{"ingress without hosts", map[string]any{"ingress": map[string]any{"enabled": true, "hosts": []any{}}}, []string{"/ingress/hosts", "minItems"}},
		{"log format", map[string]any{"logFormat": "yaml"}, []string{"/logFormat"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.KubeVersion = kubeVersionCaps(t)
			res := lint.Run([]string{chartDir}, c.values)
			if len(res.Errors) == 0 {
				t.Fatal("helm lint accepted it")
			}
			checkMessage(t, "helm lint", fmt.Sprint(res.Errors), c.want)
			_, err := renderChart(t, "moonwake", "moonwake", c.values)
			if err == nil {
				t.Fatal("helm template accepted it")
			}
			checkMessage(t, "helm template", err.Error(), c.want)
		})
	}
	// What one field cannot say, the templates check on a relay's settings
	// once merged with the defaults.
	for _, c := range []struct {
		name  string
		relay map[string]any
		want  string
	}{
		{"deployment without node", map[string]any{"kind": "Deployment"}, "relays.lan: kind Deployment needs node"},
		{"multus without subnet", map[string]any{"network": "multus"}, "relays.lan: network multus needs multus.subnet"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := renderChart(t, "moonwake", "moonwake", map[string]any{"relays": map[string]any{"lan": c.relay}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("helm template: %v; want an error saying %q", err, c.want)
			}
		})
	}
}

// TestValuesFileRefused: the same for a values file, as `helm lint -f`
// and `helm install -f` read it.
func TestValuesFileRefused(t *testing.T) {
	vals := readValues(t, "testdata/bad-values.yaml")
	want := []string{"/relays/lan/network", "hostNetwork"}
	lint := action.NewLint()
	lint.Strict = true
	lint.KubeVersion = kubeVersionCaps(t)
	if res := lint.Run([]string{chartDir}, vals); len(res.Errors) == 0 {
		t.Error("helm lint accepted it")
	} else {
		checkMessage(t, "helm lint", fmt.Sprint(res.Errors), want)
	}
	if _, err := renderChart(t, "moonwake", "moonwake", vals); err == nil {
		t.Error("helm template accepted it")
	} else {
		checkMessage(t, "helm template", err.Error(), want)
	}
}

func checkMessage(t *testing.T, who, msg string, want []string) {
	t.Helper()
	rest := msg
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("%s said %q; want it to name %q (in the order %q)", who, msg, w, want)
			return
		}
		rest = rest[i+len(w):]
	}
	t.Logf("%s: %s", who, msg)
}

// checkPodHardened checks what the restricted Pod Security level asks of a
// pod, and a read-only root file system without capabilities but those the
// pod's role adds.
func checkPodHardened(t *testing.T, pod corev1.PodSpec, uid int64) {
	t.Helper()
	sc := pod.SecurityContext
	if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != uid || *sc.RunAsGroup != uid || *sc.RunAsNonRoot != (uid != 0) ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v; want user and group %d, runAsNonRoot %v, seccomp RuntimeDefault", sc, uid, uid != 0)
	}
	for _, c := range pod.Containers {
		s := c.SecurityContext
		if s == nil || !ptr.Equal(s.AllowPrivilegeEscalation, ptr.To(false)) || !ptr.Equal(s.ReadOnlyRootFilesystem, ptr.To(true)) ||
			s.Capabilities == nil || !slices.Equal(s.Capabilities.Drop, []corev1.Capability{"ALL"}) || s.Privileged != nil {
			t.Errorf("container %s securityContext %+v; want no privilege escalation, read-only root, capabilities dropped", c.Name, s)
		}
	}
}

func mustRender(t *testing.T, vals map[string]any) rendered {
	t.Helper()
	if vals == nil {
		vals = map[string]any{}
	}
	r, err := renderChart(t, "moonwake", "moonwake", vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

// typed converts an object to its Go type.
func typed(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func mountsOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, v := range c.VolumeMounts {
		m[v.MountPath] = v.Name
	}
	return m
}

func volumesOf(p corev1.PodSpec) map[string]corev1.Volume {
	m := map[string]corev1.Volume{}
	for _, v := range p.Volumes {
		m[v.Name] = v
	}
	return m
}

// dig returns the value at a path of nested maps, or nil.
func dig(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// decodeToken reads a token from a Secret's data as the API gives it.
func decodeToken(t *testing.T, s *unstructured.Unstructured, key string) string {
	t.Helper()
	b64, _ := dig(s.Object, "data", key).(string)
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("Secret %s key %s: %v", s.GetName(), key, err)
	}
	return string(b)
}
