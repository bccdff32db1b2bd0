package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// cluster is the one kube-apiserver (with etcd) that every test of this
// package shares, started by TestMain when KUBEBUILDER_ASSETS is set.
var cluster struct {
	config     *rest.Config
	client     dynamic.Interface
	mapper     meta.RESTMapper
	warnings   *warningRecorder
	kubeconfig string // for Helm, which wants a file
}

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return m.Run() // tests that need the cluster say why they skip
	}
	start := time.Now()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("testdata", "crds")},
		ErrorIfCRDPathMissing: true,
		// Fission's CRDs are large (their pod specs' schemas): on a busy
		// machine they take longer than envtest's 10 s to be served.
		CRDInstallOptions: envtest.CRDInstallOptions{MaxTime: 2 * time.Minute},
	}
	// envtest turns ServiceAccount admission off; a real cluster has it, and
	// then a Pod needs its ServiceAccount to exist.
	env.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins")
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start kube-apiserver and etcd from KUBEBUILDER_ASSETS=%s: %v\n", os.Getenv("KUBEBUILDER_ASSETS"), err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop kube-apiserver and etcd: %v\n", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "kube-apiserver and etcd ready in %s\n", time.Since(start).Round(time.Millisecond))
	stopGuard, err := guardChildren()
	if err != nil {
		fmt.Fprintln(os.Stderr, "watch over kube-apiserver and etcd:", err)
		return 1
	}
	defer stopGuard()

	dir, err := os.MkdirTemp("", "moonwake-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	admin, err := env.AddUser(envtest.User{Name: "moonwake-tests", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "add a user:", err)
		return 1
	}
	kubeconfig, err := admin.KubeConfig()
	if err == nil {
		cluster.kubeconfig = filepath.Join(dir, "kubeconfig")
		err = os.WriteFile(cluster.kubeconfig, kubeconfig, 0o600)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "write a kubeconfig:", err)
		return 1
	}

	// Every warning the server sends (an unknown field, a deprecated API,
	// "would violate PodSecurity") is recorded, and the tests fail on it.
	cluster.warnings = &warningRecorder{}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = cluster.warnings
	cluster.config = cfg
	if cluster.client, err = dynamic.NewForConfig(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cluster.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	return m.Run()
}

// guardChildren starts a watchdog that ends this process's children
// (kube-apiserver and etcd) by pid if this process dies without stopping
// them: a panicking test or go test's -timeout skips TestMain's deferred
// Stop. stop ends the watchdog.
func guardChildren() (stop func(), err error) {
	var pids []string
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ")".
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) {
			pids = append(pids, filepath.Base(filepath.Dir(f)))
		}
	}
	if len(pids) == 0 {
		return nil, errors.New("found no child processes")
	}
	script := `while kill -0 "$0" 2>/dev/null; do sleep 1; done; kill -9 "$@" 2>/dev/null`
	dog := exec.Command("sh", append([]string{"-c", script, strconv.Itoa(os.Getpid())}, pids...)...)
	if err := dog.Start(); err != nil {
		return nil, err
	}
	return func() {
		_ = dog.Process.Kill()
		_ = dog.Wait()
	}, nil
}

