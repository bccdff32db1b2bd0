package hubtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/moonwake/moonwake/internal/privfile"
)

// Names of the self-signed certificate and its key in the data directory.
const (
	SelfSignedCert = "tls-self-signed.crt"
	SelfSignedKey  = "tls-self-signed.key"
)

// selfSignedLife is how long a self-signed certificate is valid. Peers
// pin it by fingerprint, so a new one means pairing them again: it is made
// to outlive the hardware.
const selfSignedLife = 20 * 365 * 24 * time.Hour

// SelfSigned returns the hub's self-signed certificate from the data
// directory dir, making it the first time (ECDSA P-256, for localhost, the
// host's name and hosts, such as public_url's). It is kept, so its
// fingerprint, which agents and relays pin, stays the same across restarts.
// A key file that others may read is refused.
func SelfSigned(dir string, hosts ...string) (*tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, SelfSignedCert), filepath.Join(dir, SelfSignedKey)
	_, err := os.Stat(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		if err := makeSelfSigned(certPath, keyPath, hosts); err != nil {
			return nil, fmt.Errorf("tls: make a self-signed certificate: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if fi, err := os.Stat(keyPath); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("tls: key %s may be read by others (mode %04o): chmod 600 it", keyPath, fi.Mode().Perm())
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("tls: self-signed certificate in %s: %w", dir, err)
	}
	return &cert, nil
}

func makeSelfSigned(certPath, keyPath string, hosts []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "moonwake hub"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLife),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	names := append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// The key first: a certificate without its key would stop the next
	// start, a key without its certificate is replaced.
	if err := privfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil); err != nil {
		return err
	}
	return privfile.Write(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil)
}
