package sunshine

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultHTTPSPort is Sunshine's HTTPS GameStream port (base port − 5).
const DefaultHTTPSPort = 47984

var (
	// ErrWrongPIN is a pairing the host refused or whose hashes do not
	// match: the PIN typed into Sunshine is not the one given to Pair.
	ErrWrongPIN = errors.New("sunshine: pairing failed: wrong PIN")
	// ErrMITM is a server whose signature or TLS certificate does not
	// match the certificate pinned during pairing: a man in the middle, or
	// another host answering at that address.
	ErrMITM = errors.New("sunshine: the server does not hold the pinned certificate (man in the middle?)")
)

// PairOptions tunes Pair; the zero value (or nil) is Moonlight's behavior.
type PairOptions struct {
	// HTTPSPort is the host's HTTPS port for the last phase and for the
	// paired calls. 0 means the HttpsPort the host gives in /serverinfo,
	// else DefaultHTTPSPort.
	HTTPSPort int
	// DeviceName is the name Sunshine shows for this client; "" means
	// "moonwake".
	DeviceName string
	// UniqueID is sent as uniqueid; "" means "0123456789ABCDEF", as
	// Moonlight sends.
	UniqueID string
	// AppVersion, when set, is used instead of asking /serverinfo for the
	// host's version (which picks SHA-256 for ≥ 7, else SHA-1).
	AppVersion string
	// HTTP sends the plain HTTP requests. nil means a client with no proxy
	// and no overall timeout: Sunshine holds getservercert open until a
	// PIN is entered in its web UI, so bound Pair with ctx.
	HTTP *http.Client
}

