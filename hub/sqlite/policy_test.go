package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/moonwake/moonwake/hub/sqlite"
)

func TestPolicyStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	db := sqlite.NewDB(path)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	ps := sqlite.NewPolicyService(db)
	if got, err := ps.LastRun(ctx, "k"); err != nil || !got.IsZero() {
		t.Fatalf("LastRun before any: %v %v", got, err)
	}
	at := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	for _, tt := range []time.Time{at.Add(-time.Hour), at} {
		if err := ps.SetLastRun(ctx, "k", tt); err != nil {
			t.Fatal(err)
		}
	}
	until := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Millisecond)
	if err := ps.SetKeepAwake(ctx, "pc", until, "me"); err != nil {
		t.Fatal(err)
	}
	if err := ps.SetKeepAwake(ctx, "old", time.Now().Add(-time.Minute), "me"); err != nil {
		t.Fatal(err)
	}
	// It survives a restart.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = sqlite.NewDB(path)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ps = sqlite.NewPolicyService(db)
	if got, err := ps.LastRun(ctx, "k"); err != nil || !got.Equal(at) {
		t.Fatalf("LastRun: %v %v, want %v", got, err, at)
	}
	if got, err := ps.KeepAwake(ctx, "pc"); err != nil || !got.Equal(until) {
		t.Fatalf("KeepAwake: %v %v, want %v", got, err, until)
	}
	if got, err := ps.KeepAwake(ctx, "old"); err != nil || !got.IsZero() {
		t.Fatalf("expired KeepAwake: %v %v", got, err)
	}
	if err := ps.ClearKeepAwake(ctx, "pc"); err != nil {
		t.Fatal(err)
	}
	if got, err := ps.KeepAwake(ctx, "pc"); err != nil || !got.IsZero() {
		t.Fatalf("cleared KeepAwake: %v %v", got, err)
	}
}
