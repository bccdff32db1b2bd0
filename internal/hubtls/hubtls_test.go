package hubtls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pair makes a certificate and key for name, returning the PEM files'
// contents and the certificate's DER.
func pair(t testing.TB, name string) (certPEM, keyPEM, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), der
}

// replace writes b to path as certbot and Kubernetes do: a new file
// renamed over the old one.
func replace(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log destination the server's goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve runs an HTTPS server on loopback with cfg, answering with the
// protocol the request came over.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }),
		TLSConfig: cfg,
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// served returns the DER of the certificate a new connection to addr gets.
func served(t *testing.T, addr string) []byte {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Raw
}

// TestFilesReload: the hub serves the certificate in the files, and a
// renewal (new files renamed over the old) is served on the next
// connection, with no restart; a pair that does not load leaves the last
// good one served.
func TestFilesReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, k1, der1 := pair(t, "one.example")
	replace(t, certFile, c1)
	replace(t, keyFile, k1)
	var log syncBuffer
	f, err := LoadFiles(certFile, keyFile, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, ServerConfig(f.GetCertificate))
	if got := served(t, addr); !bytes.Equal(got, der1) {
		t.Fatal("the server does not serve the certificate in the files")
	}

	c2, k2, der2 := pair(t, "two.example")
	replace(t, certFile, c2)
	replace(t, keyFile, k2)
	if got := served(t, addr); !bytes.Equal(got, der2) {
		t.Fatal("after the files were replaced, a new connection still gets the old certificate")
	}
	if !strings.Contains(log.String(), "certificate reloaded") {
		t.Errorf("the reload is not logged:\n%s", log.String())
	}

	// A renewal half done: the new certificate, the old key.
	c3, _, _ := pair(t, "three.example")
	replace(t, certFile, c3)
	for range 2 {
		if got := served(t, addr); !bytes.Equal(got, der2) {
			t.Fatal("a certificate that does not match its key replaced the good one")
		}
	}
	if n := strings.Count(log.String(), "do not load"); n != 1 {
		t.Errorf("the bad pair is logged %d times, want once:\n%s", n, log.String())
	}
}

// TestLoadFilesFails: a missing file or a key of another certificate fails
// at start, not at the first handshake.
func TestLoadFilesFails(t *testing.T) {
	dir := t.TempDir()
	c1, _, _ := pair(t, "one.example")
	_, k2, _ := pair(t, "two.example")
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, err := LoadFiles(certFile, keyFile, nil); err == nil {
		t.Error("missing files loaded")
	}
	replace(t, certFile, c1)
	replace(t, keyFile, k2)
	if _, err := LoadFiles(certFile, keyFile, nil); err == nil || !strings.Contains(err.Error(), certFile) {
		t.Errorf("a key of another certificate: %v", err)
	}
}

// TestServerConfig: HTTP/2 is offered, TLS 1.1 is refused.
func TestServerConfig(t *testing.T) {
	c, k, der := pair(t, "hub.example")
	cert, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }))
	hc, err := PinnedClient(Fingerprint(der))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "HTTP/2.0" {
		t.Errorf("served over %s, want HTTP/2.0", body)
	}
	old, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
		t.Error("a TLS 1.1 client was served")
	}
}

// TestPinned: a pinned client reaches the server whose certificate has the
// pin, whatever its name, and no other.
func TestPinned(t *testing.T) {
	c, k, der := pair(t, "not-the-address.example")
	cert, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }))
	_, _, other := pair(t, "other.example")
	sum := Fingerprint(der)
	raw := mustParse(t, sum)
	openssl := strings.ToUpper(hex.EncodeToString(raw[:]))
	for _, tc := range []struct {
		name, fp string
		ok       bool
	}{
		{"pin", sum, true},
		{"openssl hex", openssl, true},
		{"another certificate's pin", Fingerprint(other), false},
	} {
		hc, err := PinnedClient(tc.fp)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp, err := hc.Get("https://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		if tc.ok != (err == nil) {
			t.Errorf("%s: error %v, want ok %v", tc.name, err, tc.ok)
		}
		if !tc.ok && !errors.Is(err, ErrPin) {
			t.Errorf("%s: error %v is not ErrPin", tc.name, err)
		}
	}
	if _, err := PinnedClient(""); err == nil {
		t.Error("an empty pin makes a client")
	}
}

func mustParse(t *testing.T, fp string) [32]byte {
	t.Helper()
	b, err := ParseFingerprint(fp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFingerprint(t *testing.T) {
	_, _, der := pair(t, "x")
	fp := Fingerprint(der)
	want := mustParse(t, fp)
	hexed := hex.EncodeToString(want[:])
	var colons []string
	for i := 0; i < len(hexed); i += 2 {
		colons = append(colons, strings.ToUpper(hexed[i:i+2]))
	}
	for _, ok := range []string{fp, " " + fp + "\n", hexed, strings.Join(colons, ":"), "sha256 Fingerprint=" + strings.Join(colons, ":")} {
		if got, err := ParseFingerprint(ok); err != nil || got != want {
			t.Errorf("ParseFingerprint(%q) = %x, %v", ok, got, err)
		}
	}
	for _, bad := range []string{"", "SHA256:", "SHA256:abc", hexed[2:], "sha1:" + hexed, fp + "AA"} {
		if _, err := ParseFingerprint(bad); err == nil {
			t.Errorf("ParseFingerprint(%q) took it", bad)
		}
	}
}

func FuzzParseFingerprint(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		sum, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		// Whatever was taken names one hash, which reads back the same.
		again, err := ParseFingerprint("SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]))
		if err != nil || again != sum {
			t.Fatalf("%q: %x does not round-trip: %x, %v", s, sum, again, err)
		}
	})
}

// TestSelfSigned: the certificate is made once and kept, its key readable
// by the hub's user only; a key others may read is refused.
func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	a, err := SelfSigned(dir, "wake.example.net")
	if err != nil {
		t.Fatal(err)
	}
	b, err := SelfSigned(dir)
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(a.Certificate[0]) != Fingerprint(b.Certificate[0]) {
		t.Fatal("a second start made another certificate: paired agents would refuse it")
	}
	leaf, err := x509.ParseCertificate(a.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("wake.example.net"); err != nil {
		t.Error(err)
	}
	keyPath := filepath.Join(dir, SelfSignedKey)
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("key mode %04o, want 0600", m)
	}
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := SelfSigned(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key others may read: %v", err)
	}
}

// BenchmarkGetCertificate is the cost the reload check adds to each
// handshake: two stat calls and a comparison.
func BenchmarkGetCertificate(b *testing.B) {
	dir := b.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c, k, _ := pair(b, "bench.example")
	replace(b, certFile, c)
	replace(b, keyFile, k)
	f, err := LoadFiles(certFile, keyFile, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.GetCertificate(nil); err != nil {
			b.Fatal(err)
		}
	}
}
