package web

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/mock"
)

// TestPairCommandCarriesTLSPin: with a self-signed hub, the pairing
// command the web app shows pins its certificate.
func TestPairCommandCarriesTLSPin(t *testing.T) {
	h := newHarness(t, "pc")
	h.reconfigure(func(s *Server) {
		s.Pairing = &mock.AgentPairer{NewAgentPairingFn: func(_ context.Context, machine string) (moonwake.AgentPairing, error) {
			return moonwake.AgentPairing{Machine: machine, Code: "ABCD-EFGH-JKLM", ExpiresAt: time.Now().Add(10 * time.Minute),
				HubFingerprint: "SHA256:abcDEF123", TLSFingerprint: "SHA256:tlsPin456"}, nil
		}}
	})
	h.signIn()
	res, body := h.post("/machines/pc/pair", nil)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	cmd := findAll(doc(t, body), byID("pair-command"))
	want := "moonwake-agent pair --hub " + h.ts.URL + " --code ABCD-EFGH-JKLM --hub-fingerprint SHA256:abcDEF123 --tls-fingerprint SHA256:tlsPin456"
	if len(cmd) != 1 || text(cmd[0]) != want {
		t.Errorf("command %v, want %q", cmd, want)
	}
}
