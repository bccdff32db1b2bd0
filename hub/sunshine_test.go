package hub_test

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/sunshine/sunshinetest"
)

// A hub pairs with a machine's Sunshine host through the API, and shuts
// the machine down by launching its "Shutdown" app when it has no agent.
func TestSunshinePairAndShutdown(t *testing.T) {
	f := sunshinetest.New("1234")
	f.Start()
	defer f.Close()
	u, _ := url.Parse(f.URL())
	_, ps, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(ps)

	th := startHub(t, newConfig(t))
	r := newReceiver(t)
	th.addMachine("pc", "3C-7C-3F-1E-22-A0", r, map[string]any{"host": "127.0.0.1", "ports": []int{port}})
	th.addMachine("nohost", "aa:bb:cc:dd:ee:05", r, nil)

	// A wrong PIN: refused, nothing paired.
	a := th.must(400, "POST", "/api/v1/machines/pc/sunshine/pair", th.Admin, map[string]any{"pin": "9999", "port": port})
	var e struct{ Error, Code string }
	a.decode(t, &e)
	if e.Code != moonwake.EInvalid || !strings.Contains(e.Error, "wrong PIN") {
		t.Fatalf("wrong PIN: %s", a.Body)
	}
	if f.PairedClients() != 0 {
		t.Fatal("a wrong PIN paired")
	}
	// No host: nothing to pair with.
	th.must(400, "POST", "/api/v1/machines/nohost/sunshine/pair", th.Admin, map[string]any{"pin": "1234"})
	th.must(400, "POST", "/api/v1/machines/pc/sunshine/pair", th.Admin, map[string]any{"pin": "12a4", "port": port})
	th.must(404, "POST", "/api/v1/machines/ghost/sunshine/pair", th.Admin, map[string]any{"pin": "1234"})

	// The right PIN.
	a = th.must(200, "POST", "/api/v1/machines/pc/sunshine/pair", th.Admin, map[string]any{"pin": "1234", "port": port})
	var got struct {
		Machine    string `json:"machine"`
		PairedAt   string `json:"paired_at"`
		MAC        string `json:"mac"`
		MACMatches bool   `json:"mac_matches"`
	}
	a.decode(t, &got)
	if got.Machine != "pc" || got.PairedAt == "" || got.MAC != "3c:7c:3f:1e:22:a0" || !got.MACMatches {
		t.Fatalf("pair: %s", a.Body)
	}
	if f.PairedClients() != 1 {
		t.Fatalf("%d paired clients, want 1", f.PairedClients())
	}

	// Reboot needs an agent.
	th.must(503, "POST", "/api/v1/machines/pc/reboot?wait=false", th.Admin, nil)
	if n := len(f.Launches()); n != 0 {
		t.Fatalf("a reboot launched %d apps", n)
	}

	// Shutdown without an agent: the Sunshine app.
	a = th.must(202, "POST", "/api/v1/machines/pc/shutdown?wait=false", th.Admin, nil)
	var act moonwake.Action
	a.decode(t, &act)
	if len(act.Steps) == 0 || !strings.Contains(act.Steps[0].Target, `launched Sunshine app "Shutdown"`) {
		t.Fatalf("shutdown steps: %s", a.Body)
	}
	ls := f.Launches()
	if len(ls) != 1 || ls[0].Get("appid") != "1093255277" {
		t.Fatalf("launches: %v", ls)
	}
}

// With "auto", the hub sends its own PIN to the host's web UI.
func TestSunshinePairAuto(t *testing.T) {
	f := sunshinetest.New("")
	f.Start()
	defer f.Close()
	web := f.StartWebUI("admin", "s3cret!", false)
	defer web.Close()
	u, _ := url.Parse(f.URL())
	_, ps, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(ps)

	th := startHub(t, newConfig(t))
	r := newReceiver(t)
	th.addMachine("pc", "3C-7C-3F-1E-22-A0", r, map[string]any{"host": "127.0.0.1", "ports": []int{port}})

	// Both, or neither, of pin and auto.
	th.must(400, "POST", "/api/v1/machines/pc/sunshine/pair", th.Admin, map[string]any{"pin": "1234", "auto": true, "username": "admin", "password": "s3cret!", "port": port})
	th.must(400, "POST", "/api/v1/machines/pc/sunshine/pair", th.Admin, map[string]any{"port": port})
	th.must(400, "POST", "/api/v1/machines/pc/sunshine/pair", th.Admin, map[string]any{"auto": true, "username": "admin", "port": port})

	// Wrong credentials: refused, nothing paired, the password not echoed.
	a := th.must(400, "POST", "/api/v1/machines/pc/sunshine/pair", th.Admin, map[string]any{"auto": true, "username": "admin", "password": "nope-pass", "port": port, "web_port": web.Port()})
	if !strings.Contains(string(a.Body), "Sunshine refused the web credentials") || strings.Contains(string(a.Body), "nope-pass") {
		t.Fatalf("wrong credentials: %s", a.Body)
	}
	if f.PairedClients() != 0 {
		t.Fatal("wrong credentials paired")
	}

	a = th.must(200, "POST", "/api/v1/machines/pc/sunshine/pair", th.Admin, map[string]any{"auto": true, "username": "admin", "password": "s3cret!", "port": port, "web_port": web.Port()})
	if f.PairedClients() != 1 || !strings.Contains(string(a.Body), `"mac_matches":true`) {
		t.Fatalf("auto pair: %d paired, %s", f.PairedClients(), a.Body)
	}
}

// A web UI presenting another certificate gets no credentials.
func TestSunshinePairAutoMITM(t *testing.T) {
	f := sunshinetest.New("")
	f.Start()
	defer f.Close()
	web := f.StartWebUI("admin", "s3cret!", true)
	defer web.Close()
	u, _ := url.Parse(f.URL())
	_, ps, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(ps)

	th := startHub(t, newConfig(t))
	r := newReceiver(t)
	th.addMachine("pc", "3C-7C-3F-1E-22-A0", r, map[string]any{"host": "127.0.0.1", "ports": []int{port}})
	a := th.must(502, "POST", "/api/v1/machines/pc/sunshine/pair", th.Admin, map[string]any{"auto": true, "username": "admin", "password": "s3cret!", "port": port, "web_port": web.Port()})
	if !strings.Contains(string(a.Body), "another certificate") || strings.Contains(string(a.Body), "s3cret") {
		t.Fatalf("MITM: %s", a.Body)
	}
	if web.SawAuthorization() || f.PairedClients() != 0 {
		t.Fatal("credentials sent, or paired")
	}
}
