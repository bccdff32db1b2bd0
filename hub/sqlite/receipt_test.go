package sqlite_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

func TestReceiptService(t *testing.T) {
	ctx := context.Background()
	db, c := MustOpenDB(t)
	s := sqlite.NewReceiptService(db)

	claimed, action, err := s.ClaimReceipt(ctx, rk("/trigger", "e1"))
	if err != nil || !claimed || action != "" {
		t.Fatalf("first claim: %v %q %v", claimed, action, err)
	}
	// A delivery again while the first is starting its action.
	if claimed, action, err = s.ClaimReceipt(ctx, rk("/trigger", "e1")); err != nil || claimed || action != "" {
		t.Fatalf("second claim while starting: %v %q %v", claimed, action, err)
	}
	if err := s.SetReceiptAction(ctx, rk("/trigger", "e1"), "act_1"); err != nil {
		t.Fatal(err)
	}
	if claimed, action, err = s.ClaimReceipt(ctx, rk("/trigger", "e1")); err != nil || claimed || action != "act_1" {
		t.Fatalf("claim after the action: %v %q %v", claimed, action, err)
	}
	// The same id from another source is another event.
	if claimed, _, err = s.ClaimReceipt(ctx, rk("/other", "e1")); err != nil || !claimed {
		t.Fatalf("other source: %v %v", claimed, err)
	}
	// A dropped claim may be made again; a claim with an action stays.
	if err := s.DropReceipt(ctx, rk("/other", "e1")); err != nil {
		t.Fatal(err)
	}
	if err := s.DropReceipt(ctx, rk("/trigger", "e1")); err != nil {
		t.Fatal(err)
	}
	if claimed, _, err = s.ClaimReceipt(ctx, rk("/other", "e1")); err != nil || !claimed {
		t.Fatalf("claim after drop: %v %v", claimed, err)
	}
	if claimed, action, _ = s.ClaimReceipt(ctx, rk("/trigger", "e1")); claimed || action != "act_1" {
		t.Fatalf("a receipt with an action was dropped: %v %q", claimed, action)
	}

	// Receipts go with the actions' retention.
	c.Add(48 * time.Hour)
	if _, _, err := s.ClaimReceipt(ctx, rk("/trigger", "e2")); err != nil {
		t.Fatal(err)
	}
	r := sqlite.NewRetention(db, 24*time.Hour, 0, nil)
	if _, _, err := r.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if claimed, _, _ = s.ClaimReceipt(ctx, rk("/trigger", "e1")); !claimed {
		t.Fatal("an old receipt outlived the retention")
	}
	if claimed, _, _ = s.ClaimReceipt(ctx, rk("/trigger", "e2")); claimed {
		t.Fatal("a recent receipt was pruned")
	}
}

// TestReceiptService_Race claims one event from many goroutines: exactly
// one wins.
func TestReceiptService_Race(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := sqlite.NewReceiptService(db)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 16 {
		wg.Go(func() {
			claimed, _, err := s.ClaimReceipt(ctx, rk("/src", "same"))
			if err != nil {
				t.Error(err)
			}
			if claimed {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d claims won, want 1", wins)
	}
}

func TestTokenService_CloudEvents(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := sqlite.NewTokenService(db)
	secret := MustCreateToken(t, s, &moonwake.Token{Name: "trigger", Machines: []string{"pc"}, Actions: []string{"wake"}, CloudEvents: true})
	tok, err := s.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.CloudEvents || tok.Scope() != "cloudevents: wake on pc" {
		t.Fatalf("token %+v, scope %q", tok, tok.Scope())
	}
	if _, err := s.CreateToken(ctx, &moonwake.Token{Name: "bad", Admin: true, CloudEvents: true}); moonwake.ErrorCode(err) != moonwake.EInvalid {
		t.Fatalf("an admin CloudEvents token: %v", err)
	}
}

// rk is the key of an event that token tok_1 sent.
func rk(source, id string) moonwake.EventKey {
	return moonwake.EventKey{Token: "tok_1", Source: source, ID: id}
}

// Another token's event with the same source and id is another event: it
// neither finds the first one's action nor stops its own.
func TestReceiptsByToken(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := sqlite.NewReceiptService(db)
	if claimed, _, err := s.ClaimReceipt(ctx, rk("/cron", "nightly-1")); err != nil || !claimed {
		t.Fatal(claimed, err)
	}
	if err := s.SetReceiptAction(ctx, rk("/cron", "nightly-1"), "act_admin"); err != nil {
		t.Fatal(err)
	}
	other := moonwake.EventKey{Token: "tok_2", Source: "/cron", ID: "nightly-1"}
	claimed, action, err := s.ClaimReceipt(ctx, other)
	if err != nil || !claimed || action != "" {
		t.Fatalf("another token's event: claimed %v, action %q, %v", claimed, action, err)
	}
}
