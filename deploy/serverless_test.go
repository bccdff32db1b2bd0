package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The Fission CLI's own spec kinds, which are not Kubernetes objects: the
// fields of pkg/fission-cli/cmd/spec/types in github.com/fission/fission.
type (
	fissionTypeMeta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	fissionDeploymentConfig struct {
		fissionTypeMeta
		Name string `json:"name"`
		UID  string `json:"uid"`
	}
	fissionArchiveUploadSpec struct {
		fissionTypeMeta
		Name         string   `json:"name"`
		RootDir      string   `json:"rootdir,omitempty"`
		IncludeGlobs []string `json:"include,omitempty"`
		ExcludeGlobs []string `json:"exclude,omitempty"`
	}
)

// fissionSpecs is what deploy/fission/specs holds, as "fission spec apply"
// reads it.
type fissionSpecs struct {
	config   fissionDeploymentConfig
	archives map[string]fissionArchiveUploadSpec
	objects  []*unstructured.Unstructured // Environment, Package, Function, HTTPTrigger
}

// readFissionSpecs reads every YAML file of the specs directory. The CLI's
// own kinds are decoded strictly into their fields: an unknown field is an
// error, as the Kubernetes objects' are on the API server.
func readFissionSpecs(t *testing.T) fissionSpecs {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("fission", "specs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no specs in fission/specs (%v)", err)
	}
	specs := fissionSpecs{archives: map[string]fissionArchiveUploadSpec{}}
	var configs []string // the files that hold a DeploymentConfig
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeObjects(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, o := range objs {
			strict := func(v any) {
				t.Helper()
				j, err := json.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				dec := json.NewDecoder(bytes.NewReader(j))
				dec.DisallowUnknownFields()
				if err := dec.Decode(v); err != nil {
					t.Fatalf("%s: %s: %v", f, o.GetKind(), err)
				}
			}
			if o.GetAPIVersion() != "fission.io/v1" {
				t.Fatalf("%s: %s has apiVersion %q, want fission.io/v1", f, o.GetKind(), o.GetAPIVersion())
			}
			switch o.GetKind() {
			case "DeploymentConfig":
				configs = append(configs, filepath.Base(f))
				strict(&specs.config)
			case "ArchiveUploadSpec":
				var a fissionArchiveUploadSpec
				strict(&a)
				specs.archives[a.Name] = a
			case "Environment", "Package", "Function", "HTTPTrigger":
				specs.objects = append(specs.objects, o)
			default:
				t.Fatalf("%s: kind %s is not one that fission spec applies", f, o.GetKind())
			}
		}
	}
	if !slices.Equal(configs, []string{"fission-deployment-config.yaml"}) {
		t.Fatalf("want one DeploymentConfig, in fission-deployment-config.yaml; found them in %v", configs)
	}
	return specs
}

func (s fissionSpecs) find(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range s.objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("the specs have no %s %q", kind, name)
	return nil
}

func str(t *testing.T, o *unstructured.Unstructured, path ...string) string {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil || !ok {
		t.Fatalf("%s %s has no %s", o.GetKind(), o.GetName(), strings.Join(path, "."))
	}
	return fmt.Sprint(v)
}

