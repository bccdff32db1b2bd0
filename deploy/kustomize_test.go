package deploy

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const kustomizeExample = "kustomize/example"

// buildKustomize builds a kustomization as `kubectl apply -k` would.
func buildKustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	y, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(y)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestKustomizeMatchesChart: the plain manifests make what the chart makes
// for release moonwake in namespace moonwake with its defaults and the
// ingress on (every spec, annotation and label but Helm's own), so the two
// cannot drift apart.
func TestKustomizeMatchesChart(t *testing.T) {
	objs := buildKustomize(t, kustomizeExample)
	chart := mustRender(t, map[string]any{"ingress": map[string]any{"enabled": true}})
	compared := 0
	for _, k := range objs {
		if k.GetKind() == "Namespace" {
			if k.GetName() != "moonwake" || k.GetLabels()["pod-security.kubernetes.io/enforce"] != "privileged" {
				t.Errorf("Namespace %s, labels %v; want moonwake, enforcing privileged for the host-network relay", k.GetName(), k.GetLabels())
			}
			continue
		}
		if k.GetNamespace() != "moonwake" {
			t.Errorf("%s %s is in namespace %q; want moonwake", k.GetKind(), k.GetName(), k.GetNamespace())
		}
		h := chart.get(t, k.GetKind(), k.GetName())
		if !reflect.DeepEqual(k.Object["spec"], h.Object["spec"]) {
			t.Errorf("%s %s differs from the chart's:\nkustomize: %v\nchart:     %v", k.GetKind(), k.GetName(), k.Object["spec"], h.Object["spec"])
		}
		labels := h.GetLabels()
		delete(labels, "helm.sh/chart")
		delete(labels, "app.kubernetes.io/managed-by")
		delete(labels, "app.kubernetes.io/version")
		if !reflect.DeepEqual(k.GetLabels(), labels) {
			t.Errorf("%s %s labels %v; the chart's %v", k.GetKind(), k.GetName(), k.GetLabels(), labels)
		}
		annotations := h.GetAnnotations()
		delete(annotations, "helm.sh/resource-policy")
		if len(annotations) == 0 {
			annotations = nil
		}
		if !reflect.DeepEqual(k.GetAnnotations(), annotations) {
			t.Errorf("%s %s annotations %v; the chart's %v", k.GetKind(), k.GetName(), k.GetAnnotations(), annotations)
		}
		compared++
	}
	for _, h := range chart.objects {
		if h.GetKind() == "Secret" {
			continue // made by hand once, see the README
		}
		found := false
		for _, k := range objs {
			found = found || (k.GetKind() == h.GetKind() && k.GetName() == h.GetName())
		}
		if !found {
			t.Errorf("the chart makes %s %s, the kustomization does not", h.GetKind(), h.GetName())
		}
	}
	if compared < 5 {
		t.Errorf("compared %d objects; want the PVC, Services, Deployment, DaemonSet and Ingress", compared)
	}
}

// TestKustomizeOnAPIServer sends the kustomization's objects to the
// apiserver as TestChartOnAPIServer does the chart's, in the namespace it
// makes.
func TestKustomizeOnAPIServer(t *testing.T) {
	needCluster(t)
	var ns *unstructured.Unstructured
	var rest []*unstructured.Unstructured
	for _, o := range buildKustomize(t, kustomizeExample) {
		if o.GetKind() == "Namespace" {
			ns = o
		} else {
			rest = append(rest, o)
		}
	}
	if ns == nil {
		t.Fatal("the example makes no Namespace")
	}
	checkOnAPIServer(t, ns, rest)
}
