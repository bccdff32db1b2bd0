// Package sunshinetest is a fake Sunshine host for tests: the server side
// of GameStream's pairing (written from the public protocol description,
// independently of package sunshine's client), its unpaired HTTP and
// paired HTTPS /serverinfo, /applist, /launch and /cancel. It listens on
// 127.0.0.1 only.
package sunshinetest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"hash"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// App is one app the fake host offers.
type App struct {
	ID        int64
	Title     string
	Cmd       string
	ImagePath string
	PrepCmd   []string // the "do" of each prep command
}

// Server is a fake Sunshine host. Set the exported fields before Start.
type Server struct {
	// PIN is the PIN "typed into the web UI". When empty, getservercert
	// waits, as Sunshine does, until EnterPIN is called.
	PIN        string
	AppVersion string // "7.1.431.-1"; a major below 7 pairs with SHA-1
	Hostname   string
	UniqueID   string
	MAC        string // given only to paired clients over HTTPS
	Apps       []App
	// Run runs an app's prep command (argv split as Sunshine splits it)
	// when the app is launched; an error fails the launch. nil: launching
	// an app with prep commands fails.
	Run func(ctx context.Context, argv []string) error

	HTTP  *httptest.Server // plain HTTP: unpaired /serverinfo and /pair
	HTTPS *httptest.Server // HTTPS, paired clients only

	Cert    *x509.Certificate
	CertPEM []byte
	key     *rsa.PrivateKey

	pinEntered chan struct{}

	mu         sync.Mutex
	sess       map[string]*session // pairing in progress, by uniqueid
	paired     map[string]bool     // client certificates (DER), paired
	running    int64
	launches   []url.Values
	cancels    int
	unpairs    int
	appsFile   []byte // apps.json; nil until first read: as shipped
	prepErrors []string
}

type session struct {
	clientCert      *x509.Certificate
	key             []byte
	serverSecret    []byte
	serverChallenge []byte
	clientHash      []byte
}

// New makes a fake host with its own self-signed RSA-2048 certificate and
// the apps "Desktop" and "Shutdown".
func New(pin string) *Server {
	tc := selfSigned()
	cert, key, der := tc.Leaf, tc.PrivateKey.(*rsa.PrivateKey), tc.Certificate[0]
	return &Server{
		PIN:        pin,
		AppVersion: "7.1.431.-1",
		Hostname:   "GAMING-PC",
		UniqueID:   "5C0A4D9E-3B1F-4E52-9A7D-0C6B2E8F1A34",
		MAC:        "3c:7c:3f:1e:22:a0",
		Apps: []App{{ID: 881448767, Title: "Desktop", ImagePath: "desktop.png"},
			{ID: 1093255277, Title: "Shutdown", Cmd: "shutdown /s /f /t 0"}},
		Cert:       cert,
		CertPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:        key,
		sess:       map[string]*session{},
		pinEntered: make(chan struct{}),
		paired:     map[string]bool{},
	}
}

// Start starts both servers on 127.0.0.1.
func (s *Server) Start() {
	s.HTTP = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.HTTPS = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTPS))
	s.HTTPS.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{s.Cert.Raw}, PrivateKey: s.key, Leaf: s.Cert}},
		// Any client certificate is taken at the handshake; the handlers
		// answer 401 unless it is a paired one, as Sunshine does.
		ClientAuth: tls.RequireAnyClientCert,
	}
	// Refused handshakes (a client that does not trust us) are expected.
	s.HTTPS.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.HTTPS.StartTLS()
}

// Close stops both servers.
func (s *Server) Close() {
	s.HTTP.Close()
	s.HTTPS.Close()
}

// URL is the plain HTTP base URL, as given to sunshine.Pair.
func (s *Server) URL() string { return s.HTTP.URL }

// HTTPSPort is the HTTPS server's port.
func (s *Server) HTTPSPort() int { return s.HTTPS.Listener.Addr().(*net.TCPAddr).Port }

// EnterPIN gives the PIN a getservercert request waits for, as a person
// typing it into Sunshine's web UI. Call it once, and only when PIN was
// empty at Start.
func (s *Server) EnterPIN(pin string) {
	s.mu.Lock()
	s.PIN = pin
	s.mu.Unlock()
	close(s.pinEntered)
}

// PairedClients counts the client certificates paired.
func (s *Server) PairedClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.paired)
}

// Launches returns the queries of the /launch requests that started an app.
func (s *Server) Launches() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.launches...)
}

// PrepErrors returns what the launches that failed logged, as Sunshine
// logs a prep command that failed.
func (s *Server) PrepErrors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.prepErrors)
}

// Cancels counts /cancel requests.
func (s *Server) Cancels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancels
}

// Unpairs counts /unpair requests.
func (s *Server) Unpairs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unpairs
}

// Running is the id of the running app, 0 when none.
func (s *Server) Running() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// SetRunning makes the host busy with app id (0: free).
func (s *Server) SetRunning(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = id
}

func esc(v string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(v))
	return b.String()
}

