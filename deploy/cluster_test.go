package deploy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/utils/ptr"
)

// TestChartOnAPIServer sends everything the chart makes, with its defaults
// and with each example, to a real kube-apiserver: a dry run, then a real
// create, both with strict field validation and no warning allowed, in a
// namespace that enforces the Pod Security level the example says it
// needs. Each workload's pod template goes in as a Pod too, since Pod
// Security judges Pods only. That level must also be the strictest one
// that admits every Pod, so the label the README asks for is no looser than
// needed; the hub alone is always admitted at restricted.
func TestChartOnAPIServer(t *testing.T) {
	needCluster(t)
	multus := map[string]any{"network": "multus", "kind": "Deployment", "node": "k3s-1", "rawSockets": true,
		"multus": map[string]any{"subnet": "192.168.1.0/24", "rangeStart": "192.168.1.240", "rangeEnd": "192.168.1.240"}}
	cases := append(chartCases(t),
		// Raw sockets make the relay root with CAP_NET_RAW, which only
		// the privileged level allows, in either network mode.
		chartCase{name: "raw-sockets", level: "privileged", values: map[string]any{
			"relays": map[string]any{"lan": map[string]any{"rawSockets": true}}}},
		chartCase{name: "multus-raw-sockets", level: "privileged", values: map[string]any{
			"relays": map[string]any{"lan": multus}}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ns := "mw-" + c.name
			r, err := renderChart(t, "moonwake", ns, c.vals(t))
			if err != nil {
				t.Fatal(err)
			}
			checkOnAPIServer(t, namespace(ns, c.level), r.objects)
		})
	}
}

// checkOnAPIServer creates the namespace ns (and its default
// ServiceAccount), then objs in it, and checks that the Pod Security level
// ns enforces is the strictest that admits their Pods.
func checkOnAPIServer(t *testing.T, ns *unstructured.Unstructured, objs []*unstructured.Unstructured) {
	t.Helper()
	level := ns.GetLabels()["pod-security.kubernetes.io/enforce"]
	createNamespace(t, ns)
	strictest := "restricted"
	for _, o := range objs {
		apply(t, o, ns.GetName())
		if !isWorkload(o) {
			continue
		}
		pod := podOf(t, o)
		apply(t, pod, ns.GetName())
		got, refusals := strictestLevel(t, pod)
		for _, r := range refusals {
			t.Logf("Pod %s refused at %s", pod.GetName(), r)
		}
		if o.GetName() == "moonwake-hub" && got != "restricted" {
			t.Errorf("the hub's Pod needs the %s level; want restricted", got)
		}
		if slices.Index(levels, got) > slices.Index(levels, strictest) {
			strictest = got
		}
	}
	if strictest != level {
		t.Errorf("the namespace is labelled %s, but the strictest level that admits every Pod is %s", level, strictest)
	}
}

// TestHelmInstallKeepsTokens installs the chart with Helm's own install
// action against the apiserver, so lookup sees the cluster: the tokens it
// makes are kept by an upgrade, and kept with the database's claim by an
// uninstall.
func TestHelmInstallKeepsTokens(t *testing.T) {
	needCluster(t)
	const ns, name = "mw-helm", "moonwake"
	createNamespace(t, namespace(ns, "restricted"))
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = ptr.To(cluster.kubeconfig)
	flags.Namespace = ptr.To(ns)
	cfg := action.NewConfiguration()
	if err := cfg.Init(flags, ns, "secret"); err != nil {
		t.Fatal(err)
	}
	vals := readValues(t, examplesDir+"/hub-only.yaml")

	install := action.NewInstall(cfg)
	install.ReleaseName = name
	install.Namespace = ns
	install.WaitStrategy = kube.HookOnlyStrategy
	install.Timeout = time.Minute
	if _, err := install.Run(loadChart(t), vals); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	secret := func(name, key string) string {
		t.Helper()
		s := object("v1", "Secret", name)
		got, err := resource(t, s, ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Secret %s: %v", name, err)
		}
		return decodeToken(t, got, key)
	}
	admin, relay := secret("moonwake-admin-token", "admin-token"), secret("moonwake-relay-token", "token")
	if !tokenFormat.MatchString(admin) || !tokenFormat.MatchString(relay) || admin == relay {
		t.Fatalf("tokens %q and %q; want two different tokens like %s", admin, relay, tokenFormat)
	}

	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = ns
	upgrade.WaitStrategy = kube.HookOnlyStrategy
	upgrade.Timeout = time.Minute
	if _, err := upgrade.Run(name, loadChart(t), vals); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	if a, r := secret("moonwake-admin-token", "admin-token"), secret("moonwake-relay-token", "token"); a != admin || r != relay {
		t.Errorf("helm upgrade changed the tokens: %q → %q, %q → %q", admin, a, relay, r)
	}

	uninstall := action.NewUninstall(cfg)
	uninstall.WaitStrategy = kube.HookOnlyStrategy
	uninstall.Timeout = time.Minute
	res, err := uninstall.Run(name)
	if err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	t.Logf("helm uninstall: %s", strings.TrimSpace(res.Info))
	for _, o := range []*unstructured.Unstructured{
		object("v1", "Secret", "moonwake-admin-token"),
		object("v1", "Secret", "moonwake-relay-token"),
		object("v1", "PersistentVolumeClaim", "moonwake-hub-data"),
	} {
		if _, err := resource(t, o, ns).Get(context.Background(), o.GetName(), metav1.GetOptions{}); err != nil {
			t.Errorf("after helm uninstall, %s %s: %v; want it kept", o.GetKind(), o.GetName(), err)
		}
	}
	d := object("apps/v1", "Deployment", "moonwake-hub")
	if _, err := resource(t, d, ns).Get(context.Background(), d.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after helm uninstall, the hub's Deployment: %v; want it gone", err)
	}
}
