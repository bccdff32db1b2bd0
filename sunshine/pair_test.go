package sunshine_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
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
	"github.com/moonwake/moonwake/sunshine/sunshinetest"
)

var (
	identOnce sync.Once
	ident     *sunshine.Identity
	identErr  error
)

// testIdentity is one identity shared by the tests: RSA-2048 keys are
// slow to make under -race.
func testIdentity(t *testing.T) *sunshine.Identity {
	t.Helper()
	identOnce.Do(func() { ident, identErr = sunshine.NewIdentity() })
	if identErr != nil {
		t.Fatal(identErr)
	}
	return ident
}

func startFake(t *testing.T, pin string, setup func(*sunshinetest.Server)) *sunshinetest.Server {
	t.Helper()
	f := sunshinetest.New(pin)
	if setup != nil {
		setup(f)
	}
	f.Start()
	t.Cleanup(f.Close)
	return f
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestIdentityPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	a, err := sunshine.LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := a.Key.N.BitLen(); n != 2048 {
		t.Errorf("key of %d bits, want 2048", n)
	}
	if err := a.Cert.CheckSignature(a.Cert.SignatureAlgorithm, a.Cert.RawTBSCertificate, a.Cert.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	for _, name := range []string{sunshine.IdentityCertFile, sunshine.IdentityKeyFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, st.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files in the directory, want 2", len(entries))
	}
	b, err := sunshine.LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Cert.Raw, b.Cert.Raw) || !a.Key.Equal(b.Key) || !bytes.Equal(a.CertPEM, b.CertPEM) {
		t.Error("a second load gave another identity")
	}

	// A key readable by others is refused.
	if err := os.Chmod(filepath.Join(dir, sunshine.IdentityKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sunshine.LoadOrCreateIdentity(dir); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Errorf("loose key mode: %v", err)
	}
	// One file without the other is never silently replaced.
	if err := os.Remove(filepath.Join(dir, sunshine.IdentityKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := sunshine.LoadOrCreateIdentity(dir); err == nil || !strings.Contains(err.Error(), "only one") {
		t.Errorf("missing key: %v", err)
	}
	// A key of another identity is refused.
	other := t.TempDir()
	if _, err := sunshine.LoadOrCreateIdentity(other); err != nil {
		t.Fatal(err)
	}
	k, _ := os.ReadFile(filepath.Join(other, sunshine.IdentityKeyFile))
	if err := os.WriteFile(filepath.Join(dir, sunshine.IdentityKeyFile), k, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sunshine.LoadOrCreateIdentity(dir); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched key: %v", err)
	}
}

func TestPairAndUse(t *testing.T) {
	f := startFake(t, "4321", nil)
	id := testIdentity(t)
	ctx := testCtx(t)
	p, err := sunshine.Pair(ctx, f.URL(), "4321", id, &sunshine.PairOptions{DeviceName: "hub"})
	if err != nil {
		t.Fatal(err)
	}
	if f.PairedClients() != 1 {
		t.Fatalf("%d clients paired, want 1", f.PairedClients())
	}
	if !bytes.Equal(p.ServerCertPEM, f.CertPEM) {
		t.Error("the pinned certificate is not the host's")
	}
	info, err := p.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.MAC.String() != "3c:7c:3f:1e:22:a0" || info.PairStatus != 1 {
		t.Errorf("paired serverinfo: MAC %v, PairStatus %d", info.MAC, info.PairStatus)
	}
	apps, err := p.AppList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []sunshine.App{{ID: 881448767, Title: "Desktop"}, {ID: 1093255277, Title: "Shutdown"}}
	if len(apps) != 2 || apps[0] != want[0] || apps[1] != want[1] {
		t.Errorf("apps %+v, want %+v", apps, want)
	}

	// A busy host: cancel, then launch "Shutdown", found by title.
	f.SetRunning(881448767)
	again, err := sunshine.NewPaired(p.URL, p.ServerCertPEM, id) // as reloaded from storage
	if err != nil {
		t.Fatal(err)
	}
	if err := again.ShutdownApp(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if f.Cancels() != 1 {
		t.Errorf("%d cancels, want 1", f.Cancels())
	}
	l := f.Launches()
	if len(l) != 1 {
		t.Fatalf("%d launches, want 1", len(l))
	}
	q := l[0]
	if q.Get("appid") != "1093255277" || q.Get("mode") != "0x0x0" || q.Get("localAudioPlayMode") != "0" ||
		q.Get("additionalStates") != "1" || q.Get("sops") != "0" ||
		!regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(q.Get("rikey")) ||
		!regexp.MustCompile(`^[0-9]+$`).MatchString(q.Get("rikeyid")) {
		t.Errorf("launch query %v", q)
	}
	if f.Running() != 1093255277 {
		t.Errorf("running %d", f.Running())
	}

	// A free host: no cancel.
	f.SetRunning(0)
	if err := p.ShutdownApp(ctx, "SHUTDOWN"); err != nil {
		t.Fatal(err)
	}
	if f.Cancels() != 1 || len(f.Launches()) != 2 {
		t.Errorf("free host: %d cancels, %d launches", f.Cancels(), len(f.Launches()))
	}
	if err := p.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.ShutdownApp(ctx, "Power Off"); !errors.Is(err, sunshine.ErrNoApp) {
		t.Errorf("unknown title: %v", err)
	}
}

func TestShutdownAppTitleConfigurable(t *testing.T) {
	f := startFake(t, "0000", func(f *sunshinetest.Server) {
		f.Apps = []sunshinetest.App{{ID: 7, Title: "Desktop"}, {ID: 99, Title: "Power Off"}}
	})
	ctx := testCtx(t)
	p, err := sunshine.Pair(ctx, f.URL(), "0000", testIdentity(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ShutdownApp(ctx, ""); !errors.Is(err, sunshine.ErrNoApp) {
		t.Errorf("no Shutdown app: %v", err)
	}
	if err := p.ShutdownApp(ctx, "power off"); err != nil {
		t.Fatal(err)
	}
	if l := f.Launches(); len(l) != 1 || l[0].Get("appid") != "99" {
		t.Errorf("launches %v", l)
	}
}

func TestPairWrongPIN(t *testing.T) {
	f := startFake(t, "1234", nil)
	_, err := sunshine.Pair(testCtx(t), f.URL(), "9999", testIdentity(t), nil)
	if !errors.Is(err, sunshine.ErrWrongPIN) || !strings.Contains(err.Error(), "wrong PIN") {
		t.Fatalf("got %v, want ErrWrongPIN", err)
	}
	t.Log(err)
	if f.PairedClients() != 0 {
		t.Errorf("%d clients paired after a wrong PIN", f.PairedClients())
	}
	if f.Unpairs() != 1 {
		t.Errorf("%d unpairs, want 1", f.Unpairs())
	}
}

func TestPairBadInput(t *testing.T) {
	f := startFake(t, "1234", nil)
	ctx := testCtx(t)
	for _, pin := range []string{"", "123", "12345", "12a4"} {
		if _, err := sunshine.Pair(ctx, f.URL(), pin, testIdentity(t), nil); err == nil {
			t.Errorf("PIN %q accepted", pin)
		}
	}
	if _, err := sunshine.Pair(ctx, "ftp://x", "1234", testIdentity(t), nil); err == nil {
		t.Error("ftp URL accepted")
	}
	if _, err := sunshine.Pair(ctx, f.URL(), "1234", nil, nil); err == nil {
		t.Error("nil identity accepted")
	}
}

// The host's major version picks the hash: SHA-1 before 7.
func TestPairLegacySHA1(t *testing.T) {
	f := startFake(t, "5555", func(f *sunshinetest.Server) { f.AppVersion = "6.0.0.0" })
	ctx := testCtx(t)
	p, err := sunshine.Pair(ctx, f.URL(), "5555", testIdentity(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppList(ctx); err != nil {
		t.Fatal(err)
	}
	// Told the wrong version, the client derives another key: the hashes
	// do not match.
	g := startFake(t, "5555", func(f *sunshinetest.Server) { f.AppVersion = "6.0.0.0" })
	_, err = sunshine.Pair(ctx, g.URL(), "5555", testIdentity(t), &sunshine.PairOptions{AppVersion: "7.1.431.-1"})
	if !errors.Is(err, sunshine.ErrWrongPIN) {
		t.Errorf("SHA-256 against a SHA-1 host: %v", err)
	}
}

// A proxy that hands out its own certificate in getservercert is caught
// when the pairing secret's signature is checked.
func TestPairMITMCertificateSwap(t *testing.T) {
	f := startFake(t, "1234", nil)
	mitm := sunshinetest.New("0000")
	real, fake := hex.EncodeToString(f.CertPEM), hex.EncodeToString(mitm.CertPEM)
	upstream := &http.Client{Transport: &http.Transport{Proxy: nil}}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := upstream.Get(f.URL() + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(bytes.ReplaceAll(body, []byte(real), []byte(fake)))
	}))
	t.Cleanup(proxy.Close)
	_, err := sunshine.Pair(testCtx(t), proxy.URL, "1234", testIdentity(t), nil)
	if !errors.Is(err, sunshine.ErrMITM) {
		t.Fatalf("got %v, want ErrMITM", err)
	}
	t.Log(err)
	if f.PairedClients() != 0 {
		t.Errorf("%d clients paired", f.PairedClients())
	}
	if f.Unpairs() != 1 {
		t.Errorf("%d unpairs, want 1", f.Unpairs())
	}
}

// Another server, with another key, at the HTTPS phase is refused: the
// TLS peer must present exactly the pinned certificate.
func TestPairMITMAtHTTPS(t *testing.T) {
	f := startFake(t, "1234", nil)
	other := startFake(t, "1234", nil)
	_, err := sunshine.Pair(testCtx(t), f.URL(), "1234", testIdentity(t), &sunshine.PairOptions{HTTPSPort: other.HTTPSPort()})
	if !errors.Is(err, sunshine.ErrMITM) {
		t.Fatalf("got %v, want ErrMITM", err)
	}
	t.Log(err)
	// And so are the paired calls.
	p, err := sunshine.NewPaired(other.HTTPS.URL, f.CertPEM, testIdentity(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ServerInfo(testCtx(t)); !errors.Is(err, sunshine.ErrMITM) {
		t.Errorf("serverinfo from another server: %v", err)
	}
}

// An unpaired certificate gets the host's 401 over HTTPS.
func TestPairedUnauthorized(t *testing.T) {
	f := startFake(t, "1234", nil)
	p, err := sunshine.NewPaired(f.HTTPS.URL, f.CertPEM, testIdentity(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.AppList(testCtx(t))
	var se *sunshine.StatusError
	if !errors.As(err, &se) || se.Code != 401 {
		t.Errorf("got %v, want status 401", err)
	}
	if _, err := sunshine.NewPaired("http://x:1", f.CertPEM, testIdentity(t)); err == nil {
		t.Error("http URL accepted")
	}
	if _, err := sunshine.NewPaired(f.HTTPS.URL, []byte("junk"), testIdentity(t)); err == nil {
		t.Error("junk certificate accepted")
	}
}

// An unreachable host fails with an error that does not leak the query.
func TestPairUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	_, err := sunshine.Pair(testCtx(t), u, "1234", testIdentity(t), &sunshine.PairOptions{AppVersion: "7.1", HTTPSPort: 1})
	if err == nil || strings.Contains(err.Error(), "clientcert") || strings.Contains(err.Error(), "salt") {
		t.Errorf("got %v", err)
	}
}

// Sunshine holds getservercert until the PIN is typed into its web UI.
func TestPairWaitsForPIN(t *testing.T) {
	f := startFake(t, "", nil)
	done := make(chan error, 1)
	go func() {
		_, err := sunshine.Pair(testCtx(t), f.URL(), "8080", testIdentity(t), nil)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Pair returned before the PIN was entered: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	f.EnterPIN("8080")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f.PairedClients() != 1 {
		t.Errorf("%d paired", f.PairedClients())
	}
}

// Giving up while the host waits for the PIN cancels the pairing there.
func TestPairCancelledWhileWaiting(t *testing.T) {
	f := startFake(t, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := sunshine.Pair(ctx, f.URL(), "8080", testIdentity(t), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
	t.Log(err)
	if f.Unpairs() != 1 || f.PairedClients() != 0 {
		t.Errorf("%d unpairs, %d paired", f.Unpairs(), f.PairedClients())
	}
}

func TestUnpair(t *testing.T) {
	f := startFake(t, "1111", nil)
	ctx := testCtx(t)
	p, err := sunshine.Pair(ctx, f.URL(), "1111", testIdentity(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Unpair(ctx); err != nil {
		t.Fatal(err)
	}
	if f.PairedClients() != 0 {
		t.Errorf("%d paired after unpair", f.PairedClients())
	}
	var se *sunshine.StatusError
	if _, err := p.AppList(ctx); !errors.As(err, &se) || se.Code != 401 {
		t.Errorf("applist after unpair: %v", err)
	}
}
