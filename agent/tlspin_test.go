package agent

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moonwake/moonwake/internal/hubtls"
	"github.com/moonwake/moonwake/internal/testlan"
)

// TestPairPinnedTLS: an agent given the fingerprint of a hub's
// self-signed certificate pairs with that hub over HTTPS, keeps the pin,
// and keeps its uplink (HTTP/2 offered) up with it; a hub with another
// certificate is refused before the pairing code leaves the agent.
func TestPairPinnedTLS(t *testing.T) {
	h := newTestHubOn(t, func(s *httptest.Server) {
		s.EnableHTTP2 = true
		s.StartTLS()
	})
	pin := hubtls.Fingerprint(h.srv.Certificate().Raw)
	// Every httptest server has the same certificate: the other hub gets
	// one of its own.
	cert, err := hubtls.SelfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other := newTestHubOn(t, func(s *httptest.Server) {
		s.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		s.StartTLS()
	})
	otherPin := hubtls.Fingerprint(other.srv.Certificate().Raw)
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state.json")

	// The system's roots do not know a self-signed hub.
	if _, err := Pair(context.Background(), PairOptions{Hub: h.url, Code: h.code(t, "pc"), StatePath: statePath}); err == nil {
		t.Fatal("paired with a self-signed hub with no pin")
	}
	_, err = Pair(context.Background(), PairOptions{Hub: h.url, Code: h.code(t, "pc"), StatePath: statePath, TLSFingerprint: otherPin})
	if err == nil || !strings.Contains(err.Error(), "pinned fingerprint") {
		t.Fatalf("paired with a hub whose certificate is not the pinned one: %v", err)
	}
	if _, err := os.Stat(statePath); err == nil {
		t.Fatal("a refused pairing wrote the state")
	}

	if _, err := Pair(context.Background(), PairOptions{Hub: h.url, Code: h.code(t, "pc"), StatePath: statePath, TLSFingerprint: pin}); err != nil {
		t.Fatal(err)
	}
	st, err := ReadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if st.TLSFingerprint != pin {
		t.Fatalf("the state keeps TLS fingerprint %q, want %q", st.TLSFingerprint, pin)
	}

	var up atomic.Bool
	a := &Agent{Config: Config{Commands: safeCommands(dir)}, State: st, OnLink: func(u bool, err error) { up.Store(u) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	eventually(t, "the uplink up over pinned TLS", up.Load)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The same state, pointed at the other hub: its certificate is refused.
	st.Hub = other.url
	var log testlan.Buffer
	a = &Agent{Config: Config{Commands: safeCommands(dir)}, State: st, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- a.Run(ctx) }()
	eventually(t, "the other hub's certificate refused", func() bool {
		return strings.Contains(log.String(), "uplink down") && strings.Contains(log.String(), hubtls.ErrPin.Error())
	})
	cancel()
	<-done
	if other.Connected(st.ID) {
		t.Error("the agent reached the hub whose certificate is not pinned")
	}
}
