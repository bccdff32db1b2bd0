package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// eventually polls cond until it holds, or fails the test after 5s.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
	}
}

// TestDB_OtherProcessWrites opens the file twice, as the hub and the CLI do
// on the hub host, and checks that the hub sees the CLI's token changes.
func TestDB_OtherProcessWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	clk := newClock()
	hub := sqlite.NewDB(path)
	hub.Now = clk.Now
	hub.SetWatchInterval(5 * time.Millisecond)
	if err := hub.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	cli, _ := MustOpenDBAt(t, path, clk)
	hubTokens, cliTokens := sqlite.NewTokenService(hub), sqlite.NewTokenService(cli)

	used := MustCreateToken(t, hubTokens, &moonwake.Token{Name: "used"})
	t1 := clk.Add(time.Minute)
	if _, err := hubTokens.Authenticate(ctx, used); err != nil {
		t.Fatal(err)
	}

	secret := MustCreateToken(t, cliTokens, &moonwake.Token{Name: "phone"})
	eventually(t, "the hub accepts a token created by the CLI", func() bool {
		_, err := hubTokens.Authenticate(ctx, secret)
		return err == nil
	})
	if _, err := cliTokens.RevokeToken(ctx, "phone"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the hub refuses a token revoked by the CLI", func() bool {
		_, err := hubTokens.Authenticate(ctx, secret)
		return moonwake.ErrorCode(err) == moonwake.EUnauthorized
	})

	// The reloads kept the use time that was not flushed yet.
	ts, _ := hubTokens.ListTokens(ctx)
	if len(ts) != 2 || ts[0].Name != "used" || ts[0].LastUsedAt == nil || !ts[0].LastUsedAt.Equal(t1) {
		t.Fatalf("tokens after reload: %+v", ts)
	}
	if err := hub.FlushLastUsed(ctx); err != nil {
		t.Fatal(err)
	}
	if v := lastUsedInTable(t, rawDB(t, path), ts[0].ID); v.String != t1.Format("2006-01-02T15:04:05.000000000Z") {
		t.Fatalf("last_used_at = %q", v.String)
	}

	// Machines too.
	MustCreateMachine(t, sqlite.NewMachineService(cli), &moonwake.Machine{Name: "pc", MAC: "02:00:00:00:00:01"})
	eventually(t, "the hub finds a machine created by the CLI", func() bool {
		_, err := sqlite.NewMachineService(hub).FindMachine(ctx, "pc")
		return err == nil
	})
	// And the hub's own writes still land in its caches.
	MustCreateMachine(t, sqlite.NewMachineService(hub), &moonwake.Machine{Name: "nas", MAC: "02:00:00:00:00:02"})
	if _, err := sqlite.NewMachineService(hub).FindMachine(ctx, "nas"); err != nil {
		t.Fatal(err)
	}
}

func TestDB_Ping(t *testing.T) {
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "moonwake.db"))
	if err := db.Ping(ctx); err == nil {
		t.Fatal("Ping before Open succeeded")
	}
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

// TestDB_StaleCache checks the writes that race another process's, before
// the watcher has reloaded: they fail cleanly instead of corrupting the cache.
func TestDB_StaleCache(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	hub := sqlite.NewDB(path)
	hub.SetWatchInterval(time.Hour)
	if err := hub.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	MustCreateToken(t, sqlite.NewTokenService(hub), &moonwake.Token{Name: "old"})
	MustCreateMachine(t, sqlite.NewMachineService(hub), &moonwake.Machine{Name: "pc", MAC: "02:00:00:00:00:01"})
	MustCreateMachine(t, sqlite.NewMachineService(hub), &moonwake.Machine{Name: "nas", MAC: "02:00:00:00:00:02"})

	cli, _ := MustOpenDBAt(t, path, newClock())
	MustCreateToken(t, sqlite.NewTokenService(cli), &moonwake.Token{Name: "new"})
	if _, err := sqlite.NewTokenService(cli).RevokeToken(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.NewMachineService(cli).DeleteMachine(ctx, "pc"); err != nil {
		t.Fatal(err)
	}
	MustCreateMachine(t, sqlite.NewMachineService(cli), &moonwake.Machine{Name: "tv", MAC: "02:00:00:00:00:03"})

	hubTokens, hubMachines := sqlite.NewTokenService(hub), sqlite.NewMachineService(hub)
	_, err := hubTokens.CreateToken(ctx, &moonwake.Token{Name: "new"})
	wantCode(t, err, moonwake.EConflict)
	_, err = hubTokens.RevokeToken(ctx, "old")
	wantCode(t, err, moonwake.ENotFound)
	wantCode(t, hubMachines.DeleteMachine(ctx, "pc"), moonwake.ENotFound)
	_, err = hubMachines.UpdateMachine(ctx, "nas", moonwake.MachineUpdate{MAC: ptr("02:00:00:00:00:03")})
	wantCode(t, err, moonwake.EConflict)
	wantCode(t, hubMachines.CreateMachine(ctx, &moonwake.Machine{Name: "tv", MAC: "02:00:00:00:00:09"}), moonwake.EConflict)

	if err := hub.ReloadIfChanged(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _ := hubMachines.ListMachines(ctx)
	if got := names(ms); len(got) != 2 || got[0] != "nas" || got[1] != "tv" {
		t.Fatalf("machines after reload: %v", got)
	}
}

// TestDB_NewTokenFromOtherProcess checks that a token made by the CLI works
// in the running hub at once, without waiting for the watcher.
func TestDB_NewTokenFromOtherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	hub := sqlite.NewDB(path)
	hub.SetWatchInterval(time.Hour)
	if err := hub.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	cli, _ := MustOpenDBAt(t, path, newClock())
	hubTokens := sqlite.NewTokenService(hub)

	// Bad secrets from many goroutines at once, while the CLI makes tokens.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			bad := "mw_" + strings.Repeat("A", 43)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := hubTokens.Authenticate(ctx, bad); moonwake.ErrorCode(err) != moonwake.EUnauthorized {
					t.Errorf("bad secret: %v", err)
					return
				}
			}
		})
	}
	for i := range 20 {
		secret := MustCreateToken(t, sqlite.NewTokenService(cli), &moonwake.Token{Name: fmt.Sprintf("t%d", i)})
		if _, err := hubTokens.Authenticate(ctx, secret); err != nil {
			t.Fatalf("token %d made by the CLI refused: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
}