var pairHTTP = &http.Client{
	Transport: &http.Transport{
		Proxy:                 nil,
		DisableKeepAlives:     true,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 0,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// pairSetup fills in opts' defaults and checks the base URL, for Pair and
// PairAuto alike.
func pairSetup(baseURL string, opts *PairOptions) (PairOptions, *http.Client, *url.URL, error) {
	var o PairOptions
	if opts != nil {
		o = *opts
	}
	if o.DeviceName == "" {
		o.DeviceName = "moonwake"
	}
	if o.UniqueID == "" {
		o.UniqueID = "0123456789ABCDEF"
	}
	hc := o.HTTP
	if hc == nil {
		hc = pairHTTP
	}
	base, err := url.Parse(baseURL)
	if err != nil || base.Scheme != "http" || base.Host == "" {
		return o, nil, nil, fmt.Errorf("sunshine pair: base URL %q: want http://host:port", baseURL)
	}
	return o, hc, base, nil
}

// Pair pairs id with the Sunshine host whose plain HTTP server is baseURL
// ("http://10.0.0.5:47989"), the way Moonlight does, while the same pin is
// typed into Sunshine (or sent to its /api/pin):
//
//  1. getservercert: a random 16-byte salt and our certificate; the host
//     answers with its certificate, which is pinned. The AES-128 key is
//     SHA-256(salt ‖ PIN)[:16] for hosts of appversion ≥ 7, else
//     SHA-1(salt ‖ PIN)[:16].
//  2. clientchallenge: a random 16-byte challenge, AES-ECB encrypted.
//  3. serverchallengeresp: the decrypted answer holds the server's hash
//     and its challenge; we send hash(server challenge ‖ our certificate's
//     signature ‖ a random 16-byte client secret), encrypted.
//  4. The server's pairing secret is its secret ‖ an RSA-SHA256 signature
//     of it, checked against the pinned certificate (ErrMITM), and the
//     server's hash against hash(our challenge ‖ its certificate's
//     signature ‖ its secret) (ErrWrongPIN). Then clientpairingsecret: our
//     secret ‖ our RSA-SHA256 signature of it.
//  5. pairchallenge over HTTPS with our certificate, the server having to
//     present exactly the pinned certificate.
//
// Any failure once phase 1 is sent (ctx ending too) calls /unpair so that
// nothing stays half paired. A <paired>0</paired> answer is ErrWrongPIN.
func Pair(ctx context.Context, baseURL, pin string, id *Identity, opts *PairOptions) (*Paired, error) {
	o, hc, base, err := pairSetup(baseURL, opts)
	if err != nil {
		return nil, err
	}
	host := base.Host
	if len(pin) != 4 || strings.Trim(pin, "0123456789") != "" {
		return nil, fmt.Errorf("sunshine pair %s: the PIN must be 4 digits", host)
	}
	if id == nil || id.Cert == nil || id.Key == nil {
		return nil, fmt.Errorf("sunshine pair %s: no client identity", host)
	}
	httpsPort := o.HTTPSPort
	if o.AppVersion == "" || httpsPort == 0 {
		info, err := (&Client{HTTP: hc, BaseURL: baseURL, UniqueID: o.UniqueID}).ServerInfo(ctx)
		if err != nil {
			return nil, fmt.Errorf("sunshine pair: %w", err)
		}
		if o.AppVersion == "" {
			o.AppVersion = info.AppVersion
		}
		if httpsPort == 0 {
			httpsPort = info.HTTPSPort
		}
	}
	if httpsPort == 0 {
		httpsPort = DefaultHTTPSPort
	}
	if httpsPort < 0 || httpsPort > 65535 {
		return nil, fmt.Errorf("sunshine pair %s: HTTPS port %d out of range", host, httpsPort)
	}
	major, err := appVersionMajor(o.AppVersion)
	if err != nil {
		return nil, fmt.Errorf("sunshine pair %s: %w", host, err)
	}
	newHash := sha256.New
	if major < 7 {
		newHash = sha1.New
	}

	p := &pairing{ctx: ctx, hc: hc, base: base, opts: o}
	salt := randBytes(16)
	key := sum(newHash, salt, []byte(pin))[:16]

	// Phase 1: getservercert.
	r, err := p.get("getservercert", url.Values{
		"phrase": {"getservercert"}, "salt": {hex.EncodeToString(salt)},
		"clientcert": {hex.EncodeToString(id.CertPEM)},
	})
	if err != nil {
		p.unpair() // the host may hold a half-open pairing (or still wait for the PIN)
		return nil, err
	}
	if len(r.PlainCert) == 0 {
		p.unpair()
		return nil, fmt.Errorf("sunshine pair %s: getservercert: no certificate (is another pairing in progress?)", host)
	}
	serverCert, err := parseCertPEM(r.PlainCert)
	if err != nil {
		p.unpair()
		return nil, fmt.Errorf("sunshine pair %s: getservercert: %w", host, err)
	}
	serverPEM := r.PlainCert

	// Phase 2: clientchallenge.
	challenge := randBytes(16)
	if r, err = p.get("clientchallenge", url.Values{"clientchallenge": {hex.EncodeToString(ecbEncrypt(key, challenge))}}); err != nil {
		p.unpair()
		return nil, err
	}
	plain, err := ecbDecrypt(key, r.ChallengeResponse)
	hlen := newHash().Size()
	if err != nil || len(plain) < hlen+16 {
		p.unpair()
		return nil, fmt.Errorf("sunshine pair %s: clientchallenge: a challenge response of %d bytes", host, len(r.ChallengeResponse))
	}
	serverHash, serverChallenge := plain[:hlen], plain[hlen:hlen+16]

	// Phase 3: serverchallengeresp.
	clientSecret := randBytes(16)
	clientHash := sum(newHash, serverChallenge, id.Cert.Signature, clientSecret)
	if r, err = p.get("serverchallengeresp", url.Values{"serverchallengeresp": {hex.EncodeToString(ecbEncrypt(key, clientHash))}}); err != nil {
		p.unpair()
		return nil, err
	}

	// Phase 4: check the server, then clientpairingsecret.
	if len(r.PairingSecret) <= 16 {
		p.unpair()
		return nil, fmt.Errorf("sunshine pair %s: serverchallengeresp: a pairing secret of %d bytes", host, len(r.PairingSecret))
	}
	serverSecret, serverSig := r.PairingSecret[:16], r.PairingSecret[16:]
	digest := sha256.Sum256(serverSecret)
	if err := rsa.VerifyPKCS1v15(serverCert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], serverSig); err != nil {
		p.unpair()
		return nil, fmt.Errorf("sunshine pair %s: the pairing secret is not signed by the certificate the host sent: %w", host, ErrMITM)
	}
	if !hmac.Equal(serverHash, sum(newHash, challenge, serverCert.Signature, serverSecret)) {
		p.unpair()
		return nil, fmt.Errorf("sunshine pair %s: the host's challenge hash does not match: %w", host, ErrWrongPIN)
	}
	clientDigest := sha256.Sum256(clientSecret)
	clientSig, err := rsa.SignPKCS1v15(rand.Reader, id.Key, crypto.SHA256, clientDigest[:])
	if err != nil {
		p.unpair()
		return nil, fmt.Errorf("sunshine pair %s: sign: %w", host, err)
	}
	if _, err = p.get("clientpairingsecret", url.Values{"clientpairingsecret": {hex.EncodeToString(append(clientSecret, clientSig...))}}); err != nil {
		p.unpair()
		return nil, err
	}

	// Phase 5: pairchallenge over HTTPS, pinned.
	httpsURL := "https://" + net.JoinHostPort(base.Hostname(), strconv.Itoa(httpsPort))
	paired, err := NewPaired(httpsURL, serverPEM, id)
	if err != nil {
		p.unpair()
		return nil, fmt.Errorf("sunshine pair %s: %w", host, err)
	}
	paired.UniqueID = o.UniqueID
	paired.BaseURL = baseURL
	ps := &pairing{ctx: ctx, hc: paired.httpClient(), base: paired.base, opts: o}
	if _, err := ps.get("pairchallenge", url.Values{"phrase": {"pairchallenge"}}); err != nil {
		p.unpair()
		return nil, err
	}
	return paired, nil
}

// pairing sends the /pair requests of one pairing.
type pairing struct {
	ctx  context.Context
	hc   *http.Client
	base *url.URL
	opts PairOptions
}

func (p *pairing) query(extra url.Values) string {
	q := url.Values{
		"uniqueid": {p.opts.UniqueID}, "uuid": {newUUID()},
		"devicename": {p.opts.DeviceName}, "updateState": {"1"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return q.Encode()
}

// get sends one /pair request; an answer with <paired>0</paired> is
// ErrWrongPIN.
func (p *pairing) get(phase string, q url.Values) (*PairResponse, error) {
	body, err := fetch(p.ctx, p.hc, p.base, "/pair", p.query(q))
	if err != nil {
		return nil, fmt.Errorf("sunshine pair %s: %s: %w", p.base.Host, phase, err)
	}
	r, err := ParsePairResponse(body)
	if err != nil {
		return nil, fmt.Errorf("sunshine pair %s: %s: %w", p.base.Host, phase, err)
	}
	if !r.Paired {
		return nil, fmt.Errorf("sunshine pair %s: %s: the host answered paired=0: %w", p.base.Host, phase, ErrWrongPIN)
	}
	return r, nil
}

// unpair tells the host to forget this client, best effort, even when ctx
// is done.
func (p *pairing) unpair() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), 5*time.Second)
	defer cancel()
	q := url.Values{"uniqueid": {p.opts.UniqueID}, "uuid": {newUUID()}}
	_, _ = fetch(ctx, p.hc, p.base, "/unpair", q.Encode())
}

