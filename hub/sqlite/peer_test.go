package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/uplink"
)

func TestPairingAndPeers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	db := sqlite.NewDB(path)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	ps := sqlite.NewPeerService(db)
	now := time.Now().UTC()
	code, p := uplink.NewPairing("gaming-pc", "agent", now, time.Minute)
	if err := ps.CreatePairing(ctx, p); err != nil {
		t.Fatal(err)
	}
	hash, err := uplink.HashCode(code)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	peer := uplink.Peer{ID: "agent_1", Purpose: "agent", PublicKey: pub}

	// Wrong purpose: refused, and the code is used up.
	if _, err := ps.RedeemPairing(ctx, hash, now, uplink.Peer{ID: "relay_1", Purpose: "relay", PublicKey: pub}); moonwake.ErrorCode(err) != moonwake.EUnauthorized {
		t.Fatalf("wrong purpose: %v", err)
	}
	if _, err := ps.RedeemPairing(ctx, hash, now, peer); moonwake.ErrorCode(err) != moonwake.EUnauthorized {
		t.Fatalf("reused code: %v", err)
	}

	// Expired.
	code2, p2 := uplink.NewPairing("gaming-pc", "agent", now, time.Minute)
	ps.CreatePairing(ctx, p2)
	hash2, _ := uplink.HashCode(code2)
	if _, err := ps.RedeemPairing(ctx, hash2, now.Add(2*time.Minute), peer); moonwake.ErrorCode(err) != moonwake.EUnauthorized {
		t.Fatalf("expired code: %v", err)
	}

	// Good, then a second pairing replaces the first agent.
	code3, p3 := uplink.NewPairing("gaming-pc", "agent", now, time.Minute)
	ps.CreatePairing(ctx, p3)
	hash3, _ := uplink.HashCode(code3)
	got, err := ps.RedeemPairing(ctx, hash3, now, peer)
	if err != nil || got.Machine != "gaming-pc" {
		t.Fatalf("redeem: %+v %v", got, err)
	}
	code4, p4 := uplink.NewPairing("gaming-pc", "agent", now, time.Minute)
	ps.CreatePairing(ctx, p4)
	hash4, _ := uplink.HashCode(code4)
	if _, err := ps.RedeemPairing(ctx, hash4, now, uplink.Peer{ID: "agent_2", Purpose: "agent", PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.LookupPeer(ctx, "agent_1"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Fatalf("replaced agent still known: %v", err)
	}
	db.Close()

	db = sqlite.NewDB(path)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ps = sqlite.NewPeerService(db)
	got, err = ps.LookupPeer(ctx, "agent_2")
	if err != nil || !got.PublicKey.Equal(pub) || got.Machine != "gaming-pc" {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	if got, err := ps.PeerForMachine(ctx, "gaming-pc", "agent"); err != nil || got.ID != "agent_2" {
		t.Fatalf("for machine: %+v %v", got, err)
	}
	if all, err := ps.ListPeers(ctx, "agent"); err != nil || len(all) != 1 || all[0].ID != "agent_2" {
		t.Fatalf("list agents: %+v %v", all, err)
	}
	if all, err := ps.ListPeers(ctx, "relay"); err != nil || len(all) != 0 {
		t.Fatalf("list relays: %+v %v", all, err)
	}
}

// TestDeletedMachineForgetsAgent checks that a machine created later under
// the same name does not inherit the old machine's agent or pairing codes.
func TestDeletedMachineForgetsAgent(t *testing.T) {
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, ps := sqlite.NewMachineService(db), sqlite.NewPeerService(db)
	if err := ms.CreateMachine(ctx, &moonwake.Machine{Name: "pc", MAC: "02:00:00:00:00:01"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	code, p := uplink.NewPairing("pc", "agent", now, time.Minute)
	ps.CreatePairing(ctx, p)
	hash, _ := uplink.HashCode(code)
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := ps.RedeemPairing(ctx, hash, now, uplink.Peer{ID: "agent_1", Purpose: "agent", PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	code2, p2 := uplink.NewPairing("pc", "agent", now, time.Minute)
	ps.CreatePairing(ctx, p2)
	if err := ms.DeleteMachine(ctx, "pc"); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.LookupPeer(ctx, "agent_1"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Fatalf("agent of a deleted machine still known: %v", err)
	}
	hash2, _ := uplink.HashCode(code2)
	if _, err := ps.RedeemPairing(ctx, hash2, now, uplink.Peer{ID: "agent_2", Purpose: "agent", PublicKey: pub}); moonwake.ErrorCode(err) != moonwake.EUnauthorized {
		t.Fatalf("pairing code of a deleted machine redeemed: %v", err)
	}
}

// TestPairingClockJumps redeems pairing codes after the hub's clock jumped:
// forward past a code's end, it has expired; back to before it was made,
// it is refused too (nothing can tell how old it is), never valid for as
// long as the clock went back; a jump that stays within its lifetime
// changes nothing.
func TestPairingClockJumps(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	ps := sqlite.NewPeerService(db)
	pub, _, _ := ed25519.GenerateKey(nil)
	made := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	pair := func() string {
		t.Helper()
		code, p := uplink.NewPairing("gaming-pc", "agent", made, 10*time.Minute)
		if err := ps.CreatePairing(ctx, p); err != nil {
			t.Fatal(err)
		}
		hash, err := uplink.HashCode(code)
		if err != nil {
			t.Fatal(err)
		}
		return hash
	}
	for _, c := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"forward past its end", made.Add(time.Hour), false},
		{"back before it was made", made.Add(-time.Hour), false},
		{"back a second before it was made", made.Add(-time.Second), false},
		{"within its lifetime", made.Add(5 * time.Minute), true},
	} {
		_, err := ps.RedeemPairing(ctx, pair(), c.at, uplink.Peer{ID: "agent_1", Purpose: "agent", PublicKey: pub})
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && moonwake.ErrorCode(err) != moonwake.EUnauthorized {
			t.Errorf("%s: %v, want unauthorized", c.name, err)
		}
	}
}