func reply(w http.ResponseWriter, fields ...string) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<root status_code="200">`)
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, "<%s>%s</%s>", fields[i], esc(fields[i+1]), fields[i])
	}
	b.WriteString("</root>")
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write([]byte(b.String()))
}

func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(code)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<root status_code="%d" status_message="%s"/>`, code, esc(msg))
}

func (s *Server) hashFunc() func() hash.Hash {
	head, _, _ := strings.Cut(s.AppVersion, ".")
	if n, err := strconv.Atoi(head); err == nil && n < 7 {
		return sha1.New
	}
	return sha256.New
}

func (s *Server) serverInfo(w http.ResponseWriter, paired bool) {
	state := "SUNSHINE_SERVER_FREE"
	if s.running != 0 {
		state = "SUNSHINE_SERVER_BUSY"
	}
	mac, ps := "00:00:00:00:00:00", "0"
	if paired {
		mac, ps = s.MAC, "1"
	}
	httpPort := s.HTTP.Listener.Addr().(*net.TCPAddr).Port
	reply(w, "hostname", s.Hostname, "appversion", s.AppVersion, "GfeVersion", "3.23.0.74",
		"uniqueid", s.UniqueID, "HttpsPort", strconv.Itoa(s.HTTPSPort()), "ExternalPort", strconv.Itoa(httpPort),
		"mac", mac, "LocalIP", "127.0.0.1", "PairStatus", ps, "currentgame", strconv.FormatInt(s.running, 10), "state", state)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	switch r.URL.Path {
	case "/serverinfo":
		s.serverInfo(w, false)
	case "/unpair":
		s.unpairs++
		delete(s.sess, q.Get("uniqueid"))
		reply(w)
	case "/pair":
		if q.Get("phrase") == "getservercert" && s.PIN == "" {
			s.mu.Unlock()
			select {
			case <-s.pinEntered:
			case <-r.Context().Done():
			}
			s.mu.Lock()
			if r.Context().Err() != nil {
				return
			}
		}
		s.pair(w, q)
	default:
		// Sunshine serves the paired calls on HTTPS only.
		fail(w, http.StatusUnauthorized, "The client is not authorized. Certificate verification failed.")
	}
}

var hexRe = regexp.MustCompile(`^[0-9a-fA-F]+$`)

func unhex(v string, n int) ([]byte, bool) {
	if !hexRe.MatchString(v) {
		return nil, false
	}
	b, err := hex.DecodeString(v)
	if err != nil || (n > 0 && len(b) != n) {
		return nil, false
	}
	return b, true
}

// pair is the plain HTTP side of pairing, one phase per request.
func (s *Server) pair(w http.ResponseWriter, q url.Values) {
	uid := q.Get("uniqueid")
	if uid == "" || q.Get("uuid") == "" || q.Get("devicename") == "" || q.Get("updateState") != "1" {
		fail(w, http.StatusBadRequest, "Missing uniqueid, uuid, devicename or updateState")
		return
	}
	h := s.hashFunc()
	hlen := h().Size()
	if q.Get("phrase") == "getservercert" {
		salt, ok := unhex(q.Get("salt"), 16)
		if !ok {
			fail(w, http.StatusBadRequest, "Bad salt")
			return
		}
		certPEM, ok := unhex(q.Get("clientcert"), 0)
		blk, _ := pem.Decode(certPEM)
		if !ok || blk == nil || blk.Type != "CERTIFICATE" {
			fail(w, http.StatusBadRequest, "Bad clientcert")
			return
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			fail(w, http.StatusBadRequest, "Bad clientcert")
			return
		}
		if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
			fail(w, http.StatusBadRequest, "Client key is not RSA")
			return
		}
		d := h()
		d.Write(salt)
		d.Write([]byte(s.PIN))
		s.sess[uid] = &session{clientCert: cert, key: d.Sum(nil)[:16]}
		reply(w, "paired", "1", "plaincert", hex.EncodeToString(s.CertPEM))
		return
	}
	if q.Get("phrase") == "pairchallenge" {
		fail(w, http.StatusBadRequest, "pairchallenge is HTTPS only")
		return
	}
	ss := s.sess[uid]
	if ss == nil {
		fail(w, http.StatusBadRequest, "No pairing in progress for this uniqueid")
		return
	}
	switch {
	case q.Has("clientchallenge"):
		enc, ok := unhex(q.Get("clientchallenge"), 16)
		if !ok || ss.serverSecret != nil {
			delete(s.sess, uid)
			reply(w, "paired", "0")
			return
		}
		challenge := ecb(ss.key, enc, false)
		ss.serverSecret = random(16)
		ss.serverChallenge = random(16)
		d := h()
		d.Write(challenge)
		d.Write(s.Cert.Signature)
		d.Write(ss.serverSecret)
		plain := append(d.Sum(nil), ss.serverChallenge...)
		reply(w, "paired", "1", "challengeresponse", hex.EncodeToString(ecb(ss.key, plain, true)))
	case q.Has("serverchallengeresp"):
		enc, ok := unhex(q.Get("serverchallengeresp"), 0)
		if !ok || len(enc)%16 != 0 || len(enc) < hlen || ss.serverChallenge == nil || ss.clientHash != nil {
			delete(s.sess, uid)
			reply(w, "paired", "0")
			return
		}
		ss.clientHash = ecb(ss.key, enc, false)[:hlen]
		digest := sha256.Sum256(ss.serverSecret)
		sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, digest[:])
		if err != nil {
			panic(err)
		}
		reply(w, "paired", "1", "pairingsecret", hex.EncodeToString(append(bytes.Clone(ss.serverSecret), sig...)))
	case q.Has("clientpairingsecret"):
		delete(s.sess, uid) // one try, right or wrong
		b, ok := unhex(q.Get("clientpairingsecret"), 0)
		if !ok || len(b) <= 16 || ss.clientHash == nil {
			reply(w, "paired", "0")
			return
		}
		secret, sig := b[:16], b[16:]
		d := h()
		d.Write(ss.serverChallenge)
		d.Write(ss.clientCert.Signature)
		d.Write(secret)
		digest := sha256.Sum256(secret)
		hashOK := subtle.ConstantTimeCompare(d.Sum(nil), ss.clientHash) == 1
		sigOK := rsa.VerifyPKCS1v15(ss.clientCert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig) == nil
		if !hashOK || !sigOK {
			reply(w, "paired", "0")
			return
		}
		s.paired[string(ss.clientCert.Raw)] = true
		reply(w, "paired", "1")
	default:
		fail(w, http.StatusBadRequest, "Unknown pairing phase")
	}
}

