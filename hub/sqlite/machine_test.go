package sqlite_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

func ptr[T any](v T) *T { return &v }

// MustCreateMachine creates m or fails the test.
func MustCreateMachine(tb testing.TB, s *sqlite.MachineService, m *moonwake.Machine) *moonwake.Machine {
	tb.Helper()
	if err := s.CreateMachine(context.Background(), m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestMachineService_CreateMachine(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := sqlite.NewMachineService(db)

	m := &moonwake.Machine{Name: "nas", MAC: "AA-BB-CC-DD-EE-F0", Host: " 10.0.0.5 ", Tags: []string{"Rack", "home", "rack"}, Password: "01:02:03:04:05:06"}
	MustCreateMachine(t, s, m)
	want := &moonwake.Machine{
		Name: "nas", MAC: "aa:bb:cc:dd:ee:f0", Host: "10.0.0.5", Tags: []string{"home", "rack"},
		Password: "01:02:03:04:05:06", Source: moonwake.SourceAPI, CreatedAt: t0, UpdatedAt: t0,
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("created\n%#v\nwant\n%#v", m, want)
	}
	got, err := s.FindMachine(ctx, "nas")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("found\n%#v\nwant\n%#v", got, want)
	}

	for _, tt := range []struct {
		name string
		m    moonwake.Machine
		code string
	}{
		{"BadName", moonwake.Machine{Name: "Bad Name", MAC: "aa:bb:cc:dd:ee:01"}, moonwake.EInvalid},
		{"BadMAC", moonwake.Machine{Name: "pc", MAC: "zz"}, moonwake.EInvalid},
		{"BroadcastMAC", moonwake.Machine{Name: "pc", MAC: "ff:ff:ff:ff:ff:ff"}, moonwake.EInvalid},
		{"BadSource", moonwake.Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:01", Source: "agent"}, moonwake.EInvalid},
		{"NameTaken", moonwake.Machine{Name: "nas", MAC: "aa:bb:cc:dd:ee:01"}, moonwake.EConflict},
		{"MACTaken", moonwake.Machine{Name: "pc", MAC: "aabb.ccdd.eef0"}, moonwake.EConflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, s.CreateMachine(ctx, &tt.m), tt.code)
		})
	}
	if ms, _ := s.ListMachines(ctx); len(ms) != 1 {
		t.Fatalf("%d machines after failed creates, want 1", len(ms))
	}
}

