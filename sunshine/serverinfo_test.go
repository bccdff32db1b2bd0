package sunshine_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake/sunshine"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseServerInfoFixtures(t *testing.T) {
	tests := []struct {
		file string
		want sunshine.ServerInfo
	}{
		{"serverinfo-free.xml", sunshine.ServerInfo{
			Hostname: "GAMING-PC", UniqueID: "5C0A4D9E-3B1F-4E52-9A7D-0C6B2E8F1A34", AppVersion: "7.1.431.-1",
			GfeVersion: "3.23.0.74", State: "SUNSHINE_SERVER_FREE", LocalIP: "192.168.1.20", HTTPSPort: 47984, ExternalPort: 47989,
		}},
		{"serverinfo-busy.xml", sunshine.ServerInfo{
			Hostname: "GAMING-PC", UniqueID: "5C0A4D9E-3B1F-4E52-9A7D-0C6B2E8F1A34", AppVersion: "7.1.431.-1",
			GfeVersion: "3.23.0.74", State: "SUNSHINE_SERVER_BUSY", Busy: true, CurrentGame: 881448767,
			LocalIP: "192.168.1.20", HTTPSPort: 47984, ExternalPort: 47989,
		}},
		{"serverinfo-paired.xml", sunshine.ServerInfo{
			Hostname: "GAMING-PC", UniqueID: "5C0A4D9E-3B1F-4E52-9A7D-0C6B2E8F1A34", AppVersion: "7.1.431.-1",
			GfeVersion: "3.23.0.74", State: "SUNSHINE_SERVER_FREE", LocalIP: "192.168.1.20", HTTPSPort: 47984, ExternalPort: 47989,
			MAC: net.HardwareAddr{0x3c, 0x7c, 0x3f, 0x1e, 0x22, 0xa0}, PairStatus: 1,
		}},
		// Indented, extra attributes, nested elements we do not read, and
		// another prefix before the state suffix.
		{"serverinfo-nested.xml", sunshine.ServerInfo{
			Hostname: "OLD-PC", UniqueID: "7AF2D8B1C1E43F2A", AppVersion: "7.1.431.0", GfeVersion: "3.23.0.74",
			State: "OTHER_SERVER_FREE",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := sunshine.ParseServerInfo(readFixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseServerInfoStatus(t *testing.T) {
	_, err := sunshine.ParseServerInfo(readFixture(t, "serverinfo-401.xml"))
	var se *sunshine.StatusError
	if !errors.As(err, &se) || se.Code != 401 || !strings.Contains(se.Message, "not authorized") {
		t.Fatalf("err = %v, want a 401 StatusError with its message", err)
	}
	// The status wins over a field that does not parse.
	_, err = sunshine.ParseServerInfo([]byte(`<root status_code="503" status_message="busy"><state>nonsense</state></root>`))
	if !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("err = %v, want a 503 StatusError", err)
	}
}

func TestParseServerInfoStrict(t *testing.T) {
	const ok = `<root status_code="200"><state>SUNSHINE_SERVER_FREE</state></root>`
	if _, err := sunshine.ParseServerInfo([]byte(ok)); err != nil {
		t.Fatalf("minimal answer: %v", err)
	}
	bad := []struct {
		name, xml, want string
	}{
		{"empty", ``, "no <root>"},
		{"not xml", `hello`, "text outside"},
		{"wrong root", `<html status_code="200"></html>`, "<html>"},
		{"namespaced root", `<x:root xmlns:x="urn:x" status_code="200"><state>SUNSHINE_SERVER_FREE</state></x:root>`, "want <root>"},
		{"no status", `<root><state>SUNSHINE_SERVER_FREE</state></root>`, "no status_code"},
		{"status not a number", `<root status_code="OK"></root>`, "not a number"},
		{"no state", `<root status_code="200"><hostname>pc</hostname></root>`, "no <state>"},
		{"unknown state", `<root status_code="200"><state>SUNSHINE_SERVER_MAYBE</state></root>`, "unknown state"},
		{"empty state", `<root status_code="200"><state></state></root>`, "unknown state"},
		{"twice", `<root status_code="200"><state>SUNSHINE_SERVER_FREE</state><state>SUNSHINE_SERVER_BUSY</state></root>`, "twice"},
		{"nested field", `<root status_code="200"><hostname><b>pc</b></hostname><state>SUNSHINE_SERVER_FREE</state></root>`, "holds an element"},
		{"game not a number", `<root status_code="200"><currentgame>x</currentgame><state>SUNSHINE_SERVER_BUSY</state></root>`, "currentgame"},
		{"bad mac", `<root status_code="200"><mac>00:11</mac><state>SUNSHINE_SERVER_FREE</state></root>`, "MAC"},
		{"bad port", `<root status_code="200"><HttpsPort>70000</HttpsPort><state>SUNSHINE_SERVER_FREE</state></root>`, "port"},
		{"unclosed", `<root status_code="200"><state>SUNSHINE_SERVER_FREE</state>`, "EOF"},
		{"two roots", ok + ok, "more than one root"},
		{"trailing text", ok + "x", "text outside"},
		{"doctype", `<!DOCTYPE root [<!ENTITY x "y">]>` + ok, "directive"},
		{"huge field", `<root status_code="200"><hostname>` + strings.Repeat("a", 2000) + `</hostname><state>SUNSHINE_SERVER_FREE</state></root>`, "too long"},
		{"too large", `<root status_code="200"><state>SUNSHINE_SERVER_FREE</state><x>` + strings.Repeat("a", sunshine.MaxBodySize) + `</x></root>`, "larger than"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			info, err := sunshine.ParseServerInfo([]byte(tt.xml))
			if err == nil || info != nil {
				t.Fatalf("= %+v, %v; want an error", info, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

// A host that is free but still names its last app has no app running.
func TestParseServerInfoFreeClearsGame(t *testing.T) {
	info, err := sunshine.ParseServerInfo([]byte(`<root status_code="200"><currentgame>12</currentgame><state>SUNSHINE_SERVER_FREE</state></root>`))
	if err != nil || info.Busy || info.CurrentGame != 0 {
		t.Fatalf("= %+v, %v", info, err)
	}
}

func FuzzParseServerInfo(f *testing.F) {
	for _, name := range []string{"serverinfo-free.xml", "serverinfo-busy.xml", "serverinfo-paired.xml", "serverinfo-nested.xml", "serverinfo-401.xml"} {
		f.Add(readFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := sunshine.ParseServerInfo(b)
		if err != nil {
			if info != nil {
				t.Fatalf("info %+v with error %v", info, err)
			}
			return
		}
		// What was accepted is coherent.
		if info.Busy != strings.HasSuffix(info.State, "_SERVER_BUSY") {
			t.Fatalf("Busy %v for state %q", info.Busy, info.State)
		}
		if !info.Busy && info.CurrentGame != 0 {
			t.Fatalf("free host with app %d", info.CurrentGame)
		}
		if !strings.HasSuffix(info.State, "_SERVER_BUSY") && !strings.HasSuffix(info.State, "_SERVER_FREE") {
			t.Fatalf("state %q accepted", info.State)
		}
		if info.MAC != nil && len(info.MAC) != 6 {
			t.Fatalf("MAC %v", info.MAC)
		}
		if info.HTTPSPort < 0 || info.HTTPSPort > 65535 || info.ExternalPort < 0 || info.ExternalPort > 65535 {
			t.Fatalf("ports %d %d", info.HTTPSPort, info.ExternalPort)
		}
	})
}

// fakeSunshine serves /serverinfo as Sunshine does: one line of XML after
// the declaration, the connection closed after the answer, and the state
// of whatever app runs.
type fakeSunshine struct {
	mu      sync.Mutex
	app     int
	queries []string
}

var uuidRE = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

func (s *fakeSunshine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.queries = append(s.queries, r.URL.RawQuery)
	app := s.app
	s.mu.Unlock()
	w.Header().Set("Connection", "close")
	if r.Method != http.MethodGet || r.URL.Path != "/serverinfo" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<root status_code="404" status_message="Not Found"/>`)
		return
	}
	q := r.URL.Query()
	if q.Get("uniqueid") == "" || !uuidRE.MatchString(q.Get("uuid")) {
		fmt.Fprint(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<root status_code="400" status_message="Missing uniqueid or uuid"/>`)
		return
	}
	state := "SUNSHINE_SERVER_FREE"
	if app > 0 {
		state = "SUNSHINE_SERVER_BUSY"
	}
	local := r.Context().Value(http.LocalAddrContextKey).(net.Addr).(*net.TCPAddr)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+
		`<root status_code="200"><hostname>fake-pc</hostname><appversion>7.1.431.-1</appversion><GfeVersion>3.23.0.74</GfeVersion>`+
		`<uniqueid>11111111-2222-4333-8444-555555555555</uniqueid><HttpsPort>47984</HttpsPort><ExternalPort>47989</ExternalPort>`+
		`<MaxLumaPixelsHEVC>0</MaxLumaPixelsHEVC><mac>00:00:00:00:00:00</mac><LocalIP>%s</LocalIP><ServerCodecModeSupport>1</ServerCodecModeSupport>`+
		`<PairStatus>0</PairStatus><currentgame>%d</currentgame><state>%s</state></root>`, local.IP, app, state)
}

func TestClientServerInfo(t *testing.T) {
	fake := &fakeSunshine{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := &sunshine.Client{BaseURL: srv.URL, UniqueID: "moonwake-hub"}
	ctx := t.Context()

	info, err := c.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Busy || info.Hostname != "fake-pc" || info.LocalIP != "127.0.0.1" || info.UniqueID != "11111111-2222-4333-8444-555555555555" {
		t.Fatalf("free: %+v", info)
	}
	fake.mu.Lock()
	fake.app = 42
	fake.mu.Unlock()
	if info, err = c.ServerInfo(ctx); err != nil || !info.Busy || info.CurrentGame != 42 {
		t.Fatalf("busy: %+v, %v", info, err)
	}

	// Each request has our uniqueid and a new uuid.
	fake.mu.Lock()
	qs := fake.queries
	fake.mu.Unlock()
	if len(qs) != 2 || qs[0] == qs[1] || !strings.Contains(qs[0], "uniqueid=moonwake-hub") {
		t.Errorf("queries %q", qs)
	}

	// Without a uniqueid, Moonlight's.
	if _, err := (&sunshine.Client{BaseURL: srv.URL + "/"}).ServerInfo(ctx); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	last := fake.queries[len(fake.queries)-1]
	fake.mu.Unlock()
	if !strings.Contains(last, "uniqueid=0123456789ABCDEF") {
		t.Errorf("query %q", last)
	}
}

func TestClientServerInfoErrors(t *testing.T) {
	ctx := t.Context()
	mux := http.NewServeMux()
	mux.HandleFunc("/unauthorized/serverinfo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<root status_code="401" status_message="The client is not authorized"/>`)
	})
	mux.HandleFunc("/http404/serverinfo", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<root status_code="404" status_message="Not Found"/>`)
	})
	mux.HandleFunc("/html/serverinfo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!DOCTYPE html><html><body>router login</body></html>`)
	})
	mux.HandleFunc("/huge/serverinfo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<root status_code="200"><x>`+strings.Repeat("a", sunshine.MaxBodySize)+`</x></root>`)
	})
	mux.HandleFunc("/redirect/serverinfo", func(w http.ResponseWriter, r *http.Request) {
		// To a valid answer on the same loopback server: following it
		// would hide the redirect.
		http.Redirect(w, r, "/ok/serverinfo", http.StatusFound)
	})
	mux.HandleFunc("/ok/serverinfo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<root status_code="200"><state>SUNSHINE_SERVER_FREE</state></root>`)
	})
	mux.HandleFunc("/slow/serverinfo", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var se *sunshine.StatusError
	_, err := (&sunshine.Client{BaseURL: srv.URL + "/unauthorized"}).ServerInfo(ctx)
	if !errors.As(err, &se) || se.Code != 401 {
		t.Errorf("401 in the body: %v", err)
	}
	_, err = (&sunshine.Client{BaseURL: srv.URL + "/http404"}).ServerInfo(ctx)
	if !errors.As(err, &se) || se.Code != 404 || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("HTTP 404: %v", err)
	}
	for _, path := range []string{"/html", "/huge", "/redirect"} {
		if info, err := (&sunshine.Client{BaseURL: srv.URL + path}).ServerInfo(ctx); err == nil {
			t.Errorf("%s: %+v, want an error", path, info)
		}
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = (&sunshine.Client{BaseURL: srv.URL + "/slow"}).ServerInfo(short)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow host: %v", err)
	}

	// A closed port: the error names the host, never the query.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = (&sunshine.Client{BaseURL: "http://" + addr, UniqueID: "secretish"}).ServerInfo(ctx)
	if err == nil || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "uuid") || strings.Contains(err.Error(), "secretish") {
		t.Errorf("closed port: %v", err)
	}
	for _, base := range []string{"", "ftp://x", "http://", "::"} {
		if _, err := (&sunshine.Client{BaseURL: base}).ServerInfo(ctx); err == nil || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("base %q: %v", base, err)
		}
	}
}
