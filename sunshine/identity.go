package sunshine

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Identity files, kept in the directory given to LoadOrCreateIdentity.
const (
	IdentityCertFile = "sunshine-client.crt"
	IdentityKeyFile  = "sunshine-client.key"
)

// Identity is this client's self-signed certificate and key, what Sunshine
// remembers a paired client by.
type Identity struct {
	Cert    *x509.Certificate
	CertPEM []byte // the certificate as sent to the host during pairing
	Key     *rsa.PrivateKey
}

// NewIdentity makes a fresh identity: a self-signed RSA-2048 certificate
// valid for 20 years, as Moonlight's own.
func NewIdentity() (*Identity, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("sunshine identity: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, fmt.Errorf("sunshine identity: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "NVIDIA GameStream Client"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sunshine identity: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("sunshine identity: %w", err)
	}
	return &Identity{
		Cert:    cert,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:     key,
	}, nil
}

// LoadOrCreateIdentity loads the identity kept in dir, or creates one and
// writes it there (the directory 0700, both PEM files 0600) when neither
// file exists. One file without the other, a key readable by others, or a
// key that does not match the certificate are errors: pairings are bound
// to the identity, so it is never silently replaced.
func LoadOrCreateIdentity(dir string) (*Identity, error) {
	certPath := filepath.Join(dir, IdentityCertFile)
	keyPath := filepath.Join(dir, IdentityKeyFile)
	_, cerr := os.Stat(certPath)
	_, kerr := os.Stat(keyPath)
	switch {
	case errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist):
		id, err := NewIdentity()
		if err != nil {
			return nil, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(id.Key)
		if err != nil {
			return nil, fmt.Errorf("sunshine identity: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sunshine identity: %w", err)
		}
		if err := writeFile0600(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
			return nil, err
		}
		if err := writeFile0600(certPath, id.CertPEM); err != nil {
			return nil, err
		}
		return id, nil
	case cerr != nil && !errors.Is(cerr, fs.ErrNotExist):
		return nil, fmt.Errorf("sunshine identity: %w", cerr)
	case kerr != nil && !errors.Is(kerr, fs.ErrNotExist):
		return nil, fmt.Errorf("sunshine identity: %w", kerr)
	case cerr != nil || kerr != nil:
		return nil, fmt.Errorf("sunshine identity: %s holds only one of %s and %s", dir, IdentityCertFile, IdentityKeyFile)
	}
	return loadIdentity(certPath, keyPath)
}

func loadIdentity(certPath, keyPath string) (*Identity, error) {
	st, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("sunshine identity: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("sunshine identity: %s is readable by others (mode %v); want 0600", keyPath, st.Mode().Perm())
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("sunshine identity: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("sunshine identity: %w", err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("sunshine identity: %s: %w", certPath, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("sunshine identity: %s: no PEM block", keyPath)
	}
	var key *rsa.PrivateKey
	switch kb.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err != nil {
			return nil, fmt.Errorf("sunshine identity: %s: %w", keyPath, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("sunshine identity: %s: not an RSA key", keyPath)
		}
		key = rk
	case "RSA PRIVATE KEY":
		if key, err = x509.ParsePKCS1PrivateKey(kb.Bytes); err != nil {
			return nil, fmt.Errorf("sunshine identity: %s: %w", keyPath, err)
		}
	default:
		return nil, fmt.Errorf("sunshine identity: %s: PEM block %q is not a private key", keyPath, kb.Type)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("sunshine identity: %s does not match %s", keyPath, certPath)
	}
	return &Identity{Cert: cert, CertPEM: certPEM, Key: key}, nil
}

// parseCertPEM parses exactly one PEM certificate with an RSA key.
func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("data after the PEM certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, err
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, errors.New("certificate key is not RSA")
	}
	return cert, nil
}

// writeFile0600 writes b to path through a temporary file in the same
// directory, so a crash leaves either nothing or the whole file.
func writeFile0600(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("sunshine identity: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, a no-op
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("sunshine identity: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("sunshine identity: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sunshine identity: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sunshine identity: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("sunshine identity: %w", err)
	}
	return nil
}