// TestFissionSpecs checks what the API server cannot: that the specs hold
// together as "fission spec apply" reads them. The archive holds exactly
// the function's directory, at its root, as Fission's Go builder wants it;
// every reference names an object of the specs; the function runs on its
// own Deployment of one pod, and nothing uses the host network.
func TestFissionSpecs(t *testing.T) {
	specs := readFissionSpecs(t)
	if specs.config.Name == "" || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(specs.config.UID) {
		t.Errorf("DeploymentConfig: name %q, uid %q; want a name and a UUID", specs.config.Name, specs.config.UID)
	}

	pkg := specs.find(t, "Package", "moonwake-wake")
	src := str(t, pkg, "spec", "source", "url")
	arch, ok := specs.archives[strings.TrimPrefix(src, "archive://")]
	if !strings.HasPrefix(src, "archive://") || !ok {
		t.Fatalf("the package's source %q names no ArchiveUploadSpec", src)
	}
	// The globs are relative to the specs directory's parent; Fission zips
	// the files they match by their base names.
	root := filepath.Join("fission", arch.RootDir)
	var got []string
	for _, g := range arch.IncludeGlobs {
		m, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			got = append(got, filepath.Base(f))
		}
	}
	slices.Sort(got)
	entries, err := os.ReadDir(filepath.Join("fission", "wake"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		want = append(want, e.Name())
	}
	if !slices.Equal(got, want) || !slices.Contains(got, "go.mod") {
		t.Errorf("the archive holds %v, want the function's directory: %v", got, want)
	}

	env := specs.find(t, "Environment", str(t, pkg, "spec", "environment", "name"))
	if rt, b := str(t, env, "spec", "runtime", "image"), str(t, env, "spec", "builder", "image"); strings.Replace(rt, "go-env", "go-builder", 1) != b {
		t.Errorf("runtime %s and builder %s are not the same Go release: the builder's plugin would not load", rt, b)
	}
	fn := specs.find(t, "Function", "moonwake-wake")
	if str(t, fn, "spec", "package", "packageref", "name") != pkg.GetName() || str(t, fn, "spec", "environment", "name") != env.GetName() {
		t.Error("the function names another package or environment")
	}
	if str(t, fn, "spec", "package", "functionName") != "Handler" {
		t.Error("the function's entry point is not Handler")
	}
	es := []string{"spec", "InvokeStrategy", "ExecutionStrategy"}
	if str(t, fn, append(es, "ExecutorType")...) != "newdeploy" || str(t, fn, append(es, "MinScale")...) != "1" || str(t, fn, append(es, "MaxScale")...) != "1" {
		t.Error("the function should run with newdeploy, one pod (MinScale = MaxScale = 1)")
	}
	rt := specs.find(t, "HTTPTrigger", "moonwake-wake")
	if str(t, rt, "spec", "functionref", "name") != fn.GetName() || str(t, rt, "spec", "relativeurl") != "/wake" {
		t.Error("the trigger does not route /wake to the function")
	}
	if str(t, rt, "spec", "ingressconfig", "annotations", "traefik.ingress.kubernetes.io/router.tls") != "true" || str(t, rt, "spec", "ingressconfig", "tls") == "" {
		t.Error("the trigger's Ingress is not served by Traefik over TLS")
	}

	// The function reads the hub's URL from the ConfigMap it mounts.
	cms, _, _ := unstructured.NestedSlice(fn.Object, "spec", "configmaps")
	b, err := os.ReadFile(filepath.Join("fission", "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := decodeObjects(b)
	if err != nil || len(cm) != 1 || cm[0].GetKind() != "ConfigMap" {
		t.Fatalf("fission/configmap.yaml: %v", err)
	}
	if len(cms) != 1 || cms[0].(map[string]any)["name"] != cm[0].GetName() || cms[0].(map[string]any)["namespace"] != cm[0].GetNamespace() {
		t.Errorf("the function mounts %v, not the ConfigMap %s/%s", cms, cm[0].GetNamespace(), cm[0].GetName())
	}
	handler, err := os.ReadFile(filepath.Join("fission", "wake", "handler.go"))
	if err != nil {
		t.Fatal(err)
	}
	if hub := str(t, cm[0], "data", "hub"); hub == "" || !bytes.Contains(handler, []byte(`"/configs/*/`+cm[0].GetName()+`/hub"`)) {
		t.Errorf("handler.go does not read the key hub of the ConfigMap %s", cm[0].GetName())
	}

	for _, o := range specs.objects {
		if j, _ := json.Marshal(o.Object); bytes.Contains(j, []byte("hostNetwork")) {
			t.Errorf("%s %s uses the host network", o.GetKind(), o.GetName())
		}
	}
}

// TestFissionSpecsOnAPIServer creates the Fission objects of the specs on a
// real kube-apiserver that has Fission's CRDs (testdata/crds), with strict
// field validation: an unknown field, or one that breaks the CRDs' rules,
// is an error. Then it proves the check bites.
func TestFissionSpecsOnAPIServer(t *testing.T) {
	needCluster(t)
	specs := readFissionSpecs(t)
	const ns = "mw-fission"
	createNamespace(t, namespace(ns, "restricted"))
	b, err := os.ReadFile(filepath.Join("fission", "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := decodeObjects(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range append(cm, specs.objects...) {
		o = o.DeepCopy()
		o.SetNamespace(ns)
		apply(t, o, ns)
	}

	// What the checks refuse.
	fn := specs.find(t, "Function", "moonwake-wake")
	for _, c := range []struct {
		name   string
		change func(o map[string]any)
		says   string
	}{
		{"an unknown field", func(o map[string]any) {
			unstructured.SetNestedField(o, int64(1), "spec", "InvokeStrategy", "ExecutionStrategy", "MaxReplicas")
		}, "unknown field"},
		{"the host network", func(o map[string]any) {
			unstructured.SetNestedField(o, map[string]any{"hostNetwork": true, "containers": []any{}}, "spec", "podspec")
		}, "hostNetwork is not allowed"},
		{"MaxScale below MinScale", func(o map[string]any) {
			unstructured.SetNestedField(o, int64(0), "spec", "InvokeStrategy", "ExecutionStrategy", "MaxScale")
		}, "maximum scale"},
	} {
		o := fn.DeepCopy()
		o.SetNamespace(ns)
		o.SetName("refused")
		c.change(o.Object)
		err := create(t, o, ns, true)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("a Function with %s: %v; want an error saying %q", c.name, err, c.says)
		}
	}
}

// readKnativeService reads deploy/knative/serving/service.yaml.
func readKnativeService(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("knative", "serving", "service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(b)
	if err != nil || len(objs) != 1 || objs[0].GetAPIVersion() != "serving.knative.dev/v1" || objs[0].GetKind() != "Service" {
		t.Fatalf("knative/serving/service.yaml: want one serving.knative.dev/v1 Service (%v)", err)
	}
	return objs[0]
}

// TestKnativeService: the front scales to zero, runs moonwake front on the
// port Knative gives it, and knows its hub.
func TestKnativeService(t *testing.T) {
	svc := readKnativeService(t)
	if s := str(t, svc, "spec", "template", "metadata", "annotations", "autoscaling.knative.dev/min-scale"); s != "0" {
		t.Errorf("min-scale %s: the front should scale to zero", s)
	}
	cs, _, _ := unstructured.NestedSlice(svc.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%d containers, want 1", len(cs))
	}
	c := &unstructured.Unstructured{Object: cs[0].(map[string]any)}
	if args, _, _ := unstructured.NestedStringSlice(c.Object, "args"); !slices.Equal(args, []string{"front"}) {
		t.Errorf("args %v, want [front]", args)
	}
	if p := str(t, c, "readinessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("readiness probe on %s", p)
	}
	env, _, _ := unstructured.NestedSlice(c.Object, "env")
	if !slices.ContainsFunc(env, func(e any) bool {
		m := e.(map[string]any)
		return m["name"] == "MOONWAKE_HUB" && strings.HasPrefix(fmt.Sprint(m["value"]), "http")
	}) {
		t.Error("no MOONWAKE_HUB")
	}
	if j, _ := json.Marshal(svc.Object); bytes.Contains(j, []byte("hostNetwork")) || bytes.Contains(j, []byte(`"PORT"`)) {
		t.Error("the Service sets hostNetwork or PORT (Knative sets PORT itself)")
	}
}

// TestKnativeServiceOnAPIServer creates the Service on a real
// kube-apiserver with Knative Serving's CRD (testdata/crds), with strict
// field validation, in a namespace that enforces Pod Security's restricted
// level, which its pod must meet; then proves the check bites.
func TestKnativeServiceOnAPIServer(t *testing.T) {
	needCluster(t)
	svc := readKnativeService(t)
	svc.SetNamespace("mw-knative") // its own, beside the other tests' moonwake
	createNamespace(t, namespace(svc.GetNamespace(), "restricted"))
	apply(t, svc.DeepCopy(), svc.GetNamespace())
	if level, why := strictestLevel(t, knativePod(t, svc)); level != "restricted" {
		t.Errorf("the front's pod needs Pod Security %s, want restricted: %v", level, why)
	}

	bad := svc.DeepCopy()
	bad.SetName("refused")
	unstructured.SetNestedField(bad.Object, "8080", "spec", "template", "spec", "port")
	if err := create(t, bad, svc.GetNamespace(), true); err == nil || !strings.Contains(err.Error(), "unknown field") || apierrors.IsAlreadyExists(err) {
		t.Errorf("a Service with an unknown field: %v; want an unknown field error", err)
	}
}

// knativePod is the Pod Knative would make of svc, as far as Pod Security
// cares: without the revision's own fields, and with the port of the
// readiness probe filled in, as Knative does.
func knativePod(t *testing.T, svc *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	pod := podOf(t, svc)
	for _, f := range []string{"containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds", "idleTimeoutSeconds"} {
		unstructured.RemoveNestedField(pod.Object, "spec", f)
	}
	cs, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
	for _, c := range cs {
		c := c.(map[string]any)
		ports, _, _ := unstructured.NestedSlice(c, "ports")
		if len(ports) == 1 {
			if get, ok, _ := unstructured.NestedMap(c, "readinessProbe", "httpGet"); ok {
				get["port"] = ports[0].(map[string]any)["containerPort"]
				unstructured.SetNestedMap(c, get, "readinessProbe", "httpGet")
			}
		}
	}
	unstructured.SetNestedSlice(pod.Object, cs, "spec", "containers")
	return pod
}
