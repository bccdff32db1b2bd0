package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/hubtls"
	"github.com/moonwake/moonwake/uplink"
)

// TestEnrolPinnedTLS: a relay given the fingerprint of a hub's self-signed
// certificate enrols with that hub over HTTPS and keeps the pin; given
// another fingerprint, or none, it does not reach the hub at all.
func TestEnrolPinnedTLS(t *testing.T) {
	_, hubKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := hubtls.SelfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := &enrolStore{token: "mw_enrol"}
	srv := httptest.NewUnstartedServer(&uplink.Pairer{Store: store, HubKey: hubKey})
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	srv.StartTLS()
	defer srv.Close()
	pin := hubtls.Fingerprint(cert.Certificate[0])
	other, err := hubtls.SelfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("mw_enrol\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := Options{StatePath: filepath.Join(dir, "relay.json"), Hub: srv.URL, Name: "lan-a", TokenFile: tokenFile}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := enrol(ctx, o); err == nil {
		t.Fatal("enrolled with a self-signed hub with no pin")
	}
	o.TLSFingerprint = hubtls.Fingerprint(other.Certificate[0])
	// uplink.Pair keeps the handshake's words, not the error value.
	if _, err := enrol(ctx, o); err == nil || !strings.Contains(err.Error(), hubtls.ErrPin.Error()) {
		t.Fatalf("enrolled with a hub whose certificate is not the pinned one: %v", err)
	}
	if store.enrolled != "" {
		t.Fatalf("the hub heard from the relay: %q", store.enrolled)
	}
	o.TLSFingerprint = pin
	if _, err := enrol(ctx, o); err != nil {
		t.Fatal(err)
	}
	st, err := ReadState(o.StatePath)
	if err != nil {
		t.Fatal(err)
	}
	if st.TLSFingerprint != pin || store.enrolled != "lan-a" {
		t.Fatalf("kept pin %q (want %q), enrolled %q", st.TLSFingerprint, pin, store.enrolled)
	}
}
