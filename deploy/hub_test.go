package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/moonwake/moonwake/hub/config"
)

// TestHubTakesChartConfig gives the hub's own configuration loader (this
// repository's hub/config) the environment and the file that each case
// gives the hub's pod: the hub would start with them, and they mean what
// the chart says.
func TestHubTakesChartConfig(t *testing.T) {
	for _, c := range chartCases(t) {
		t.Run(c.name, func(t *testing.T) {
			r := mustRender(t, c.vals(t))
			var d appsv1.Deployment
			typed(t, r.get(t, "Deployment", "moonwake-hub"), &d)
			env := envOf(d.Spec.Template.Spec.Containers[0])
			path := ""
			if env["MOONWAKE_CONFIG"] != "" {
				var cm corev1.ConfigMap
				typed(t, r.get(t, "ConfigMap", "moonwake-hub"), &cm)
				path = filepath.Join(t.TempDir(), "moonwake.yaml")
				if err := os.WriteFile(path, []byte(cm.Data["moonwake.yaml"]), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := config.Load(path, func(k string) string { return env[k] })
			if err != nil {
				t.Fatalf("the hub refuses the chart's configuration: %v", err)
			}
			if cfg.Listen != ":8080" || cfg.Data != "/data" || cfg.LogFormat != "json" ||
				cfg.AdminTokenFile != "/run/secrets/moonwake/admin-token" || cfg.RelayEnrolTokenFile != "/run/secrets/moonwake-relay/token" {
				t.Errorf("the hub reads listen %q, data %q, log_format %q, admin token file %q, relay token file %q",
					cfg.Listen, cfg.Data, cfg.LogFormat, cfg.AdminTokenFile, cfg.RelayEnrolTokenFile)
			}
			if want := readValues(t, c.valuesFile); dig(want, "hub", "publicURL") != nil && cfg.PublicURL != dig(want, "hub", "publicURL") {
				t.Errorf("public_url %q; want %q", cfg.PublicURL, dig(want, "hub", "publicURL"))
			}
			if len(cfg.TrustedProxies) == 0 {
				t.Error("no trusted proxies: behind Traefik every client would look like the proxy")
			}
			if c.name == "k3s-traefik" && (len(cfg.Machines) != 1 || len(cfg.Schedules) != 1 || len(cfg.IdleOff) != 1) {
				t.Errorf("the file gives %d machines, %d schedules, %d idle_off; want 1 each", len(cfg.Machines), len(cfg.Schedules), len(cfg.IdleOff))
			}
		})
	}
}

// TestChartEnvKnown: every MOONWAKE_ variable the chart sets, for the hub
// or a relay, is a string that moonwake's own code (outside its tests)
// names, so a renamed variable cannot silently stop doing anything.
func TestChartEnvKnown(t *testing.T) {
	known := stringLiterals(t, "..")
	set := map[string][]string{}
	for _, c := range chartCases(t) {
		for _, o := range mustRender(t, c.vals(t)).objects {
			if !isWorkload(o) {
				continue
			}
			for _, ctr := range podOf(t, o).Object["spec"].(map[string]any)["containers"].([]any) {
				for _, e := range ctr.(map[string]any)["env"].([]any) {
					name := e.(map[string]any)["name"].(string)
					if strings.HasPrefix(name, "MOONWAKE_") && !slices.Contains(set[name], o.GetName()) {
						set[name] = append(set[name], o.GetName())
					}
				}
			}
		}
	}
	if len(set) < 10 {
		t.Fatalf("found only %d MOONWAKE_ variables in the chart: %v", len(set), set)
	}
	for name, users := range set {
		if !known[name] {
			t.Errorf("the chart sets %s (for %s), which no Go file of moonwake reads", name, strings.Join(users, ", "))
		}
	}
}

// stringLiterals returns every string literal in the non-test Go files of
// the module at root, leaving out this deploy module.
func stringLiterals(t *testing.T, root string) map[string]bool {
	t.Helper()
	lits := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (d.Name() == "deploy" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if b, ok := n.(*ast.BasicLit); ok && b.Kind == token.STRING {
				if s, err := strconv.Unquote(b.Value); err == nil {
					lits[s] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lits
}
