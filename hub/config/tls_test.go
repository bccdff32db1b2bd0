package config

import (
	"net"
	"strings"
	"testing"
)

func TestTLSConfig(t *testing.T) {
	for _, tc := range []struct {
		file string
		env  map[string]string
		on   bool
		err  string
	}{
		{file: "", on: false},
		{file: "tls:\n  cert_file: /c.pem\n  key_file: /k.pem\n", on: true},
		{file: "tls:\n  self_signed: true\n", on: true},
		{env: map[string]string{"MOONWAKE_TLS_SELF_SIGNED": "on"}, on: true},
		{env: map[string]string{"MOONWAKE_TLS_CERT_FILE": "/c", "MOONWAKE_TLS_KEY_FILE": "/k"}, on: true},
		{file: "tls:\n  cert_file: /c.pem\n", err: "both cert_file and key_file"},
		{env: map[string]string{"MOONWAKE_TLS_KEY_FILE": "/k"}, err: "both cert_file and key_file"},
		{file: "tls:\n  cert_file: /c\n  key_file: /k\n  self_signed: true\n", err: "exclude"},
		{env: map[string]string{"MOONWAKE_TLS_SELF_SIGNED": "sometimes"}, err: "MOONWAKE_TLS_SELF_SIGNED"},
		{file: "tls:\n  certfile: /c\n", err: "certfile"},
	} {
		c := Default()
		err := Parse([]byte(tc.file), &c)
		if err == nil {
			err = c.applyEnv(func(k string) string { return tc.env[k] })
		}
		if err == nil {
			err = c.Validate()
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q %v: error %v, want one about %s", tc.file, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || c.TLS.On() != tc.on {
			t.Errorf("%q %v: on %v, error %v; want on %v", tc.file, tc.env, c.TLS.On(), err, tc.on)
		}
	}
}

func TestPlainTextExposure(t *testing.T) {
	public := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		addr net.Addr
		warn bool
	}{
		{"all addresses, plain", func(*Config) {}, public, true},
		{"a LAN address, plain", func(*Config) {}, &net.TCPAddr{IP: net.ParseIP("192.168.1.2"), Port: 80}, true},
		{"IPv6 any, plain", func(*Config) {}, &net.TCPAddr{IP: net.IPv6zero, Port: 80}, true},
		{"loopback", func(*Config) {}, &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 80}, false},
		{"IPv6 loopback", func(*Config) {}, &net.TCPAddr{IP: net.IPv6loopback, Port: 80}, false},
		{"tls files", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "/c", "/k" }, public, false},
		{"self-signed", func(c *Config) { c.TLS.SelfSigned = true }, public, false},
		{"trusted proxy", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8"} }, public, false},
		{"https public_url", func(c *Config) { c.PublicURL = "https://wake.example.net" }, public, false},
		{"http public_url", func(c *Config) { c.PublicURL = "http://wake.example.net" }, public, true},
	} {
		c := Default()
		tc.cfg(&c)
		w := c.PlainTextExposure(tc.addr)
		if (w != "") != tc.warn {
			t.Errorf("%s: warning %q, want one: %v", tc.name, w, tc.warn)
		}
	}
}
