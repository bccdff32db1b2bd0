// Package hubtls is the hub's TLS: the certificate it serves, either a pair
// of PEM files that certbot or cert-manager renew (reloaded on the next
// handshake after they change, with no restart) or a self-signed
// certificate the hub makes once and keeps; and, for agents, relays and
// the CLI, a client that trusts a self-signed hub by the SHA-256
// fingerprint of its certificate alone.
package hubtls

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// ServerConfig returns the TLS configuration the hub serves with: Go's
// defaults (its cipher suites, TLS 1.3 preferred) from TLS 1.2 up, HTTP/2
// and HTTP/1.1 offered, the certificate from getCert at each handshake.
func ServerConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: getCert,
	}
}

// Files serves the certificate and key in two PEM files. Every handshake
// looks at the files' metadata (two stat calls, far cheaper than the
// handshake) and loads them again when either was changed or replaced:
// certbot's renewals and cert-manager's Secret updates take effect on the
// next connection. While a new pair does not load (a key written after its
// certificate, a mismatch), the last good pair is served and the problem is
// logged once.
type Files struct {
	certFile, keyFile string
	log               *slog.Logger

	mu       sync.Mutex
	cur      *tls.Certificate
	stamp    [2]stamp // of the pair cur was loaded from
	badStamp [2]stamp // of the last pair that failed to load, logged once
}

// stamp tells whether a file changed: a rename over it (the way both
// certbot's symlinks and Kubernetes' Secret volumes swap files) makes
// another file, an edit in place a new time or size.
type stamp struct {
	fi os.FileInfo
}

func (s stamp) same(o stamp) bool {
	if s.fi == nil || o.fi == nil {
		return s.fi == o.fi
	}
	return os.SameFile(s.fi, o.fi) && s.fi.ModTime().Equal(o.fi.ModTime()) && s.fi.Size() == o.fi.Size()
}

// LoadFiles loads the pair once, so that a wrong path or key fails the
// start rather than the first handshake. log hears of reloads; nil
// discards.
func LoadFiles(certFile, keyFile string, log *slog.Logger) (*Files, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Files{certFile: certFile, keyFile: keyFile, log: log}
	st, err := f.stat()
	if err != nil {
		return nil, err
	}
	cert, err := f.load()
	if err != nil {
		return nil, err
	}
	f.cur, f.stamp = cert, st
	return f, nil
}

func (f *Files) stat() ([2]stamp, error) {
	var st [2]stamp
	for i, p := range []string{f.certFile, f.keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return st, fmt.Errorf("tls: %w", err)
		}
		st[i] = stamp{fi}
	}
	return st, nil
}

func (f *Files) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %s with key %s: %w", f.certFile, f.keyFile, err)
	}
	return &cert, nil
}

// GetCertificate is a tls.Config.GetCertificate: the current pair,
// reloaded first if the files changed.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.stat()
	if err != nil {
		// A file briefly gone while it is replaced: serve the last pair.
		return f.cur, nil
	}
	if st[0].same(f.stamp[0]) && st[1].same(f.stamp[1]) {
		return f.cur, nil
	}
	cert, err := f.load()
	if err != nil {
		if !st[0].same(f.badStamp[0]) || !st[1].same(f.badStamp[1]) {
			f.badStamp = st
			f.log.Warn("tls: the certificate files changed but do not load; serving the previous certificate", "error", err)
		}
		return f.cur, nil
	}
	f.cur, f.stamp = cert, st
	f.log.Info("tls: certificate reloaded", "file", f.certFile, "not_after", leafNotAfter(cert))
	return cert, nil
}

func leafNotAfter(c *tls.Certificate) time.Time {
	if c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	if len(c.Certificate) > 0 {
		if l, err := x509.ParseCertificate(c.Certificate[0]); err == nil {
			return l.NotAfter
		}
	}
	return time.Time{}
}

// Fingerprint is the SHA-256 of a certificate (its DER bytes), written
// as OpenSSH writes key fingerprints: "SHA256:" and unpadded base64.
func Fingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(h[:])
}

// ParseFingerprint reads a certificate fingerprint as Fingerprint writes
// it, or as openssl x509 -fingerprint -sha256 does (hex, colons optional,
// after an optional "sha256 Fingerprint=").
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '='); i >= 0 && strings.HasPrefix(strings.ToLower(s), "sha256 fingerprint") {
		s = s[i+1:]
	}
	if b64, ok := strings.CutPrefix(s, "SHA256:"); ok {
		b, err := base64.RawStdEncoding.DecodeString(b64)
		if err == nil && len(b) == sha256.Size {
			copy(sum[:], b)
			return sum, nil
		}
	} else if b, err := hex.DecodeString(strings.ReplaceAll(s, ":", "")); err == nil && len(b) == sha256.Size {
		copy(sum[:], b)
		return sum, nil
	}
	return sum, fmt.Errorf("TLS fingerprint %q: want SHA256: and 43 base64 characters, or 64 hex digits", s)
}

// ErrPin is the handshake error when the server's certificate is not the
// pinned one.
var ErrPin = errors.New("the hub's TLS certificate does not have the pinned fingerprint")

// PinnedConfig returns a client TLS configuration that trusts exactly the
// certificate with the fingerprint fp, whatever its names and issuer: the
// way to reach a hub with a self-signed certificate. The empty fp is an
// error, never "trust anything".
func PinnedConfig(fp string) (*tls.Config, error) {
	want, err := ParseFingerprint(fp)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain and names are not checked: the pin is the whole of the
		// trust, checked below on every connection, resumed ones too.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrPin
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				return fmt.Errorf("%w: it is %s, not %s", ErrPin, Fingerprint(cs.PeerCertificates[0].Raw), fp)
			}
			return nil
		},
	}, nil
}

// PinnedClient returns an HTTP client (HTTP/2 where the server offers it,
// HTTP/1.1 for WebSocket upgrades) that trusts only the hub certificate
// with fingerprint fp.
func PinnedClient(fp string) (*http.Client, error) {
	cfg, err := PinnedConfig(fp)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	t.ForceAttemptHTTP2 = true
	return &http.Client{Transport: t}, nil
}
