package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// benchDB opens a database with 100 machines and 20 tokens, like a busy home
// lab, on the real clock.
func benchDB(b *testing.B) (*sqlite.DB, string) {
	b.Helper()
	db := sqlite.NewDB(filepath.Join(b.TempDir(), "moonwake.db")) // on the real clock
	if err := db.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	ms := sqlite.NewMachineService(db)
	for i := range 100 {
		MustCreateMachine(b, ms, &moonwake.Machine{Name: fmt.Sprintf("m%03d", i), MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256), Tags: []string{"lab"}})
	}
	ts := sqlite.NewTokenService(db)
	var secret string
	for i := range 20 {
		secret = MustCreateToken(b, ts, &moonwake.Token{Name: fmt.Sprintf("t%d", i), Machines: []string{"m001", "m002"}, Actions: []string{"wake"}})
	}
	return db, secret
}

func BenchmarkAuthenticate(b *testing.B) {
	db, secret := benchDB(b)
	s := sqlite.NewTokenService(db)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Authenticate(ctx, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthenticateMiss is a flood of well-formed wrong secrets: each
// looks for tokens made by another process, sharing the look with the
// others in flight.
func BenchmarkAuthenticateMiss(b *testing.B) {
	db, _ := benchDB(b)
	s := sqlite.NewTokenService(db)
	ctx := context.Background()
	bad := "mw_" + strings.Repeat("A", 43)
	b.SetParallelism(32)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Authenticate(ctx, bad); err == nil {
				b.Fatal("bad secret accepted")
			}
		}
	})
}

func BenchmarkFindMachine(b *testing.B) {
	db, _ := benchDB(b)
	s := sqlite.NewMachineService(db)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.FindMachine(ctx, "m042"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkFindMachineByMAC(b *testing.B) {
	db, _ := benchDB(b)
	s := sqlite.NewMachineService(db)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.FindMachineByMAC(ctx, "02:00:00:00:00:2a"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateAction runs CreateAction from many goroutines, as requests
// do; each call waits for its commit.
func BenchmarkCreateAction(b *testing.B) {
	db, _ := benchDB(b)
	s := sqlite.NewActionService(db)
	ctx := context.Background()
	b.SetParallelism(32) // requests in flight per core
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a := &moonwake.Action{Kind: moonwake.ActionWake, Machine: "m042", MAC: "02:00:00:00:00:2a",
				Actor: moonwake.Actor{Kind: "token", Name: "t1", TokenID: "tok_0123456789ab", Addr: "10.0.0.9:51234"}}
			if err := s.CreateAction(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWake is the storage side of one request on the wake route:
// authenticate, find the machine, create the action, and record its end.
func BenchmarkWake(b *testing.B) {
	for _, byMAC := range []bool{false, true} {
		b.Run(fmt.Sprintf("byMAC=%v", byMAC), func(b *testing.B) {
			db, secret := benchDB(b)
			ts, ms, as := sqlite.NewTokenService(db), sqlite.NewMachineService(db), sqlite.NewActionService(db)
			ctx := context.Background()
			b.SetParallelism(32)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					tok, err := ts.Authenticate(ctx, secret)
					if err != nil {
						b.Fatal(err)
					}
					var m *moonwake.Machine
					if byMAC {
						m, err = ms.FindMachineByMAC(ctx, "02:00:00:00:00:01")
					} else {
						m, err = ms.FindMachine(ctx, "m001")
					}
					if err != nil {
						b.Fatal(err)
					}
					if !tok.Allows(moonwake.ActionWake, m.Name) {
						b.Fatal("not allowed")
					}
					a := &moonwake.Action{Kind: moonwake.ActionWake, Machine: m.Name, MAC: m.MAC,
						Actor: moonwake.Actor{Kind: "token", Name: tok.Name, TokenID: tok.ID, Addr: "10.0.0.9:51234"}}
					if err := as.CreateAction(ctx, a); err != nil {
						b.Fatal(err)
					}
					a.Status, a.Detail = moonwake.StatusSucceeded, "sent"
					a.Steps = append(a.Steps, moonwake.Step{At: time.Now(), Kind: "send", Via: "udp", Target: "10.0.0.255:9"})
					if err := as.UpdateAction(ctx, a); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
