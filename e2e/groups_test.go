//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
)

// TestGroupWakeStaggered wakes a room of 20 emulated PCs, tagged "lab",
// with one request and a 250 ms stagger, and has tshark, on another host
// of the LAN, time the first magic packet for each PC on the wire: they
// go out in the members' order, the i-th never before i staggers after
// the request (the same clock: every namespace shares the kernel's). The
// group's outcome lists each PC's verified wake.
func TestGroupWakeStaggered(t *testing.T) {
	t.Parallel()
	const (
		n       = 20
		stagger = 250 * time.Millisecond
	)
	lan := testlan.New(t)
	hubHost := lan.AddHost("hub")
	tap := lan.AddHost("tap")
	var pcs []*pc
	for i := range n {
		pcs = append(pcs, newPC(t, lan, fmt.Sprintf("pc%02d", i), pcOptions{}))
	}
	cfg := filepath.Join(t.TempDir(), "moonwake.yaml")
	if err := os.WriteFile(cfg, []byte("probe:\n  fast_interval: 100ms\n  timeout: 300ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hp := startHub(t, hubHost, t.TempDir(), "MOONWAKE_CONFIG="+cfg, "MOONWAKE_WAKE_DEADLINE=15s",
		"MOONWAKE_PROBE_INTERVAL=500ms", "MOONWAKE_RATE_LIMIT_BURST=100")
	for i, p := range pcs {
		hp.addMachine(t, map[string]any{
			"name": fmt.Sprintf("pc%02d", i), "mac": p.MAC().String(), "host": p.Addr().String(),
			"interface": testlan.Iface, "tags": []string{"lab"},
		})
	}
	for i := range pcs {
		hp.waitPower(t, fmt.Sprintf("pc%02d", i), 20*time.Second, "off", func(w wirePower) bool { return w.State == "off" })
	}

	ts := startTshark(t, tap, hubHost, lan.Broadcast(), "udp port 9")
	var g wireGroup
	hp.must(t, http.StatusAccepted, "POST", "/api/v1/groups/lab/wake", hp.admin, map[string]any{"stagger": stagger.String()}).decode(t, &g)
	if len(g.Members) != n || g.StaggerMS != 250 || g.Tag != "lab" {
		t.Fatalf("group %+v", g)
	}
	for deadline := time.Now().Add(60 * time.Second); g.Status == "running"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the group wake is still running: %+v", g)
		}
		hp.must(t, http.StatusOK, "GET", "/api/v1/groups/actions/"+g.ID, hp.admin, nil).decode(t, &g)
	}
	if g.Status != "succeeded" || g.Detail != fmt.Sprintf("%d of %d succeeded", n, n) {
		t.Errorf("group %s: %s", g.Status, g.Detail)
	}
	for i, m := range g.Members {
		if m.Machine != fmt.Sprintf("pc%02d", i) || m.Status != "succeeded" || !strings.HasPrefix(m.Detail, m.Machine+" is on after") || m.Action == "" {
			t.Errorf("member %d: %+v", i, m)
		}
	}
	for _, p := range pcs {
		if p.State() != pcOn {
			t.Errorf("pc %s is %s", p.host.Name(), p.State())
		}
	}

	// The wire: the first packet for each PC.
	recs := ts.records(t, n, 10*time.Second)
	first := map[string]time.Time{}
	for _, r := range recs {
		if len(r.macs) == 0 || r.at.IsZero() {
			continue
		}
		if _, seen := first[r.macs[0]]; !seen {
			first[r.macs[0]] = r.at
		}
	}
	var gaps []time.Duration
	for i := 1; i < n; i++ {
		a, okA := first[pcs[i-1].MAC().String()]
		b, okB := first[pcs[i].MAC().String()]
		if !okA || !okB {
			t.Fatalf("tshark saw no packet for pc%02d or pc%02d:\n%s", i-1, i, ts.out)
		}
		gaps = append(gaps, b.Sub(a))
	}
	total := first[pcs[n-1].MAC().String()].Sub(first[pcs[0].MAC().String()])
	sorted := slices.Sorted(slices.Values(gaps))
	t.Logf("first packets on the wire: %d PCs over %s (want ≥ %s); gaps min %s, median %s, max %s",
		n, total.Round(time.Millisecond), time.Duration(n-1)*stagger, sorted[0].Round(time.Millisecond),
		sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
	// Starts are planned from the first one (no drift). A packet may
	// leave late on a loaded machine (so one gap may be short, after a
	// late one), never early: that is what spares the breaker.
	for i, p := range pcs {
		if planned := g.CreatedAt.Add(time.Duration(i) * stagger); first[p.MAC().String()].Before(planned) {
			t.Errorf("pc%02d's first packet at %s, before its turn at %s", i, first[p.MAC().String()].Format("15:04:05.000"), planned.Format("15:04:05.000"))
		}
		if i > 0 && gaps[i-1] <= 0 {
			t.Errorf("pc%02d's first packet came before pc%02d's", i, i-1)
		}
	}
}

// wireGroup is a group action as the API shows it.
type wireGroup struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Tag       string    `json:"tag"`
	StaggerMS int64     `json:"stagger_ms"`
	CreatedAt time.Time `json:"created_at"`
	Status    string    `json:"status"`
	Detail    string    `json:"detail"`
	Members   []struct {
		Machine string `json:"machine"`
		Status  string `json:"status"`
		Detail  string `json:"detail"`
		Action  string `json:"action"`
	} `json:"members"`
}
