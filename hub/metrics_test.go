package hub_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs the hub's /metrics with token (none when empty) and returns
// the status and the body.
func (th *testHub) scrape(token string) (int, []byte) {
	th.t.Helper()
	req, err := http.NewRequest("GET", "http://"+th.MetricsAddr().String()+"/metrics", nil)
	if err != nil {
		th.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		th.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		th.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// families parses a scrape in Prometheus's text format, as Prometheus does.
func families(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v\n%s", err, b)
	}
	return mfs
}

// value returns the value of the sample of family name whose labels
// include want; ok is false when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetrics scrapes a real hub over HTTP on its own metrics address:
// the scrape parses and passes promtool's lint; a wake is counted (its
// action, its packets, its duration), the machine's state is one-hot, the
// open event streams and the passthrough's datagrams are there, with the
// Go and process metrics; the hub's main address does not serve them.
func TestMetrics(t *testing.T) {
	cfg := newConfig(t)
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Passthrough.Listen = []string{"127.0.0.1:0"}
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("gaming-pc", "02:00:00:00:00:01", r, nil)
	a := th.must(202, "POST", "/api/v1/machines/gaming-pc/wake", th.Admin, nil)
	var act struct{ ID string }
	a.decode(t, &act)
	th.waitDone(act.ID)
	th.events("/api/v1/events", th.Admin, "")
	c, err := net.Dial("udp", th.RelayAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("not a magic packet")); err != nil {
		t.Fatal(err)
	}
	c.Close()

	var mfs map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, b := th.scrape("")
		if code != 200 {
			t.Fatalf("scrape: %d %s", code, b)
		}
		mfs = families(t, b)
		if n, _ := value(mfs, "moonwake_passthrough_packets_total", map[string]string{"outcome": "malformed"}); n == 1 {
			problems, err := promlint.New(bytes.NewReader(b)).Lint()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("promtool check metrics: %s: %s", p.Metric, p.Text)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the malformed datagram was never counted:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}

	want := []struct {
		name   string
		labels map[string]string
		test   func(float64) bool
		says   string
	}{
		{"moonwake_actions_total", map[string]string{"kind": "wake", "status": "succeeded"}, eq(1), "1"},
		{"moonwake_actions_total", map[string]string{"kind": "shutdown", "status": "failed"}, eq(0), "0, there from the start"},
		{"moonwake_action_duration_seconds", map[string]string{"kind": "wake", "status": "succeeded"}, eq(1), "1 observation"},
		{"moonwake_wake_packets_total", map[string]string{"via": "udp", "result": "sent"}, atLeast(1), "at least 1"},
		{"moonwake_wake_packets_total", map[string]string{"via": "relay", "result": "sent"}, eq(0), "0"},
		{"moonwake_event_stream_clients", map[string]string{"door": "api"}, eq(1), "1"},
		{"moonwake_event_stream_clients", map[string]string{"door": "web"}, eq(0), "0"},
		{"moonwake_notifications_total", map[string]string{"channel": "webhook", "result": "failed"}, eq(0), "0"},
		{"moonwake_passthrough_packets_total", map[string]string{"outcome": "woken"}, eq(0), "0"},
		{"go_goroutines", nil, atLeast(1), "at least 1"},
		{"process_start_time_seconds", nil, atLeast(1), "there"},
	}
	for _, w := range want {
		got, ok := value(mfs, w.name, w.labels)
		if !ok || !w.test(got) {
			t.Errorf("%s%v = %v (there: %v); want %s", w.name, w.labels, got, ok, w.says)
		}
	}
	// One state is 1, the others 0; the machine has no address to probe,
	// so it is unknown.
	ones := 0
	for _, m := range mfs["moonwake_machine_state"].GetMetric() {
		ones += int(m.GetGauge().GetValue())
	}
	if n := len(mfs["moonwake_machine_state"].GetMetric()); n != 7 || ones != 1 {
		t.Errorf("moonwake_machine_state: %d series, %d of them 1; want 7 and 1", n, ones)
	}

	// The hub's own address, which an ingress routes, has no metrics.
	if got := th.do("GET", "/metrics", th.Admin, nil); bytes.Contains(got.Body, []byte("moonwake_actions_total")) {
		t.Errorf("the main address serves metrics: %d", got.Status)
	}
}

func eq(want float64) func(float64) bool     { return func(v float64) bool { return v == want } }
func atLeast(min float64) func(float64) bool { return func(v float64) bool { return v >= min } }

// TestMetricsToken: with metrics.token_file, a scrape needs its token as
// a bearer token; none or another is 401.
func TestMetricsToken(t *testing.T) {
	cfg := newConfig(t)
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Metrics.TokenFile = filepath.Join(t.TempDir(), "metrics-token")
	if err := os.WriteFile(cfg.Metrics.TokenFile, []byte("s3cret-scrape\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	th := startHub(t, cfg)
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {"wrong", 401}, {th.Admin, 401}, {"s3cret-scrape", 200}} {
		code, b := th.scrape(c.token)
		if code != c.want {
			t.Errorf("token %q: %d; want %d", c.token, code, c.want)
		}
		if code == 200 && !strings.Contains(string(b), "moonwake_machine_state") && !strings.Contains(string(b), "moonwake_actions_total") {
			t.Errorf("token %q: no metrics:\n%s", c.token, b)
		}
	}
}

// TestMetricsOffByDefault: without metrics.listen nothing listens.
func TestMetricsOffByDefault(t *testing.T) {
	th := startHub(t, newConfig(t))
	if a := th.MetricsAddr(); a != nil {
		t.Fatalf("metrics listen on %s", a)
	}
}

// TestMetricsClosedOnStop: a stopped hub no longer listens on its metrics
// address.
func TestMetricsClosedOnStop(t *testing.T) {
	cfg := newConfig(t)
	cfg.Metrics.Listen = "127.0.0.1:0"
	th := startHub(t, cfg)
	addr := th.MetricsAddr().String()
	if code, _ := th.scrape(""); code != 200 {
		t.Fatalf("scrape: %d", code)
	}
	th.Stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after the hub stopped", addr)
	}
}

// TestMonitoringNamesRealMetrics: every metric that the Grafana dashboard
// and the Prometheus rules in deploy/ name is in a real scrape of a hub
// that has a machine on (probed, woken), a paired agent and a relay. A
// renamed metric must not leave an empty panel or an alert that can never
// fire. (deploy's own tests parse the rules as promtool does.)
func TestMonitoringNamesRealMetrics(t *testing.T) {
	var names []string
	for _, f := range []string{"../deploy/grafana/moonwake.json", "../deploy/prometheus/moonwake-rules.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		found := metricName.FindAllString(string(b), -1)
		if len(found) == 0 {
			t.Fatalf("%s names no metric", f)
		}
		names = append(names, found...)
	}

	cfg := newConfig(t)
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Probe.Interval = 100 * time.Millisecond
	sunshine, err := net.Listen("tcp", "127.0.0.1:0") // the PC's open port: it is on
	if err != nil {
		t.Fatal(err)
	}
	defer sunshine.Close()
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("gaming-pc", "02:00:00:00:00:01", r, map[string]any{"host": "127.0.0.1", "ports": []int{sunshine.Addr().(*net.TCPAddr).Port}})
	var pairing struct{ Code string }
	th.must(201, "POST", "/api/v1/machines/gaming-pc/pair", th.Admin, nil).decode(t, &pairing)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	th.must(200, "POST", "/api/v1/agents/pair", "", map[string]any{"v": 1, "purpose": "agent", "public_key": pub, "code": pairing.Code})
	var enrol struct{ Secret string }
	th.must(201, "POST", "/api/v1/tokens", th.Admin, map[string]any{"name": "r", "relay_enrol": true}).decode(t, &enrol)
	th.must(200, "POST", "/api/v1/agents/pair", "", map[string]any{"v": 1, "purpose": "relay", "public_key": pub, "token": enrol.Secret, "name": "lan-a"})

	var mfs map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Once the machine is seen on, a wake ends at once: nothing to do.
		var act struct{ Status string }
		th.must(202, "POST", "/api/v1/machines/gaming-pc/wake", th.Admin, nil).decode(t, &act)
		_, b := th.scrape("")
		mfs = families(t, b)
		if on, _ := value(mfs, "moonwake_machine_state", map[string]string{"state": "on"}); on == 1 && act.Status == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the machine was never seen on:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, n := range names {
		family := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(n, suffix); ok && mfs[base].GetType() == dto.MetricType_HISTOGRAM {
				family = base
			}
		}
		if len(mfs[family].GetMetric()) == 0 {
			t.Errorf("deploy/ names %s, which the scrape does not have", n)
		}
	}
}