// needCluster skips the test when there is no apiserver, unless
// MOONWAKE_TEST_REQUIRE names kube (as in CI), where it fails.
func needCluster(t *testing.T) {
	t.Helper()
	if cluster.config != nil {
		return
	}
	msg := "KUBEBUILDER_ASSETS is not set: from the repository, export KUBEBUILDER_ASSETS=\"$(deploy/tools/kube-testenv.sh)\" to run the tests on a real kube-apiserver"
	if strings.Contains(os.Getenv("MOONWAKE_TEST_REQUIRE"), "kube") {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// warningRecorder keeps the Warning headers of the server's answers. Tests
// that use the cluster run one at a time, so what it holds is theirs.
type warningRecorder struct {
	mu   sync.Mutex
	list []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// resource finds where obj lives on the server, and sets its namespace if
// it is namespaced.
func resource(t *testing.T, obj *unstructured.Unstructured, namespace string) dynamic.ResourceInterface {
	t.Helper()
	gvk := obj.GroupVersionKind()
	m, err := cluster.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("the server does not serve %s: %v", gvk, err)
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return cluster.client.Resource(m.Resource)
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(namespace)
	}
	return cluster.client.Resource(m.Resource).Namespace(obj.GetNamespace())
}

// create sends obj with strict field validation (an unknown or duplicate
// field is an error, not a warning), as a server-side dry run or for real.
// A warning from the server is an error too.
func create(t *testing.T, obj *unstructured.Unstructured, namespace string, dryRun bool) error {
	t.Helper()
	opts := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	cluster.warnings.take()
	_, err := resource(t, obj, namespace).Create(context.Background(), obj.DeepCopy(), opts)
	if err != nil {
		return err
	}
	if w := cluster.warnings.take(); len(w) > 0 {
		return fmt.Errorf("the server warned: %s", strings.Join(w, "; "))
	}
	return nil
}

// apply checks obj with a dry run, proves the dry run stored nothing, then
// creates it.
func apply(t *testing.T, obj *unstructured.Unstructured, namespace string) {
	t.Helper()
	what := obj.GetKind() + " " + obj.GetName()
	if err := create(t, obj, namespace, true); err != nil {
		t.Fatalf("%s, dry run: %v", what, err)
	}
	_, err := resource(t, obj, namespace).Get(context.Background(), obj.GetName(), metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("%s: after the dry run, GET answered %v; want NotFound", what, err)
	}
	if err := create(t, obj, namespace, false); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// namespace is a Namespace that enforces a Pod Security level.
func namespace(name, level string) *unstructured.Unstructured {
	ns := object("v1", "Namespace", name)
	ns.SetLabels(map[string]string{"pod-security.kubernetes.io/enforce": level})
	return ns
}

// createNamespace creates ns and its default ServiceAccount (no controller
// runs to make it).
func createNamespace(t *testing.T, ns *unstructured.Unstructured) {
	t.Helper()
	apply(t, ns, "")
	apply(t, object("v1", "ServiceAccount", "default"), ns.GetName())
}

func object(apiVersion, kind, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetName(name)
	return o
}

// podOf is the Pod a workload's controller would make (none runs here), for
// Pod Security admission, which judges Pods only.
func podOf(t *testing.T, workload *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	tmpl, ok, err := unstructured.NestedMap(workload.Object, "spec", "template")
	if err != nil || !ok {
		t.Fatalf("%s %s has no pod template (%v)", workload.GetKind(), workload.GetName(), err)
	}
	pod := &unstructured.Unstructured{Object: map[string]any{"spec": tmpl["spec"]}}
	if md, ok := tmpl["metadata"].(map[string]any); ok {
		pod.Object["metadata"] = md
	}
	pod.SetAPIVersion("v1")
	pod.SetKind("Pod")
	pod.SetName(workload.GetName())
	return pod
}

func isWorkload(o *unstructured.Unstructured) bool {
	switch o.GetKind() {
	case "Deployment", "DaemonSet", "StatefulSet":
		return true
	}
	return false
}

// levels are Pod Security's levels, strictest first.
var levels = []string{"restricted", "baseline", "privileged"}

// strictestLevel is the strictest Pod Security level whose namespace admits
// pod (a dry run in each), with the server's reasons for the stricter ones.
func strictestLevel(t *testing.T, pod *unstructured.Unstructured) (string, []string) {
	t.Helper()
	ensureLevelNamespaces(t)
	var refusals []string
	for _, level := range levels {
		p := pod.DeepCopy()
		p.SetNamespace("")
		err := create(t, p, "mw-level-"+level, true)
		if err == nil {
			return level, refusals
		}
		if !apierrors.IsForbidden(err) {
			t.Fatalf("Pod %s in a %s namespace: %v", pod.GetName(), level, err)
		}
		refusals = append(refusals, level+": "+err.Error())
	}
	t.Fatalf("Pod %s is refused at every level:\n%s", pod.GetName(), strings.Join(refusals, "\n"))
	return "", nil
}

// ensureLevelNamespaces makes mw-level-restricted, -baseline and
// -privileged, once for the test binary.
func ensureLevelNamespaces(t *testing.T) {
	t.Helper()
	levelOnce.Do(func() {
		for _, level := range levels {
			createNamespace(t, namespace("mw-level-"+level, level))
		}
	})
}

var levelOnce sync.Once
