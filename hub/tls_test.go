package hub_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub"
	"github.com/moonwake/moonwake/hub/config"
	"github.com/moonwake/moonwake/internal/hubtls"
	"github.com/moonwake/moonwake/internal/testlan"
)

// loggedHub is a hub whose log the test reads.
type loggedHub struct {
	*hub.Hub
	log *testlan.Buffer
}

// startLoggedHub opens and serves a hub for cfg, returning once it said
// it is serving.
func startLoggedHub(t *testing.T, cfg config.Config) *loggedHub {
	t.Helper()
	lh := &loggedHub{log: new(testlan.Buffer)}
	lh.Hub = hub.New(cfg, slog.New(slog.NewTextHandler(lh.log, nil)))
	lh.Interfaces = loopbackOnly
	if err := lh.Open(context.Background()); err != nil {
		lh.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lh.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		lh.Close()
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := lh.log.WaitFor(wctx, "msg=serving", nil); err != nil {
		t.Fatalf("the hub did not start: %v\n%s", err, lh.log)
	}
	return lh
}

// writeCert writes a new certificate for hub.test and its key to the two
// files as a renewal does (new files renamed over the old), and returns
// the certificate.
func writeCert(t *testing.T, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "hub.test"}, DNSNames: []string{"hub.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := x509.MarshalPKCS8PrivateKey(key)
	for path, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
	} {
		if err := os.WriteFile(path+".new", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// TestHTTPS: with tls.cert_file and tls.key_file the hub serves the API
// over HTTPS and HTTP/2 to a client that checks the certificate, and a
// renewed certificate is served on the next connection, with no restart.
func TestHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := writeCert(t, certFile, keyFile)
	cfg := newConfig(t)
	cfg.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	h := startLoggedHub(t, cfg)
	url := "https://" + h.Addr().String()

	roots := x509.NewCertPool()
	roots.AddCert(first)
	get := func(path, token string) (*http.Response, string) {
		t.Helper()
		// A new transport, so a new connection and handshake each time.
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "hub.test"}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, _ := get("/healthz", "")
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || !resp.TLS.PeerCertificates[0].Equal(first) {
		t.Fatalf("GET /healthz: %s over %s", resp.Status, resp.Proto)
	}
	if resp, _ := get("/api/v1/machines", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the API without a token over HTTPS: %s", resp.Status)
	}
	if resp, body := get("/api/v1/machines", h.AdminSecret); resp.StatusCode != 200 {
		t.Errorf("the API with the admin token over HTTPS: %s %s", resp.Status, body)
	}
	if c, err := tls.Dial("tcp", h.Addr().String(), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("the hub served TLS 1.1")
	}

	renewed := writeCert(t, certFile, keyFile)
	roots.AddCert(renewed)
	resp, _ = get("/healthz", "")
	if !resp.TLS.PeerCertificates[0].Equal(renewed) {
		t.Fatal("after the renewal, a new connection still gets the old certificate")
	}
	if strings.Contains(h.log.String(), "INSECURE") {
		t.Errorf("a hub serving HTTPS warned of plain HTTP:\n%s", h.log)
	}
}

// TestSelfSigned: with tls.self_signed the hub makes a certificate, keeps
// it across restarts, logs its fingerprint, and gives it with each pairing
// code, so the pairing command pins it.
func TestSelfSigned(t *testing.T) {
	cfg := newConfig(t)
	cfg.TLS.SelfSigned = true
	h := startLoggedHub(t, cfg)
	fp := h.TLSFingerprint
	if !strings.HasPrefix(fp, "SHA256:") || !strings.Contains(h.log.String(), "tls_fingerprint="+fp) {
		t.Fatalf("fingerprint %q, log:\n%s", fp, h.log)
	}
	hc, err := hubtls.PinnedClient(fp)
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + h.Addr().String()
	call := func(method, path string, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.AdminSecret)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := call("POST", "/api/v1/machines", `{"name":"pc","mac":"aa:bb:cc:dd:ee:01","broadcast":"127.0.0.1"}`); code != 201 {
		t.Fatalf("add a machine: %d %s", code, b)
	}
	code, b := call("POST", "/api/v1/machines/pc/pair", "")
	var p moonwake.AgentPairing
	if code != 201 || json.Unmarshal(b, &p) != nil || p.TLSFingerprint != fp {
		t.Fatalf("pairing: %d %s; want tls_fingerprint %s", code, b, fp)
	}
	code, b = call("POST", "/api/v1/relays/attic/pair", "")
	var rp moonwake.RelayPairing
	if code != 201 || json.Unmarshal(b, &rp) != nil || rp.TLSFingerprint != fp {
		t.Fatalf("relay pairing: %d %s; want tls_fingerprint %s", code, b, fp)
	}

	again := hub.New(cfg, slog.New(slog.DiscardHandler))
	again.Interfaces = loopbackOnly
	h.Close() // frees the database; the test's cleanup closes it again
	if err := again.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.TLSFingerprint != fp {
		t.Errorf("after a restart the fingerprint is %s, not %s: every paired peer would refuse the hub", again.TLSFingerprint, fp)
	}
}

// TestPlainHTTPWarning: a hub serving plain HTTP on an address other than
// loopback, with no proxy and no https public_url, warns loudly at start;
// on loopback or with TLS it does not.
func TestPlainHTTPWarning(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen string
		tls    bool
		warn   bool
	}{
		{"all addresses, plain HTTP", "0.0.0.0:0", false, true},
		{"loopback, plain HTTP", "127.0.0.1:0", false, false},
		{"all addresses, TLS", "0.0.0.0:0", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := newConfig(t)
			cfg.Listen, cfg.TLS.SelfSigned = tc.listen, tc.tls
			h := startLoggedHub(t, cfg)
			warned := strings.Contains(h.log.String(), "level=WARN msg=\"INSECURE: the hub serves plain HTTP")
			if warned != tc.warn {
				t.Errorf("warned %v, want %v:\n%s", warned, tc.warn, h.log)
			}
		})
	}
}

// TestAdminTokenFile: the first admin token is written to a file in the
// data directory that only the hub's user may read, and the log says
// where; a restart leaves it alone and makes no other.
func TestAdminTokenFile(t *testing.T) {
	cfg := newConfig(t)
	h := startLoggedHub(t, cfg)
	path := filepath.Join(cfg.Data, hub.AdminTokenFile)
	if h.AdminTokenPath != path {
		t.Errorf("AdminTokenPath %q, want %q", h.AdminTokenPath, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("%s: mode %04o, want 0600", path, m)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) != h.AdminSecret || !strings.HasPrefix(h.AdminSecret, "mw_") {
		t.Fatalf("the file holds %q, the hub made %q", b, h.AdminSecret)
	}
	if l := h.log.String(); !strings.Contains(l, "file="+path) || strings.Contains(l, h.AdminSecret) {
		t.Errorf("the log must name the file and never hold the token:\n%s", l)
	}
	h.Close()

	again := hub.New(cfg, slog.New(slog.DiscardHandler))
	if err := again.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.AdminSecret != "" {
		t.Error("a restart made another admin token")
	}
	if b2, _ := os.ReadFile(path); string(b2) != string(b) {
		t.Error("a restart changed the admin token file")
	}
}