// metricName matches the names of moonwake's, Go's and the process's
// metrics in a PromQL expression.
var metricName = regexp.MustCompile(`\b(?:moonwake|go|process)_[a-z0-9_]+\b`)

// TestMetricsNotifications: a failed wake is notified by webhook; the
// receiver refuses the first delivery and takes the retry, and both are
// counted.
func TestMetricsNotifications(t *testing.T) {
	var calls atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "not now", http.StatusServiceUnavailable)
		}
	}))
	defer receiver.Close()
	cfg := newConfig(t)
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Notify.Webhook = receiver.URL
	th := startHub(t, cfg)
	// Nothing to send to: the wake fails at once, and that is notified.
	th.must(201, "POST", "/api/v1/machines", th.Admin, map[string]any{"name": "lost", "mac": "aa:bb:cc:dd:ee:0e"})
	th.must(503, "POST", "/api/v1/machines/lost/wake", th.Admin, nil)

	deadline := time.Now().Add(15 * time.Second)
	for {
		_, b := th.scrape("")
		mfs := families(t, b)
		failed, _ := value(mfs, "moonwake_notifications_total", map[string]string{"channel": "webhook", "result": "failed"})
		sent, _ := value(mfs, "moonwake_notifications_total", map[string]string{"channel": "webhook", "result": "sent"})
		wakes, _ := value(mfs, "moonwake_actions_total", map[string]string{"kind": "wake", "status": "failed"})
		if failed == 1 && sent == 1 && wakes == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook failed %v, sent %v, failed wakes %v; want 1, 1, 1", failed, sent, wakes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