func (s *Server) serveHTTPS(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || !s.paired[string(r.TLS.PeerCertificates[0].Raw)] {
		fail(w, http.StatusUnauthorized, "The client is not authorized. Certificate verification failed.")
		return
	}
	q := r.URL.Query()
	if q.Get("uniqueid") == "" {
		fail(w, http.StatusBadRequest, "Missing uniqueid")
		return
	}
	switch r.URL.Path {
	case "/serverinfo":
		s.serverInfo(w, true)
	case "/pair":
		if q.Get("phrase") != "pairchallenge" {
			fail(w, http.StatusBadRequest, "Unknown pairing phase")
			return
		}
		reply(w, "paired", "1")
	case "/unpair":
		s.unpairs++
		delete(s.paired, string(r.TLS.PeerCertificates[0].Raw))
		reply(w)
	case "/applist":
		var b strings.Builder
		b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<root status_code="200">`)
		for _, a := range s.Apps {
			fmt.Fprintf(&b, "<App><IsHdrSupported>0</IsHdrSupported><AppTitle>%s</AppTitle><ID>%d</ID></App>", esc(a.Title), a.ID)
		}
		b.WriteString("</root>")
		_, _ = w.Write([]byte(b.String()))
	case "/launch":
		id, err := strconv.ParseInt(q.Get("appid"), 10, 64)
		known := false
		for _, a := range s.Apps {
			known = known || (err == nil && a.ID == id)
		}
		_, keyOK := unhex(q.Get("rikey"), 16)
		_, idErr := strconv.ParseInt(q.Get("rikeyid"), 10, 32)
		switch {
		case !known:
			fail(w, http.StatusBadRequest, "Cannot find requested application")
		case !keyOK || idErr != nil || q.Get("mode") == "" || q.Get("localAudioPlayMode") == "":
			fail(w, http.StatusBadRequest, "Missing or bad launch parameters")
		case s.running != 0:
			fail(w, http.StatusBadRequest, "An app is already running on this host")
		default:
			var app App
			for _, a := range s.Apps {
				if a.ID == id {
					app = a
				}
			}
			s.mu.Unlock()
			err := s.runPrep(r.Context(), app)
			s.mu.Lock()
			if err != nil {
				// Sunshine answers 200 with the failure inside.
				w.Header().Set("Content-Type", "application/xml")
				fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<root status_code="-1" status_message="Failed to start the specified application"><gamesession>0</gamesession></root>`)
				s.prepErrors = append(s.prepErrors, err.Error())
				return
			}
			s.running = id
			s.launches = append(s.launches, q)
			reply(w, "sessionUrl0", "rtsp://127.0.0.1:48010", "gamesession", "1")
		}
	case "/cancel":
		s.cancels++
		s.running = 0
		reply(w, "cancel", "1")
	default:
		fail(w, http.StatusNotFound, "Not found")
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// ecb runs AES-128-ECB over b, zero-padded to whole blocks.
func ecb(key, b []byte, encrypt bool) []byte {
	c, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	out := make([]byte, (len(b)+15)/16*16)
	copy(out, b)
	for i := 0; i < len(out); i += 16 {
		if encrypt {
			c.Encrypt(out[i:i+16], out[i:i+16])
		} else {
			c.Decrypt(out[i:i+16], out[i:i+16])
		}
	}
	return out
}
