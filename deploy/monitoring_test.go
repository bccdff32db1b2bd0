package deploy

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/moonwake/moonwake/hub/config"
)

const (
	rulesFile     = "prometheus/moonwake-rules.yaml"
	dashboardFile = "grafana/moonwake.json"
)

// TestPrometheusRules checks the rule file as `promtool check rules` does:
// Prometheus's own rule parser, with unknown fields refused and every
// expression and template checked. The shutdown alert is there. (The
// hub's tests check that the metrics the rules name are in a real scrape.)
func TestPrometheusRules(t *testing.T) {
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	alerts := map[string]string{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = r.Expr
		}
	}
	if expr := alerts["MoonwakeShutdownFailed"]; !strings.Contains(expr, `kind="shutdown"`) || !strings.Contains(expr, `status="failed"`) {
		t.Errorf("MoonwakeShutdownFailed: %q; want an alert on failed shutdowns", expr)
	}
}

// TestGrafanaDashboard: the dashboard is JSON Grafana takes (unique panel
// ids, a Prometheus data source chosen at import), and each query is
// PromQL that Prometheus parses once Grafana has put in its variables.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string
		Templating struct{ List []struct{ Name, Type string } }
		Panels     []struct {
			ID      int
			Type    string
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || len(d.Templating.List) == 0 || d.Templating.List[0].Name != "datasource" || d.Templating.List[0].Type != "datasource" {
		t.Errorf("uid %q, variables %+v; want a uid and a datasource variable first", d.UID, d.Templating.List)
	}
	p := parser.NewParser(parser.Options{})
	vars := strings.NewReplacer("$__rate_interval", "1m", "$job", ".*")
	ids, queries := map[int]bool{}, 0
	for _, panel := range d.Panels {
		if ids[panel.ID] {
			t.Errorf("panel %q: id %d is taken", panel.Title, panel.ID)
		}
		ids[panel.ID] = true
		if panel.Type != "row" && len(panel.Targets) == 0 {
			t.Errorf("panel %q has no query", panel.Title)
		}
		for _, tg := range panel.Targets {
			queries++
			if _, err := p.ParseExpr(vars.Replace(tg.Expr)); err != nil {
				t.Errorf("panel %q: %q: %v", panel.Title, tg.Expr, err)
			}
		}
	}
	if queries < 10 {
		t.Errorf("%d queries; the dashboard lost its panels", queries)
	}
}

// TestChartMetrics: the hub serves /metrics on a port of its own, which a
// Service of its own publishes (the ingress routes the hub's Service only);
// a ServiceMonitor comes only when the cluster has the Prometheus
// Operator's CRD; metrics.enabled false takes it all away.
func TestChartMetrics(t *testing.T) {
	r := mustRender(t, nil)
	var d appsv1.Deployment
	typed(t, r.get(t, "Deployment", "moonwake-hub"), &d)
	c := d.Spec.Template.Spec.Containers[0]
	cfg, err := config.Load("", func(k string) string { return envOf(c)[k] })
	if err != nil || cfg.Metrics.Listen != ":9464" {
		t.Errorf("the hub's metrics.listen %q (%v); want :9464", cfg.Metrics.Listen, err)
	}
	port := -1
	for i, p := range c.Ports {
		if p.Name == "metrics" {
			port = i
		}
	}
	if port < 0 || c.Ports[port].ContainerPort != 9464 {
		t.Fatalf("container ports %+v; want metrics 9464", c.Ports)
	}
	var svc, hubSvc corev1.Service
	typed(t, r.get(t, "Service", "moonwake-hub-metrics"), &svc)
	typed(t, r.get(t, "Service", "moonwake-hub"), &hubSvc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9464 || svc.Spec.Ports[0].TargetPort.String() != "metrics" ||
		!maps.Equal(svc.Spec.Selector, hubSvc.Spec.Selector) || svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("metrics Service %+v; want ClusterIP 9464 to the hub's metrics port", svc.Spec)
	}
	for _, p := range hubSvc.Spec.Ports {
		if p.Name == "metrics" {
			t.Error("the hub's Service, which the ingress routes, publishes metrics")
		}
	}
	for _, o := range r.objects {
		if o.GetKind() == "ServiceMonitor" {
			t.Error("a ServiceMonitor on a cluster without its CRD")
		}
	}

	vals := map[string]any{"hub": map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{
		"interval": "15s", "labels": map[string]any{"release": "kube-prometheus-stack"}}}}}
	withCRD, err := renderChart(t, "moonwake", "moonwake", vals, "monitoring.coreos.com/v1")
	if err != nil {
		t.Fatal(err)
	}
	sm := withCRD.get(t, "ServiceMonitor", "moonwake-hub")
	if sm.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels %v; want the operator's selector label", sm.GetLabels())
	}
	sel, _ := dig(sm.Object, "spec", "selector", "matchLabels").(map[string]any)
	for k, v := range sel {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v; the metrics Service has %q", k, v, svc.Labels[k])
		}
	}
	if hubSvc.Labels["app.kubernetes.io/component"] == sel["app.kubernetes.io/component"] {
		t.Error("the ServiceMonitor selects the hub's Service too")
	}
	eps, _ := dig(sm.Object, "spec", "endpoints").([]any)
	if len(eps) != 1 || dig(eps[0].(map[string]any), "port") != "metrics" || dig(eps[0].(map[string]any), "interval") != "15s" {
		t.Errorf("ServiceMonitor endpoints %v; want port metrics every 15s", eps)
	}

	off := mustRender(t, map[string]any{"hub": map[string]any{"metrics": map[string]any{"enabled": false}}})
	for _, o := range off.objects {
		if strings.HasSuffix(o.GetName(), "-metrics") {
			t.Errorf("metrics off, yet %s %s", o.GetKind(), o.GetName())
		}
	}
	typed(t, off.get(t, "Deployment", "moonwake-hub"), &d)
	if _, ok := envOf(d.Spec.Template.Spec.Containers[0])["MOONWAKE_METRICS_LISTEN"]; ok {
		t.Error("metrics off, yet MOONWAKE_METRICS_LISTEN is set")
	}
}
