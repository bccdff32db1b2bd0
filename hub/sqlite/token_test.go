package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// MustCreateToken creates t, and first any machine it names that does not
// exist yet (a token can name only machines that exist), and returns its
// secret, or fails the test.
func MustCreateToken(tb testing.TB, s *sqlite.TokenService, t *moonwake.Token) string {
	tb.Helper()
	ms := sqlite.NewMachineService(s.DB())
	for _, name := range t.Machines {
		if _, err := ms.FindMachine(context.Background(), name); err == nil {
			continue
		}
		sum := sha256.Sum256([]byte(name))
		mac := fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3], sum[4])
		if err := ms.CreateMachine(context.Background(), &moonwake.Machine{Name: name, MAC: mac}); err != nil {
			tb.Fatal(err)
		}
	}
	secret, err := s.CreateToken(context.Background(), t)
	if err != nil {
		tb.Fatal(err)
	}
	return secret
}

func TestTokenService_CreateToken(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := sqlite.NewTokenService(db)

	tok := &moonwake.Token{Name: "ha", Machines: []string{"pc", "nas", "pc"}, Actions: []string{"wake"}}
	secret := MustCreateToken(t, s, tok)
	if !sqlite.ValidID(tok.ID, "tok_", 12) {
		t.Fatalf("ID %q", tok.ID)
	}
	if !strings.HasPrefix(secret, "mw_") || len(secret) != 3+43 {
		t.Fatalf("secret %q", secret)
	}
	if !tok.CreatedAt.Equal(t0) || !reflect.DeepEqual(tok.Machines, []string{"nas", "pc"}) {
		t.Fatalf("token %+v", tok)
	}

	for _, tt := range []struct {
		name string
		tok  moonwake.Token
		code string
	}{
		{"BadName", moonwake.Token{Name: "Home Assistant"}, moonwake.EInvalid},
		{"BadAction", moonwake.Token{Name: "x", Actions: []string{"format-disk"}}, moonwake.EInvalid},
		{"BadMachine", moonwake.Token{Name: "x", Machines: []string{"A B"}}, moonwake.EInvalid},
		{"NameTaken", moonwake.Token{Name: "ha"}, moonwake.EConflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateToken(ctx, &tt.tok)
			wantCode(t, err, tt.code)
		})
	}

	t.Run("NameFreeAfterRevoke", func(t *testing.T) {
		if _, err := s.RevokeToken(ctx, "ha"); err != nil {
			t.Fatal(err)
		}
		MustCreateToken(t, s, &moonwake.Token{Name: "ha"})
	})

	t.Run("OnlyHashStored", func(t *testing.T) {
		var n int
		if err := rawDB(t, dbFile(t, db)).QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE secret_hash = ? OR instr(secret_hash, ?) > 0`, secret, secret[3:]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatal("secret stored in clear")
		}
	})
}

// dbFile returns the path the tests opened db at; the tests keep it in a map.
func dbFile(tb testing.TB, db *sqlite.DB) string {
	tb.Helper()
	p, ok := paths.Load(db)
	if !ok {
		tb.Fatal("no path recorded for db")
	}
	return p.(string)
}

func TestTokenService_Authenticate(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	s := sqlite.NewTokenService(db)
	tok := &moonwake.Token{Name: "ha", Machines: []string{"pc"}, Actions: []string{"wake"}}
	secret := MustCreateToken(t, s, tok)
	other := MustCreateToken(t, s, &moonwake.Token{Name: "other"})

	t1 := clk.Add(time.Minute)
	got, err := s.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	want := *tok
	want.LastUsedAt = &t1
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("authenticated\n%+v\nwant\n%+v", got, &want)
	}
	got.Machines = append(got.Machines, "evil")
	got.Actions[0] = "shutdown"
	if again, _ := s.Authenticate(ctx, secret); !reflect.DeepEqual(again.Machines, []string{"pc"}) || again.Actions[0] != "wake" {
		t.Fatalf("cache changed through a returned copy: %+v", again)
	}

	for _, tt := range []struct{ name, secret string }{
		{"Empty", ""},
		{"Wrong", secret[:len(secret)-1] + "x"},
		{"NoPrefix", secret[3:]},
		{"Huge", strings.Repeat("a", 4096)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Authenticate(ctx, tt.secret)
			wantCode(t, err, moonwake.EUnauthorized)
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Fatal("error repeats the secret")
			}
		})
	}

	t.Run("Revoked", func(t *testing.T) {
		if _, err := s.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		_, err := s.Authenticate(ctx, secret)
		wantCode(t, err, moonwake.EUnauthorized)
		if moonwake.ErrorMessage(err) != "invalid or revoked token" {
			t.Fatalf("message %q", moonwake.ErrorMessage(err))
		}
		if _, err := s.Authenticate(ctx, other); err != nil {
			t.Fatalf("other token: %v", err)
		}
	})
}

func TestTokenService_RevokeToken(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	s := sqlite.NewTokenService(db)
	a := &moonwake.Token{Name: "a"}
	MustCreateToken(t, s, a)
	b := &moonwake.Token{Name: "b"}
	MustCreateToken(t, s, b)

	t1 := clk.Add(time.Minute)
	got, err := s.RevokeToken(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.RevokedAt == nil || !got.RevokedAt.Equal(t1) {
		t.Fatalf("revoked %+v", got)
	}
	if got, err := s.RevokeToken(ctx, "b"); err != nil || got.ID != b.ID {
		t.Fatalf("revoke by name: %+v, %v", got, err)
	}
	for _, idOrName := range []string{a.ID, "a", "b", "nope"} {
		_, err := s.RevokeToken(ctx, idOrName)
		wantCode(t, err, moonwake.ENotFound)
	}

	t.Run("ByNameAfterIDIsRevoked", func(t *testing.T) {
		// A new token named like an old one's ID is still found by name.
		c := &moonwake.Token{Name: "c"}
		MustCreateToken(t, s, c)
		if got, err := s.RevokeToken(ctx, "c"); err != nil || got.ID != c.ID {
			t.Fatalf("%+v, %v", got, err)
		}
	})
}

func TestTokenService_ListAndAdmin(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	db, clk := MustOpenDBAt(t, path, newClock())
	s := sqlite.NewTokenService(db)

	if ok, err := s.HasAdminToken(ctx); err != nil || ok {
		t.Fatalf("HasAdminToken on empty db = %v, %v", ok, err)
	}
	adm := &moonwake.Token{Name: "root", Admin: true}
	MustCreateToken(t, s, adm)
	clk.Add(time.Second)
	MustCreateToken(t, s, &moonwake.Token{Name: "ha", Machines: []string{"pc"}, Actions: []string{"shutdown", "wake"}})
	clk.Add(time.Second)
	MustCreateToken(t, s, &moonwake.Token{Name: "cli"})
	if ok, _ := s.HasAdminToken(ctx); !ok {
		t.Fatal("no admin token after creating one")
	}
	if _, err := s.RevokeToken(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.HasAdminToken(ctx); ok {
		t.Fatal("admin token after revoking it")
	}

	ts, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, tok := range ts {
		ns = append(ns, tok.Name)
	}
	if !reflect.DeepEqual(ns, []string{"root", "ha", "cli"}) {
		t.Fatalf("list = %v", ns)
	}
	if ts[0].RevokedAt == nil || !ts[0].Admin {
		t.Fatalf("root = %+v", ts[0])
	}

	t.Run("Persist", func(t *testing.T) {
		db2 := Reopen(t, db, path, clk)
		ts2, err := sqlite.NewTokenService(db2).ListTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ts, ts2) {
			t.Fatalf("before\n%+v\nafter reopen\n%+v", ts, ts2)
		}
		if ok, _ := sqlite.NewTokenService(db2).HasAdminToken(ctx); ok {
			t.Fatal("revoked admin token is active after reopen")
		}
	})
}

func TestTokenService_PersistScopeAndSecret(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	db, clk := MustOpenDBAt(t, path, newClock())
	tok := &moonwake.Token{Name: "ha", Machines: []string{"nas", "pc"}, Actions: []string{"wake"}}
	secret := MustCreateToken(t, sqlite.NewTokenService(db), tok)
	revoked := MustCreateToken(t, sqlite.NewTokenService(db), &moonwake.Token{Name: "old"})
	if _, err := sqlite.NewTokenService(db).RevokeToken(ctx, "old"); err != nil {
		t.Fatal(err)
	}

	db = Reopen(t, db, path, clk)
	s := sqlite.NewTokenService(db)
	got, err := s.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != tok.ID || !reflect.DeepEqual(got.Machines, tok.Machines) || !reflect.DeepEqual(got.Actions, tok.Actions) || got.Admin {
		t.Fatalf("after reopen %+v, want %+v", got, tok)
	}
	if !got.Allows("wake", "pc") || got.Allows("shutdown", "pc") || got.CanSee("tv") {
		t.Fatal("scope lost")
	}
	_, err = s.Authenticate(ctx, revoked)
	wantCode(t, err, moonwake.EUnauthorized)
}

// lastUsedInTable reads a token's last_used_at behind the cache.
func lastUsedInTable(tb testing.TB, raw *sql.DB, id string) sql.NullString {
	tb.Helper()
	var s sql.NullString
	if err := raw.QueryRowContext(context.Background(), `SELECT last_used_at FROM tokens WHERE id = ?`, id).Scan(&s); err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestTokenService_LastUsedFlush(t *testing.T) {
	ctx := context.Background()

	t.Run("NotWrittenPerRequest", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "moonwake.db")
		db, clk := MustOpenDBAt(t, path, newClock())
		s := sqlite.NewTokenService(db)
		tok := &moonwake.Token{Name: "ha"}
		secret := MustCreateToken(t, s, tok)
		raw := rawDB(t, path)
		for range 100 {
			clk.Add(time.Second)
			if _, err := s.Authenticate(ctx, secret); err != nil {
				t.Fatal(err)
			}
		}
		if v := lastUsedInTable(t, raw, tok.ID); v.Valid {
			t.Fatalf("last_used_at written before a flush: %v", v.String)
		}
		if err := db.FlushLastUsed(ctx); err != nil {
			t.Fatal(err)
		}
		want := t0.Add(100 * time.Second).Format("2006-01-02T15:04:05.000000000Z")
		if v := lastUsedInTable(t, raw, tok.ID); v.String != want {
			t.Fatalf("last_used_at = %v, want %v", v.String, want)
		}
	})

	t.Run("FlushedAtClose", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "moonwake.db")
		db, clk := MustOpenDBAt(t, path, newClock())
		s := sqlite.NewTokenService(db)
		tok := &moonwake.Token{Name: "ha"}
		secret := MustCreateToken(t, s, tok)
		t1 := clk.Add(time.Hour)
		if _, err := s.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
		db = Reopen(t, db, path, clk)
		ts, _ := sqlite.NewTokenService(db).ListTokens(ctx)
		if ts[0].LastUsedAt == nil || !ts[0].LastUsedAt.Equal(t1) {
			t.Fatalf("LastUsedAt after reopen = %v, want %v", ts[0].LastUsedAt, t1)
		}
	})

	t.Run("Background", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "moonwake.db")
		db := sqlite.NewDB(path)
		db.Now = newClock().Now
		db.SetFlushInterval(10 * time.Millisecond)
		if err := db.Open(ctx); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		s := sqlite.NewTokenService(db)
		tok := &moonwake.Token{Name: "ha"}
		secret := MustCreateToken(t, s, tok)
		if _, err := s.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
		raw := rawDB(t, path)
		deadline := time.Now().Add(5 * time.Second)
		for !lastUsedInTable(t, raw, tok.ID).Valid {
			if time.Now().After(deadline) {
				t.Fatal("background flush did not write last_used_at")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// A token is bound to the machines it was made for, not to their names:
// deleting pc-b revokes a token (and a tap link) made for pc-b alone and
// takes pc-b out of a wider token's scope, so a new pc-b, with another MAC,
// inherits neither. The change survives a reopen, and config machines that
// leave the file do the same.
func TestTokensBoundToMachines(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	db, c := MustOpenDBAt(t, path, newClock())
	s := sqlite.NewTokenService(db)
	ms := sqlite.NewMachineService(db)

	if _, err := s.CreateToken(ctx, &moonwake.Token{Name: "early", Machines: []string{"pc-c"}, Actions: []string{"wake"}}); moonwake.ErrorCode(err) != moonwake.EInvalid {
		t.Fatalf("a token for a machine that does not exist: %v", err)
	}
	only := MustCreateToken(t, s, &moonwake.Token{Name: "only-b", Machines: []string{"pc-b"}, Actions: []string{"wake"}})
	link := MustCreateToken(t, s, &moonwake.Token{Name: "link-pc-b-wake-x", Machines: []string{"pc-b"}, Actions: []string{"wake"}, TapLink: true})
	wide := MustCreateToken(t, s, &moonwake.Token{Name: "a-and-b", Machines: []string{"pc-a", "pc-b"}, Actions: []string{"wake"}})
	all := MustCreateToken(t, s, &moonwake.Token{Name: "all", Actions: []string{"wake"}})
	before, _ := s.Authenticate(ctx, wide) // a copy taken before: it must not change

	if err := ms.DeleteMachine(ctx, "pc-b"); err != nil {
		t.Fatal(err)
	}
	if err := ms.CreateMachine(ctx, &moonwake.Machine{Name: "pc-b", MAC: "02:00:00:00:0b:0b"}); err != nil {
		t.Fatal(err)
	}
	check := func(db *sqlite.DB) {
		t.Helper()
		s := sqlite.NewTokenService(db)
		for _, secret := range []string{only, link} {
			if _, err := s.Authenticate(ctx, secret); moonwake.ErrorCode(err) != moonwake.EUnauthorized {
				t.Errorf("a token for the deleted pc-b still works: %v", err)
			}
		}
		tok, err := s.Authenticate(ctx, wide)
		if err != nil || !reflect.DeepEqual(tok.Machines, []string{"pc-a"}) || tok.Allows("wake", "pc-b") {
			t.Errorf("wider token after the delete: %+v, %v", tok, err)
		}
		if tok, err := s.Authenticate(ctx, all); err != nil || !tok.Allows("wake", "pc-b") {
			t.Errorf("a token for every machine: %+v, %v", tok, err)
		}
	}
	check(db)
	if !reflect.DeepEqual(before.Machines, []string{"pc-a", "pc-b"}) {
		t.Errorf("a copy handed out before changed: %v", before.Machines)
	}
	ts, _ := s.ListTokens(ctx)
	for _, tk := range ts {
		if (tk.Name == "only-b" || tk.Name == "link-pc-b-wake-x") && tk.RevokedAt == nil {
			t.Errorf("%s listed as active", tk.Name)
		}
	}
	db.Close()
	db, _ = MustOpenDBAt(t, path, c)
	check(db)

	// Config machines: one leaving the file takes its tokens along.
	ms = sqlite.NewMachineService(db)
	if err := ms.SyncConfigMachines(ctx, []*moonwake.Machine{{Name: "cfg", MAC: "02:00:00:00:00:c0"}}); err != nil {
		t.Fatal(err)
	}
	s = sqlite.NewTokenService(db)
	cfg := MustCreateToken(t, s, &moonwake.Token{Name: "cfg-only", Machines: []string{"cfg"}, Actions: []string{"wake"}})
	if err := ms.SyncConfigMachines(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, cfg); moonwake.ErrorCode(err) != moonwake.EUnauthorized {
		t.Errorf("a token for a config machine that left the file still works: %v", err)
	}
}

// A token another process (the CLI) made a moment ago, which this one's
// cache does not hold yet, is bound too: deleting its machine revokes it
// in the same transaction, read from the table.
func TestTokenFromAnotherProcessBound(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	hub, c := MustOpenDBAt(t, path, newClock())
	ms := sqlite.NewMachineService(hub)
	if err := ms.CreateMachine(ctx, &moonwake.Machine{Name: "pc-b", MAC: "02:00:00:00:0b:01"}); err != nil {
		t.Fatal(err)
	}
	cli, _ := MustOpenDBAt(t, path, c)
	secret := MustCreateToken(t, sqlite.NewTokenService(cli), &moonwake.Token{Name: "fresh", Machines: []string{"pc-b"}, Actions: []string{"wake"}})
	cli.Close()

	if err := ms.DeleteMachine(ctx, "pc-b"); err != nil {
		t.Fatal(err)
	}
	if err := ms.CreateMachine(ctx, &moonwake.Machine{Name: "pc-b", MAC: "02:00:00:00:0b:02"}); err != nil {
		t.Fatal(err)
	}
	if tok, err := sqlite.NewTokenService(hub).Authenticate(ctx, secret); moonwake.ErrorCode(err) != moonwake.EUnauthorized {
		t.Fatalf("a token made elsewhere for the deleted pc-b works on the new one: %+v, %v", tok, err)
	}
}
