package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// TLS is how the hub serves HTTPS on its listen address. Off (the
// default), it serves plain HTTP, for a reverse proxy in front of it that
// does TLS.
type TLS struct {
	// CertFile and KeyFile are a PEM certificate (with its chain) and key,
	// such as certbot's fullchain.pem and privkey.pem or a cert-manager
	// Secret's tls.crt and tls.key. They are read again when they change:
	// a renewal needs no restart.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// SelfSigned makes the hub a certificate of its own, kept in the data
	// directory. Browsers warn about it; agents and relays trust it by the
	// fingerprint that their pairing command carries.
	SelfSigned bool `yaml:"self_signed"`
}

// On reports whether the hub serves HTTPS.
func (t *TLS) On() bool { return t.CertFile != "" || t.SelfSigned }

func (t *TLS) applyEnv(getenv func(string) string) error {
	if v := getenv("MOONWAKE_TLS_CERT_FILE"); v != "" {
		t.CertFile = v
	}
	if v := getenv("MOONWAKE_TLS_KEY_FILE"); v != "" {
		t.KeyFile = v
	}
	if v := getenv("MOONWAKE_TLS_SELF_SIGNED"); v != "" {
		on, err := parseSwitch(v)
		if err != nil {
			return fmt.Errorf("MOONWAKE_TLS_SELF_SIGNED: %w", err)
		}
		t.SelfSigned = on
	}
	return nil
}

func (t *TLS) validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return fmt.Errorf("tls: give both cert_file and key_file")
	}
	if t.CertFile != "" && t.SelfSigned {
		return fmt.Errorf("tls: cert_file and self_signed exclude each other")
	}
	return nil
}

// PlainTextExposure says, when it is so, why people's secrets would cross
// the network in clear: the hub listens on an address other than loopback,
// serves plain HTTP, and has neither a trusted reverse proxy in front of it
// (trusted_proxies) nor an https public_url that says one does TLS. The
// empty string means none of that.
func (c *Config) PlainTextExposure(addr net.Addr) string {
	if c.TLS.On() || len(c.TrustedProxies) > 0 || strings.HasPrefix(c.PublicURL, "https://") {
		return ""
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return ""
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if ok && ip.Unmap().IsLoopback() {
		return ""
	}
	return fmt.Sprintf("the hub serves plain HTTP on %s, which is not loopback, with no tls, no trusted_proxies and no https public_url: "+
		"the admin token pasted at /setup, passwords and API tokens cross the network in clear. "+
		"Set tls.cert_file and tls.key_file (or tls.self_signed), or put it behind an HTTPS reverse proxy "+
		"(trusted_proxies, public_url: https://…), or listen on 127.0.0.1", addr)
}
