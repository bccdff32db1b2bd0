package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

func TestEvents(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	db := sqlite.NewDB(path)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	es := sqlite.NewEventService(db)
	if n, err := es.LastEventSeq(ctx); err != nil || n != 0 {
		t.Fatalf("empty: %d %v", n, err)
	}
	for i := 1; i <= 10; i++ {
		m := "pc"
		if i%2 == 0 {
			m = "nas"
		}
		e := &moonwake.Event{Seq: int64(i), Type: moonwake.EventState, Machine: m, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		if err := es.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := es.AppendEvent(ctx, &moonwake.Event{Seq: 3, Type: "state", Machine: "pc"}); moonwake.ErrorCode(err) != moonwake.EConflict {
		t.Fatalf("duplicate seq: %v", err)
	}
	got, err := es.ListEvents(ctx, moonwake.EventFilter{After: 4, Machine: "pc"})
	if err != nil || len(got) != 3 || got[0].Seq != 5 || got[2].Seq != 9 || string(got[0].Data) != `{"n":5}` {
		t.Fatalf("list: %v %+v", err, got)
	}
	newest, _ := es.ListEvents(ctx, moonwake.EventFilter{Limit: 2, Newest: true})
	if len(newest) != 2 || newest[0].Seq != 9 || newest[1].Seq != 10 {
		t.Fatalf("newest: %+v", newest)
	}
	db.Close()
	db = sqlite.NewDB(path)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, _ := sqlite.NewEventService(db).LastEventSeq(ctx); n != 10 {
		t.Fatalf("after reopen: last %d", n)
	}
}

// SettleEvents returns once the events queued before it are committed,
// or have failed: one listing then has every stored event.
func TestSettleEvents(t *testing.T) {
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	es := sqlite.NewEventService(db)
	if err := es.SettleEvents(ctx); err != nil {
		t.Fatalf("settle with nothing queued: %v", err)
	}
	const n = 2000 // several of the writer's batches
	for i := 1; i <= n; i++ {
		es.QueueEvent(&moonwake.Event{Seq: int64(i), Type: moonwake.EventState, Machine: "pc"})
	}
	es.QueueEvent(&moonwake.Event{Seq: 7, Type: moonwake.EventState, Machine: "pc"}) // fails: a duplicate
	if err := es.SettleEvents(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := es.ListEvents(ctx, moonwake.EventFilter{After: n - 10, Limit: 100})
	if err != nil || len(got) != 10 || got[9].Seq != n {
		t.Fatalf("after settling: %v, %d events, want %d to %d", err, len(got), n-9, n)
	}
}