// fetch GETs base+path?query and returns the body of an HTTP 200 answer,
// or the status error the body holds. Errors name the host, never the
// query (it holds certificates and challenges).
func fetch(ctx context.Context, hc *http.Client, base *url.URL, path, query string) ([]byte, error) {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, errors.New("bad request URL")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(body) > MaxBodySize {
		return nil, fmt.Errorf("answer larger than %d bytes", MaxBodySize)
	}
	if resp.StatusCode != http.StatusOK {
		var se *StatusError
		if perr := parseRoot("answer", body, func(d *xml.Decoder, _ xml.StartElement) error { return d.Skip() }); errors.As(perr, &se) {
			return nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, se)
		}
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return body, nil
}

// appVersionMajor reads the major number of an appversion ("7.1.431.-1").
func appVersionMajor(v string) (int, error) {
	head, _, _ := strings.Cut(strings.TrimSpace(v), ".")
	n, err := strconv.Atoi(head)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("appversion %q has no major version", v)
	}
	return n, nil
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return b
}

func sum(h func() hash.Hash, parts ...[]byte) []byte {
	d := h()
	for _, p := range parts {
		d.Write(p)
	}
	return d.Sum(nil)
}

// ecbEncrypt encrypts b with AES-128 in ECB mode, zero-padding it to a
// whole number of blocks, as Moonlight does.
func ecbEncrypt(key, b []byte) []byte {
	c, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // key is always 16 bytes
	}
	out := make([]byte, (len(b)+15)/16*16)
	copy(out, b)
	for i := 0; i < len(out); i += 16 {
		c.Encrypt(out[i:i+16], out[i:i+16])
	}
	return out
}

func ecbDecrypt(key, b []byte) ([]byte, error) {
	if len(b) == 0 || len(b)%16 != 0 {
		return nil, errors.New("not a whole number of AES blocks")
	}
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(b)
	for i := 0; i < len(out); i += 16 {
		c.Decrypt(out[i:i+16], out[i:i+16])
	}
	return out, nil
}

// pinnedTLS is a TLS configuration that presents id's certificate and
// accepts exactly the server certificate pinned, whatever its name or
// issuer (Sunshine's certificate is self-signed).
func pinnedTLS(id *Identity, pinned *x509.Certificate) *tls.Config {
	clientCert := &tls.Certificate{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key, Leaf: id.Cert}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// No CA and no name: the pin below is the whole verification.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], pinned.Raw) {
				return ErrMITM
			}
			return nil
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return clientCert, nil
		},
	}
}
