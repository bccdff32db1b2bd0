package sunshine

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DefaultWebPort is Sunshine's web UI (HTTPS) port (base port + 1).
const DefaultWebPort = 47990

// ErrWebCredentials is a web UI that refused the username and password
// given to PairAuto.
var ErrWebCredentials = errors.New("sunshine: Sunshine refused the web credentials")

// ErrWebCert is a web UI presenting another certificate than the
// GameStream HTTPS port; errors wrapping it wrap ErrMITM too.
var ErrWebCert = errors.New("sunshine: the web UI presents another certificate than the GameStream HTTPS port (Sunshine uses one for both: a man in the middle?)")

// PairAuto pairs id with the Sunshine host whose plain HTTP server is
// baseURL, entering the PIN itself: it picks a random 4-digit PIN, starts
// Pair, and POSTs the PIN to the web UI's /api/pin on webPort (0 means
// DefaultWebPort) with HTTP basic auth user and password.
//
// The web UI's certificate cannot be checked against a CA, so it is
// trusted on first use against the GameStream HTTPS port: before any
// credentials are sent, the certificate that port presents (no request is
// sent) must be exactly the one the web UI presents, since Sunshine uses
// one certificate for both; the PIN is sent over a connection pinned to
// it; and the certificate pinned by the pairing must be that one too.
// Otherwise PairAuto fails with ErrMITM and, for a differing web UI
// certificate, sends nothing. A 401 from the web UI is ErrWebCredentials.
// Errors never hold the password.
func PairAuto(ctx context.Context, baseURL string, webPort int, user, password string, id *Identity, opts *PairOptions) (*Paired, error) {
	o, hc, base, err := pairSetup(baseURL, opts)
	if err != nil {
		return nil, err
	}
	host := base.Host
	if id == nil || id.Cert == nil || id.Key == nil {
		return nil, fmt.Errorf("sunshine pair %s: no client identity", host)
	}
	if user == "" || password == "" {
		return nil, fmt.Errorf("sunshine pair %s: automatic pairing needs Sunshine's web username and password", host)
	}
	if webPort == 0 {
		webPort = DefaultWebPort
	}
	if webPort < 1 || webPort > 65535 {
		return nil, fmt.Errorf("sunshine pair %s: web UI port %d out of range", host, webPort)
	}
	if o.AppVersion == "" || o.HTTPSPort == 0 {
		info, err := (&Client{HTTP: hc, BaseURL: baseURL, UniqueID: o.UniqueID}).ServerInfo(ctx)
		if err != nil {
			return nil, fmt.Errorf("sunshine pair: %w", err)
		}
		if o.AppVersion == "" {
			o.AppVersion = info.AppVersion
		}
		if o.HTTPSPort == 0 {
			o.HTTPSPort = info.HTTPSPort
		}
	}
	if o.HTTPSPort == 0 {
		o.HTTPSPort = DefaultHTTPSPort
	}
	if o.HTTPSPort < 0 || o.HTTPSPort > 65535 {
		return nil, fmt.Errorf("sunshine pair %s: HTTPS port %d out of range", host, o.HTTPSPort)
	}

	// Trust on first use: the GameStream HTTPS port's certificate, then
	// the web UI's, which must be the same.
	hostname := base.Hostname()
	gsAddr := net.JoinHostPort(hostname, strconv.Itoa(o.HTTPSPort))
	webAddr := net.JoinHostPort(hostname, strconv.Itoa(webPort))
	gsCert, err := peerCert(ctx, gsAddr, id)
	if err != nil {
		return nil, fmt.Errorf("sunshine pair %s: GameStream HTTPS port %s: %w", host, gsAddr, err)
	}
	webCert, err := peerCert(ctx, webAddr, nil)
	if err != nil {
		return nil, fmt.Errorf("sunshine pair %s: web UI %s: %w", host, webAddr, err)
	}
	if !bytes.Equal(gsCert.Raw, webCert.Raw) {
		return nil, fmt.Errorf("sunshine pair %s: web UI %s, GameStream HTTPS %s: %w; credentials not sent (%w)", host, webAddr, gsAddr, ErrWebCert, ErrMITM)
	}

	pin, err := randomPIN()
	if err != nil {
		return nil, fmt.Errorf("sunshine pair %s: %w", host, err)
	}
	pairCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		p   *Paired
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := Pair(pairCtx, baseURL, pin, id, &o)
		done <- result{p, err}
	}()

	web := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DisableKeepAlives:   true,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			TLSClientConfig:     pinnedServerTLS(gsCert),
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	name := o.DeviceName
	if name == "" {
		name = "moonwake"
	}
	// Sunshine takes a PIN only while a getservercert waits for one: send
	// it again, a little later, while the host says it took none.
	for {
		ok, err := sendPIN(pairCtx, web, webAddr, pin, name, user, password)
		if err != nil {
			cancel()
			<-done // Pair unpairs on cancel
			return nil, fmt.Errorf("sunshine pair %s: web UI %s: %w", host, webAddr, err)
		}
		if ok {
			break
		}
		select {
		case r := <-done:
			if r.err != nil {
				return nil, r.err
			}
			return nil, fmt.Errorf("sunshine pair %s: paired without the PIN being taken", host)
		case <-pairCtx.Done():
			r := <-done
			return nil, r.err
		case <-time.After(500 * time.Millisecond):
		}
	}
	r := <-done
	if r.err != nil {
		return nil, r.err
	}
	pinned, err := parseCertPEM(r.p.ServerCertPEM)
	if err != nil || !bytes.Equal(pinned.Raw, gsCert.Raw) {
		_ = r.p.Unpair(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("sunshine pair %s: the certificate pinned by pairing is not the one its HTTPS ports present: %w", host, ErrMITM)
	}
	return r.p, nil
}

// peerCert opens a TLS connection to addr, sends nothing over it, and
// returns the certificate the server presented. id, when not nil, is
// offered as the client certificate (GameStream's HTTPS port asks for one).
func peerCert(ctx context.Context, addr string, id *Identity) (*x509.Certificate, error) {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Not verified: the certificate is recorded, then compared.
		InsecureSkipVerify: true,
	}
	if id != nil {
		cc := &tls.Certificate{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key, Leaf: id.Cert}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cc, nil }
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	certs := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("no certificate presented")
	}
	return certs[0], nil
}

// pinnedServerTLS accepts exactly the certificate pinned, presenting none.
func pinnedServerTLS(pinned *x509.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // the pin below is the whole verification
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], pinned.Raw) {
				return ErrMITM
			}
			return nil
		},
	}
}

// sendPIN POSTs the PIN to the web UI; false when the host took none (no
// pairing waiting for it yet).
func sendPIN(ctx context.Context, hc *http.Client, addr, pin, name, user, password string) (bool, error) {
	body, _ := json.Marshal(map[string]string{"pin": pin, "name": name})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+"/api/pin", bytes.NewReader(body))
	if err != nil {
		return false, errors.New("bad request URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(user, password)
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return false, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return false, ErrWebCredentials
	default:
		return false, fmt.Errorf("/api/pin: HTTP %s", resp.Status)
	}
	var out struct {
		Status any `json:"status"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return false, fmt.Errorf("/api/pin: an answer that is not JSON")
	}
	switch v := out.Status.(type) {
	case bool:
		return v, nil
	case string:
		return v == "true", nil
	}
	return false, fmt.Errorf("/api/pin: an answer without a status")
}

func randomPIN() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(10000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%04d", n.Int64()), nil
}
