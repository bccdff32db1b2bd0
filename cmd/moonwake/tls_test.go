package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moonwake/moonwake/hub"
	"github.com/moonwake/moonwake/internal/hubtls"
)

// TestSelfSignedPairingLine: a hub with tls.self_signed serves HTTPS; the
// CLI reaches it only with the certificate's pin, and the pairing command
// it prints carries the pin for the agent.
func TestSelfSignedPairingLine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub process")
	}
	dir := t.TempDir()
	hp := startHubProcess(t, dir, "MOONWAKE_TLS_SELF_SIGNED=on")
	url := "https://" + strings.TrimPrefix(hp.url, "http://")
	b, err := os.ReadFile(filepath.Join(dir, hubtls.SelfSignedCert))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("the self-signed certificate is not PEM")
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		t.Fatal(err)
	}
	pin := hubtls.Fingerprint(blk.Bytes)
	env := map[string]string{"MOONWAKE_HUB": url, "MOONWAKE_TOKEN": hp.admin}

	if code, _, errOut := cli(t, env, "machines", "list"); code == 0 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("the CLI trusted a self-signed hub with no pin: exit %d, %s", code, errOut)
	}
	env["MOONWAKE_HUB_TLS_FINGERPRINT"] = pin
	if code, _, errOut := cli(t, env, "machines", "add", "pc", "aa:bb:cc:dd:ee:f1"); code != 0 {
		t.Fatalf("machines add over pinned TLS: exit %d, %s", code, errOut)
	}
	code, out, errOut := cli(t, env, "machines", "pair", "pc")
	if code != 0 || !strings.Contains(out, "moonwake-agent pair --hub "+url) || !strings.Contains(out, " --tls-fingerprint "+pin+"\n") {
		t.Fatalf("machines pair: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, hub.AdminTokenFile)); err != nil {
		t.Error(err)
	}
}
