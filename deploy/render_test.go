package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	chartDir    = "helm/moonwake"
	examplesDir = "helm/examples"
	// kubeVersion is the apiserver of tools/kube-testenv.sh; Helm's test
	// builds would otherwise render for Kubernetes 1.20.
	kubeVersion = "v1.36.3"
)

// chartCase is one way to install the chart: its defaults or an example.
type chartCase struct {
	name       string // "defaults" or the example's file name without .yaml
	valuesFile string // "" for the defaults
	// level is the Pod Security level its namespace needs, from the
	// example's "# pod-security.kubernetes.io/enforce: LEVEL" line.
	level  string
	values map[string]any // instead of a file
}

func (c chartCase) vals(t *testing.T) map[string]any {
	t.Helper()
	if c.values != nil {
		return c.values
	}
	return readValues(t, c.valuesFile)
}

// chartCases lists the defaults and every file in helm/examples.
func chartCases(t *testing.T) []chartCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s (%v)", examplesDir, err)
	}
	sort.Strings(files)
	cases := []chartCase{{name: "defaults", level: "privileged"}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		level := ""
		for line := range strings.Lines(string(b)) {
			if l, ok := strings.CutPrefix(strings.TrimSpace(line), "# pod-security.kubernetes.io/enforce:"); ok {
				level = strings.TrimSpace(l)
			}
		}
		if level == "" {
			t.Fatalf("%s does not say the Pod Security level it needs (# pod-security.kubernetes.io/enforce: LEVEL)", f)
		}
		cases = append(cases, chartCase{name: strings.TrimSuffix(filepath.Base(f), ".yaml"), valuesFile: f, level: level})
	}
	return cases
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return c
}

// readValues reads a values file; "" gives no values (the chart's defaults).
func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	v, err := common.ReadValuesFile(file)
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	return v.AsMap()
}

// rendered is what the chart makes for one set of values.
type rendered struct {
	objects []*unstructured.Unstructured
	notes   string
}

// get returns the object of that kind and name, failing the test if there
// is none.
func (r rendered) get(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range r.objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("rendered no %s %s; have %s", kind, name, r.names())
	return nil
}

func (r rendered) names() string {
	var s []string
	for _, o := range r.objects {
		s = append(s, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(s, ", ")
}

// kubeVersionCaps is the cluster the chart is rendered for.
func kubeVersionCaps(t *testing.T) *common.KubeVersion {
	t.Helper()
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// renderChart renders the chart as `helm template` does (client-side: no
// cluster, so lookup finds nothing), for a release and namespace, on a
// cluster that serves apiVersions besides the built-in ones.
func renderChart(t *testing.T, releaseName, namespace string, vals map[string]any, apiVersions ...string) (rendered, error) {
	t.Helper()
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.Replace = true
	install.KubeVersion = kubeVersionCaps(t)
	install.APIVersions = apiVersions
	rel, err := install.Run(loadChart(t), vals)
	if err != nil {
		return rendered{}, err
	}
	r, ok := rel.(*release.Release)
	if !ok {
		return rendered{}, fmt.Errorf("install returned a %T", rel)
	}
	objs, err := decodeObjects([]byte(r.Manifest))
	if err != nil {
		return rendered{}, fmt.Errorf("decode the manifest: %w\n%s", err, r.Manifest)
	}
	return rendered{objects: objs, notes: r.Info.Notes}, nil
}

// decodeObjects splits a YAML stream into objects, skipping empty documents.
func decodeObjects(manifest []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}
