package sunshinetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// WebUI is a fake of Sunshine's web UI, over TLS on its own 127.0.0.1
// listener, with HTTP basic auth: its POST /api/pin, and the app list of
// its config API (apps.go).
type WebUI struct {
	Server *httptest.Server

	s        *Server
	user     string
	password string

	mu      sync.Mutex
	sawAuth bool
	pins    int
	entered bool
}

// StartWebUI starts the web UI of s (started) taking the credentials user
// and password. It presents the certificate of s's HTTPS port, as Sunshine
// does, or, when otherCert is true, a certificate of its own (a man in the
// middle). A right PIN request calls EnterPIN.
func (s *Server) StartWebUI(user, password string, otherCert bool) *WebUI {
	w := &WebUI{s: s, user: user, password: password}
	cert := tls.Certificate{Certificate: [][]byte{s.Cert.Raw}, PrivateKey: s.key, Leaf: s.Cert}
	if otherCert {
		cert = selfSigned()
	}
	w.Server = httptest.NewUnstartedServer(http.HandlerFunc(w.serve))
	w.Server.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	w.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
	w.Server.StartTLS()
	return w
}

// Port is the web UI's port.
func (w *WebUI) Port() int { return w.Server.Listener.Addr().(*net.TCPAddr).Port }

// Close stops the web UI.
func (w *WebUI) Close() { w.Server.Close() }

// SawAuthorization reports whether any request came with an
// Authorization header.
func (w *WebUI) SawAuthorization() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sawAuth
}

// PINs counts the PINs taken.
func (w *WebUI) PINs() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pins
}

func (w *WebUI) serve(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	if r.Header.Get("Authorization") != "" {
		w.sawAuth = true
	}
	w.mu.Unlock()
	u, p, ok := r.BasicAuth()
	if !ok || !strings.EqualFold(u, w.user) || subtle.ConstantTimeCompare([]byte(p), []byte(w.password)) != 1 {
		// As Sunshine: every route but a few pages asks for credentials
		// first, with an empty 401.
		rw.Header().Set("WWW-Authenticate", `Basic realm="Sunshine Gamestream Host", charset="UTF-8"`)
		rw.WriteHeader(http.StatusUnauthorized)
		return
	}
	if w.serveApps(rw, r) {
		return
	}
	if r.URL.Path != "/api/pin" || r.Method != http.MethodPost {
		boostJSON(rw, http.StatusNotFound, "status_code", "404", "error", "Not Found")
		return
	}
	var in struct {
		PIN  string `json:"pin"`
		Name string `json:"name"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil || len(in.PIN) != 4 {
		http.Error(rw, `{"status":false}`, http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	first := !w.entered
	w.entered = true
	if first {
		w.pins++
	}
	w.mu.Unlock()
	rw.Header().Set("Content-Type", "application/json")
	if !first {
		_, _ = io.WriteString(rw, `{"status":false}`)
		return
	}
	w.s.EnterPIN(in.PIN)
	_, _ = io.WriteString(rw, `{"status":true}`)
}

// selfSigned makes a certificate like Sunshine's own: self-signed RSA-2048.
func selfSigned() tls.Certificate {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "Sunshine Gamestream Host"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
