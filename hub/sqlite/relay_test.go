package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/uplink"
)

// TestEnrolDoesNotTakeOverPairedRelays: an enrolment token enrols new
// relays and re-enrols its own (a pod re-created), but never replaces the
// key of a relay a person paired with a code.
func TestEnrolDoesNotTakeOverPairedRelays(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	peers, relays := sqlite.NewPeerService(db), sqlite.NewRelayStore(db)
	key := func() ed25519.PublicKey { pub, _, _ := ed25519.GenerateKey(nil); return pub }

	code, p := uplink.NewPairing("garage", uplink.PurposeRelay, time.Now().UTC(), time.Minute)
	if err := peers.CreatePairing(ctx, p); err != nil {
		t.Fatal(err)
	}
	hash, _ := uplink.HashCode(code)
	if _, err := peers.RedeemPairing(ctx, hash, time.Now().UTC(), uplink.Peer{ID: "relay_paired", Purpose: uplink.PurposeRelay, PublicKey: key()}); err != nil {
		t.Fatal(err)
	}
	if _, err := relays.EnrolRelay(ctx, "garage", uplink.Peer{ID: "relay_thief", PublicKey: key()}); moonwake.ErrorCode(err) != moonwake.EConflict {
		t.Fatalf("a token took over a paired relay: %v", err)
	}
	if got, err := peers.PeerForMachine(ctx, "garage", uplink.PurposeRelay); err != nil || got.ID != "relay_paired" {
		t.Fatalf("the paired relay's key: %+v %v", got, err)
	}

	for _, id := range []string{"relay_pod1", "relay_pod2"} {
		if _, err := relays.EnrolRelay(ctx, "k3s-node", uplink.Peer{ID: id, PublicKey: key()}); err != nil {
			t.Fatalf("enrol %s: %v", id, err)
		}
	}
	if got, err := peers.PeerForMachine(ctx, "k3s-node", uplink.PurposeRelay); err != nil || got.ID != "relay_pod2" {
		t.Fatalf("the re-enrolled relay's key: %+v %v", got, err)
	}
}