func TestMachineService_Find(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := sqlite.NewMachineService(db)
	MustCreateMachine(t, s, &moonwake.Machine{Name: "b", MAC: "02:00:00:00:00:02", Tags: []string{"x"}})
	MustCreateMachine(t, s, &moonwake.Machine{Name: "a", MAC: "02:00:00:00:00:01"})

	t.Run("ReturnsCopies", func(t *testing.T) {
		m, err := s.FindMachine(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		m.Tags[0], m.Host = "changed", "changed"
		m2, _ := s.FindMachine(ctx, "b")
		if m2.Tags[0] != "x" || m2.Host != "" {
			t.Fatalf("cache changed through a returned copy: %+v", m2)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, err := s.FindMachine(ctx, "nope")
		wantCode(t, err, moonwake.ENotFound)
	})
	t.Run("ByMAC", func(t *testing.T) {
		for _, mac := range []string{"02:00:00:00:00:02", "02-00-00-00-00-02", "020000000002"} {
			m, err := s.FindMachineByMAC(ctx, mac)
			if err != nil {
				t.Fatalf("%s: %v", mac, err)
			}
			if m.Name != "b" {
				t.Fatalf("%s: found %q", mac, m.Name)
			}
		}
		_, err := s.FindMachineByMAC(ctx, "02:00:00:00:00:09")
		wantCode(t, err, moonwake.ENotFound)
		_, err = s.FindMachineByMAC(ctx, "junk")
		wantCode(t, err, moonwake.ENotFound)
	})
	t.Run("ListSorted", func(t *testing.T) {
		ms, err := s.ListMachines(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 2 || ms[0].Name != "a" || ms[1].Name != "b" {
			t.Fatalf("list = %v", names(ms))
		}
		if ms[0].Tags == nil {
			t.Fatal("nil tags: would render as null")
		}
	})
}

func names(ms []*moonwake.Machine) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestMachineService_UpdateMachine(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	s := sqlite.NewMachineService(db)
	MustCreateMachine(t, s, &moonwake.Machine{Name: "pc", MAC: "02:00:00:00:00:01", Host: "pc.lan", Tags: []string{"a"}})
	MustCreateMachine(t, s, &moonwake.Machine{Name: "other", MAC: "02:00:00:00:00:02"})
	if err := s.SyncConfigMachines(ctx, []*moonwake.Machine{{Name: "cfg", MAC: "02:00:00:00:00:03"}}); err != nil {
		t.Fatal(err)
	}

	t1 := clk.Add(time.Hour)
	m, err := s.UpdateMachine(ctx, "pc", moonwake.MachineUpdate{MAC: ptr("02-00-00-00-00-11"), Host: ptr(""), Port: ptr(7), Tags: &[]string{"B", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &moonwake.Machine{Name: "pc", MAC: "02:00:00:00:00:11", Port: 7, Tags: []string{"b", "c"}, Source: moonwake.SourceAPI, CreatedAt: t0, UpdatedAt: t1}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("updated\n%#v\nwant\n%#v", m, want)
	}
	if _, err := s.FindMachineByMAC(ctx, "02:00:00:00:00:01"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Fatalf("old MAC still found: %v", err)
	}
	if got, err := s.FindMachineByMAC(ctx, "02:00:00:00:00:11"); err != nil || got.Name != "pc" {
		t.Fatalf("new MAC: %v %v", got, err)
	}

	t.Run("NoChangeKeepsUpdatedAt", func(t *testing.T) {
		clk.Add(time.Hour)
		m, err := s.UpdateMachine(ctx, "pc", moonwake.MachineUpdate{Port: ptr(7)})
		if err != nil {
			t.Fatal(err)
		}
		if !m.UpdatedAt.Equal(t1) {
			t.Fatalf("UpdatedAt = %v, want %v", m.UpdatedAt, t1)
		}
	})

	for _, tt := range []struct {
		name, machine string
		u             moonwake.MachineUpdate
		code          string
	}{
		{"NotFound", "nope", moonwake.MachineUpdate{Port: ptr(9)}, moonwake.ENotFound},
		{"Config", "cfg", moonwake.MachineUpdate{Port: ptr(9)}, moonwake.EConflict},
		{"MACTaken", "pc", moonwake.MachineUpdate{MAC: ptr("02:00:00:00:00:02")}, moonwake.EConflict},
		{"MACOfConfig", "pc", moonwake.MachineUpdate{MAC: ptr("02:00:00:00:00:03")}, moonwake.EConflict},
		{"BadPort", "pc", moonwake.MachineUpdate{Port: ptr(70000)}, moonwake.EInvalid},
		{"BadMAC", "pc", moonwake.MachineUpdate{MAC: ptr("")}, moonwake.EInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateMachine(ctx, tt.machine, tt.u)
			wantCode(t, err, tt.code)
		})
	}
	if got, _ := s.FindMachine(ctx, "pc"); !reflect.DeepEqual(got, want) {
		t.Fatalf("failed updates changed the machine: %#v", got)
	}
}

func TestMachineService_DeleteMachine(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := sqlite.NewMachineService(db)
	MustCreateMachine(t, s, &moonwake.Machine{Name: "pc", MAC: "02:00:00:00:00:01"})
	if err := s.SyncConfigMachines(ctx, []*moonwake.Machine{{Name: "cfg", MAC: "02:00:00:00:00:03"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMachine(ctx, "pc"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindMachine(ctx, "pc"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Fatalf("deleted machine found: %v", err)
	}
	if _, err := s.FindMachineByMAC(ctx, "02:00:00:00:00:01"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Fatalf("deleted machine found by MAC: %v", err)
	}
	wantCode(t, s.DeleteMachine(ctx, "pc"), moonwake.ENotFound)
	wantCode(t, s.DeleteMachine(ctx, "cfg"), moonwake.EConflict)
	// The MAC is free again.
	MustCreateMachine(t, s, &moonwake.Machine{Name: "pc2", MAC: "02:00:00:00:00:01"})
}

// machineState is what a sync test compares: name → MAC and source.
type machineState map[string]string

func stateOf(tb testing.TB, s *sqlite.MachineService) machineState {
	tb.Helper()
	ms, err := s.ListMachines(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	st := machineState{}
	for _, m := range ms {
		st[m.Name] = m.MAC + " " + m.Source
	}
	return st
}

func TestMachineService_SyncConfigMachines(t *testing.T) {
	ctx := context.Background()
	mac := func(i int) string { return "02:00:00:00:00:0" + string(rune('0'+i)) }
	cfg := func(name string, i int) *moonwake.Machine { return &moonwake.Machine{Name: name, MAC: mac(i)} }

	for _, tt := range []struct {
		name   string
		api    []*moonwake.Machine // created through the API first
		before []*moonwake.Machine // synced first
		sync   []*moonwake.Machine
		code   string       // expected error code of the sync
		want   machineState // state after the sync; nil means unchanged
	}{
		{
			name: "CreateFromEmpty",
			sync: []*moonwake.Machine{cfg("a", 1), cfg("b", 2)},
			want: machineState{"a": mac(1) + " config", "b": mac(2) + " config"},
		},
		{
			name:   "UpdateAndDelete",
			api:    []*moonwake.Machine{cfg("x", 9)},
			before: []*moonwake.Machine{cfg("a", 1), cfg("b", 2)},
			sync:   []*moonwake.Machine{cfg("a", 3)},
			want:   machineState{"a": mac(3) + " config", "x": mac(9) + " api"},
		},
		{
			name: "ConfigReplacesAPIMachine",
			api:  []*moonwake.Machine{cfg("a", 1)},
			sync: []*moonwake.Machine{cfg("a", 2)},
			want: machineState{"a": mac(2) + " config"},
		},
		{
			name: "ConfigTakesMACOfReplacedAPIMachine",
			api:  []*moonwake.Machine{cfg("a", 1)},
			sync: []*moonwake.Machine{cfg("a", 2), cfg("b", 1)},
			want: machineState{"a": mac(2) + " config", "b": mac(1) + " config"},
		},
		{
			name:   "SwapMACs",
			before: []*moonwake.Machine{cfg("a", 1), cfg("b", 2)},
			sync:   []*moonwake.Machine{cfg("a", 2), cfg("b", 1)},
			want:   machineState{"a": mac(2) + " config", "b": mac(1) + " config"},
		},
		{
			name:   "TakeMACOfDeleted",
			before: []*moonwake.Machine{cfg("a", 1)},
			sync:   []*moonwake.Machine{cfg("b", 1)},
			want:   machineState{"b": mac(1) + " config"},
		},
		{
			name:   "Empty",
			api:    []*moonwake.Machine{cfg("x", 9)},
			before: []*moonwake.Machine{cfg("a", 1)},
			sync:   nil,
			want:   machineState{"x": mac(9) + " api"},
		},
		{
			name:   "DuplicateName",
			before: []*moonwake.Machine{cfg("a", 1)},
			sync:   []*moonwake.Machine{cfg("b", 2), cfg("b", 3)},
			code:   moonwake.EInvalid,
		},
		{
			name:   "DuplicateMAC",
			before: []*moonwake.Machine{cfg("a", 1)},
			sync:   []*moonwake.Machine{cfg("b", 2), {Name: "c", MAC: "02-00-00-00-00-02"}},
			code:   moonwake.EInvalid,
		},
		{
			name:   "Invalid",
			before: []*moonwake.Machine{cfg("a", 1)},
			sync:   []*moonwake.Machine{cfg("b", 2), {Name: "c", MAC: "nope"}},
			code:   moonwake.EInvalid,
		},
		{
			name:   "MACOfAPIMachine",
			api:    []*moonwake.Machine{cfg("x", 9)},
			before: []*moonwake.Machine{cfg("a", 1)},
			sync:   []*moonwake.Machine{cfg("a", 2), cfg("b", 9)},
			code:   moonwake.EConflict,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "moonwake.db")
			db, clk := MustOpenDBAt(t, path, newClock())
			s := sqlite.NewMachineService(db)
			for _, m := range tt.api {
				MustCreateMachine(t, s, m)
			}
			if tt.before != nil {
				if err := s.SyncConfigMachines(ctx, tt.before); err != nil {
					t.Fatal(err)
				}
			}
			prev := stateOf(t, s)
			err := s.SyncConfigMachines(ctx, tt.sync)
			wantCode(t, err, tt.code)
			want := tt.want
			if want == nil {
				want = prev
			}
			if got := stateOf(t, s); !reflect.DeepEqual(got, want) {
				t.Fatalf("state\n%v\nwant\n%v", got, want)
			}
			// The table agrees with the cache.
			db = Reopen(t, db, path, clk)
			if got := stateOf(t, sqlite.NewMachineService(db)); !reflect.DeepEqual(got, want) {
				t.Fatalf("state after reopen\n%v\nwant\n%v", got, want)
			}
		})
	}
}

func TestMachineService_SyncKeepsUnchanged(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	s := sqlite.NewMachineService(db)
	ms := []*moonwake.Machine{{Name: "a", MAC: "02:00:00:00:00:01", Tags: []string{"x"}}, {Name: "b", MAC: "02:00:00:00:00:02"}}
	if err := s.SyncConfigMachines(ctx, ms); err != nil {
		t.Fatal(err)
	}
	if ms[0].Source != "" || ms[0].CreatedAt != (time.Time{}) {
		t.Fatal("sync changed its argument")
	}
	t1 := clk.Add(time.Hour)
	ms[1].Host = "b.lan"
	if err := s.SyncConfigMachines(ctx, ms); err != nil {
		t.Fatal(err)
	}
	a, _ := s.FindMachine(ctx, "a")
	b, _ := s.FindMachine(ctx, "b")
	if !a.UpdatedAt.Equal(t0) || !b.UpdatedAt.Equal(t1) || !b.CreatedAt.Equal(t0) || b.Host != "b.lan" {
		t.Fatalf("a = %+v\nb = %+v", a, b)
	}
}

func TestMachineService_Persist(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	db, clk := MustOpenDBAt(t, path, newClock())
	s := sqlite.NewMachineService(db)
	MustCreateMachine(t, s, &moonwake.Machine{Name: "api1", MAC: "02:00:00:00:00:01", Interface: "eth0", Broadcast: "10.0.0.255", Port: 7, Password: "aabbccdd", Tags: []string{"t1", "t2"}})
	MustCreateMachine(t, s, &moonwake.Machine{Name: "api2", MAC: "02:00:00:00:00:02"})
	MustCreateMachine(t, s, &moonwake.Machine{Name: "gone", MAC: "02:00:00:00:00:05"})
	if err := s.SyncConfigMachines(ctx, []*moonwake.Machine{{Name: "c1", MAC: "02:00:00:00:00:03"}, {Name: "c2", MAC: "02:00:00:00:00:04"}}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	if err := s.SyncConfigMachines(ctx, []*moonwake.Machine{{Name: "c1", MAC: "02:00:00:00:00:04"}, {Name: "c2", MAC: "02:00:00:00:00:03"}, {Name: "api2", MAC: "02:00:00:00:00:06"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateMachine(ctx, "api1", moonwake.MachineUpdate{Host: ptr("h.lan")}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMachine(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	before, _ := s.ListMachines(ctx)

	db = Reopen(t, db, path, clk)
	after, err := sqlite.NewMachineService(db).ListMachines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("before close\n%v\nafter reopen\n%v", before, after)
	}
	if len(after) != 4 {
		t.Fatalf("%d machines, want 4", len(after))
	}
}

// The relay a machine names is stored, read back after a reopen, changed,
// cleared, and carried by config machines.
func TestMachineService_Relay(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	db, clk := MustOpenDBAt(t, path, newClock())
	s := sqlite.NewMachineService(db)

	MustCreateMachine(t, s, &moonwake.Machine{Name: "pc", MAC: "02:00:00:00:00:01", Relay: " office "})
	MustCreateMachine(t, s, &moonwake.Machine{Name: "nas", MAC: "02:00:00:00:00:02"})
	wantCode(t, s.CreateMachine(ctx, &moonwake.Machine{Name: "bad", MAC: "02:00:00:00:00:09", Relay: "Not A Name"}), moonwake.EInvalid)
	if err := s.SyncConfigMachines(ctx, []*moonwake.Machine{{Name: "cfg", MAC: "02:00:00:00:00:03", Relay: "lab"}}); err != nil {
		t.Fatal(err)
	}
	relays := func(s *sqlite.MachineService) map[string]string {
		t.Helper()
		ms, err := s.ListMachines(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, m := range ms {
			out[m.Name] = m.Relay
		}
		return out
	}
	check := func(s *sqlite.MachineService, want map[string]string) {
		t.Helper()
		if got := relays(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("relays %v, want %v", got, want)
		}
		db = Reopen(t, db, path, clk)
		if got := relays(sqlite.NewMachineService(db)); !reflect.DeepEqual(got, want) {
			t.Fatalf("relays after reopen %v, want %v", got, want)
		}
	}
	check(s, map[string]string{"pc": "office", "nas": "", "cfg": "lab"})

	s = sqlite.NewMachineService(db)
	m, err := s.UpdateMachine(ctx, "nas", moonwake.MachineUpdate{Relay: ptr("attic")})
	if err != nil || m.Relay != "attic" {
		t.Fatalf("set: %+v %v", m, err)
	}
	if m, err = s.UpdateMachine(ctx, "pc", moonwake.MachineUpdate{Relay: ptr("")}); err != nil || m.Relay != "" {
		t.Fatalf("clear: %+v %v", m, err)
	}
	if _, err := s.UpdateMachine(ctx, "pc", moonwake.MachineUpdate{Relay: ptr("no way")}); moonwake.ErrorCode(err) != moonwake.EInvalid {
		t.Fatalf("bad relay: %v", err)
	}
	// Only the relay of a config machine changes: the sync must write it.
	if err := s.SyncConfigMachines(ctx, []*moonwake.Machine{{Name: "cfg", MAC: "02:00:00:00:00:03", Relay: "garage"}}); err != nil {
		t.Fatal(err)
	}
	check(s, map[string]string{"pc": "", "nas": "attic", "cfg": "garage"})

	s = sqlite.NewMachineService(db)
	if err := s.SyncConfigMachines(ctx, []*moonwake.Machine{{Name: "cfg", MAC: "02:00:00:00:00:03"}}); err != nil {
		t.Fatal(err)
	}
	check(s, map[string]string{"pc": "", "nas": "attic", "cfg": ""})
}
