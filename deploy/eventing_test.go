package deploy

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const eventingDir = "knative/eventing"

// eventingObjects reads every manifest of deploy/knative/eventing, by file.
func eventingObjects(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(eventingDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", eventingDir, err)
	}
	out := map[string]*unstructured.Unstructured{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeObjects(b)
		if err != nil || len(objs) != 1 {
			t.Fatalf("%s: want one object, got %d: %v", f, len(objs), err)
		}
		out[filepath.Base(f)] = objs[0]
	}
	return out
}

func nestedString(t *testing.T, o *unstructured.Unstructured, path ...string) string {
	t.Helper()
	v, _, err := unstructured.NestedString(o.Object, path...)
	if err != nil {
		t.Fatalf("%s %s: %s: %v", o.GetKind(), o.GetName(), strings.Join(path, "."), err)
	}
	return v
}

// TestEventingManifestsFitTheHub checks that the Knative Eventing examples
// name what the hub and the plain manifests really have: the event types
// the hub acts on and sends, its CloudEvents route, its Service's port, its
// Deployment.
func TestEventingManifestsFitTheHub(t *testing.T) {
	objs := eventingObjects(t)
	for _, f := range []string{"broker.yaml", "sinkbinding.yaml", "trigger-wake.yaml", "trigger-shutdown-failed.yaml"} {
		if objs[f] == nil {
			t.Fatalf("%s is missing", f)
		}
	}
	var svcPort string
	var deployment string
	for _, o := range buildKustomize(t, kustomizeExample) {
		switch {
		case o.GetKind() == "Service" && o.GetName() == "moonwake-hub":
			ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
			svcPort = fmt.Sprint(ports[0].(map[string]any)["port"])
		case o.GetKind() == "Deployment" && o.GetName() == "moonwake-hub":
			deployment = o.GetName()
		}
	}
	if svcPort == "" || deployment == "" {
		t.Fatal("the plain manifests have no moonwake-hub Service or Deployment")
	}

	wake := objs["trigger-wake.yaml"]
	if got := nestedString(t, wake, "spec", "filter", "attributes", "type"); got != "dev.moonwake.machine.wake.requested" {
		t.Errorf("the wake Trigger filters type %q", got)
	}
	u, err := url.Parse(nestedString(t, wake, "spec", "subscriber", "uri"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "moonwake-hub.moonwake.svc.cluster.local" || u.Port() != "8080" || u.Port() != svcPort ||
		u.Path != "/api/v1/cloudevents" || !u.Query().Has("token") {
		t.Errorf("the wake Trigger's subscriber %s is not the hub's CloudEvents route on its Service (port %s)", u.Redacted(), svcPort)
	}

	failed := objs["trigger-shutdown-failed.yaml"]
	if nestedString(t, failed, "spec", "filter", "attributes", "type") != "dev.moonwake.action.failed" ||
		nestedString(t, failed, "spec", "filter", "attributes", "moonwakekind") != "shutdown" {
		t.Errorf("the shutdown-failed Trigger filters %v", failed.Object["spec"])
	}

	sb := objs["sinkbinding.yaml"]
	if nestedString(t, sb, "spec", "subject", "kind") != "Deployment" || nestedString(t, sb, "spec", "subject", "name") != deployment {
		t.Errorf("the SinkBinding binds %s %s, not the hub's Deployment", nestedString(t, sb, "spec", "subject", "kind"), nestedString(t, sb, "spec", "subject", "name"))
	}
	broker := objs["broker.yaml"].GetName()
	if nestedString(t, sb, "spec", "sink", "ref", "kind") != "Broker" || nestedString(t, sb, "spec", "sink", "ref", "name") != broker {
		t.Errorf("the SinkBinding's sink is not the Broker %s", broker)
	}
	for _, f := range []string{"trigger-wake.yaml", "trigger-shutdown-failed.yaml"} {
		if got := nestedString(t, objs[f], "spec", "broker"); got != broker {
			t.Errorf("%s reads Broker %q, not %q", f, got, broker)
		}
	}
}

// TestEventingOnAPIServer creates the Knative Eventing examples on a real
// kube-apiserver that has Knative's Broker, Trigger and SinkBinding CRDs
// (testdata/crds), with strict field validation and no warning allowed;
// and shows that the CRDs' schemas do refuse a misspelt field.
func TestEventingOnAPIServer(t *testing.T) {
	needCluster(t)
	ns := namespace("mw-eventing", "restricted")
	var objs []*unstructured.Unstructured
	for _, o := range eventingObjects(t) {
		objs = append(objs, o)
	}
	checkOnAPIServer(t, ns, objs)

	bad := eventingObjects(t)["trigger-wake.yaml"].DeepCopy()
	bad.SetName("misspelt")
	spec := bad.Object["spec"].(map[string]any)
	spec["subscribers"] = spec["subscriber"]
	if err := create(t, bad, ns.GetName(), true); err == nil || !strings.Contains(err.Error(), "subscribers") {
		t.Fatalf("a Trigger with a misspelt field: %v, want it refused", err)
	}
}
