package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

func TestSunshineHosts(t *testing.T) {
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, ss := sqlite.NewMachineService(db), sqlite.NewSunshineService(db)
	if err := ms.CreateMachine(ctx, &moonwake.Machine{Name: "pc", MAC: "02:00:00:00:00:01"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Find(ctx, "pc"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Fatalf("find before save: %v", err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := ss.Save(ctx, &sqlite.SunshineHost{Machine: "pc", URL: "https://10.0.0.5:47984", ServerCert: "PEM1", PairedAt: at}); err != nil {
		t.Fatal(err)
	}
	// Pairing again replaces.
	if err := ss.Save(ctx, &sqlite.SunshineHost{Machine: "pc", URL: "https://10.0.0.6:47984", ServerCert: "PEM2", PairedAt: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	h, err := ss.Find(ctx, "pc")
	if err != nil {
		t.Fatal(err)
	}
	if h.Machine != "pc" || h.URL != "https://10.0.0.6:47984" || h.ServerCert != "PEM2" || !h.PairedAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("got %+v", h)
	}
	if err := ss.Delete(ctx, "pc"); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Find(ctx, "pc"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Fatalf("find after delete: %v", err)
	}
	if err := ss.Delete(ctx, "pc"); err != nil {
		t.Fatalf("delete of none: %v", err)
	}

	// A deleted machine takes its host with it.
	if err := ss.Save(ctx, &sqlite.SunshineHost{Machine: "pc", URL: "https://10.0.0.5:47984", ServerCert: "PEM1", PairedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := ms.DeleteMachine(ctx, "pc"); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Find(ctx, "pc"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Fatalf("host of a deleted machine still known: %v", err)
	}
}
