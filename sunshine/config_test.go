package sunshine_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake/sunshine"
	"github.com/moonwake/moonwake/sunshine/sunshinetest"
)

const agentPath = `/usr/local/bin/moonwake-agent`

func powerCmds(t *testing.T) map[string]string {
	t.Helper()
	cmds := map[string]string{}
	for _, p := range sunshine.PowerApps {
		c, err := sunshine.PowerAppCommand(agentPath, "/etc/moonwake-agent/config.yaml", p)
		if err != nil {
			t.Fatal(err)
		}
		cmds[p.Title] = c
	}
	return cmds
}

func titles(apps []sunshine.ConfigApp) []string {
	var out []string
	for _, a := range apps {
		out = append(out, a.Name)
	}
	return out
}

// TestPowerAppsThroughConfigAPI installs the power apps with the config
// API of an emulated Sunshine host, twice, launches one as Moonlight would
// (the host runs its prep command), and removes them, twice.
func TestPowerAppsThroughConfigAPI(t *testing.T) {
	var mu sync.Mutex
	var ran [][]string
	runErr := error(nil)
	f := startFake(t, "1234", func(s *sunshinetest.Server) {
		s.Run = func(ctx context.Context, argv []string) error {
			mu.Lock()
			defer mu.Unlock()
			ran = append(ran, argv)
			return runErr
		}
	})
	web := f.StartWebUI("admin", "s3cret!", false)
	t.Cleanup(web.Close)
	ctx := testCtx(t)

	if _, err := sunshine.NewConfigAPI(ctx, web.Server.URL, f.HTTPSPort(), "admin", "wrong", testIdentity(t)); err != nil {
		t.Fatal(err) // nothing is sent yet
	}
	bad, _ := sunshine.NewConfigAPI(ctx, web.Server.URL, f.HTTPSPort(), "admin", "wrong", testIdentity(t))
	if _, err := bad.Apps(ctx); !errors.Is(err, sunshine.ErrWebCredentials) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
	api, err := sunshine.NewConfigAPI(ctx, web.Server.URL, f.HTTPSPort(), "ADMIN", "s3cret!", testIdentity(t))
	if err != nil {
		t.Fatal(err)
	}
	cmds := powerCmds(t)
	done, err := api.InstallPowerApps(ctx, sunshine.PowerApps, cmds)
	if err != nil {
		t.Fatal(err)
	}
	if want := []sunshine.Change{{"Sleep PC", "added"}, {"Shut down PC", "added"}, {"Restart PC", "added"}}; !slices.Equal(done, want) {
		t.Fatalf("install: %v", done)
	}
	apps, err := api.Apps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Sunshine sorts by name at each save.
	if got := titles(apps); !slices.Equal(got, []string{"Desktop", "Restart PC", "Shut down PC", "Shutdown", "Sleep PC"}) {
		t.Fatalf("apps %q", got)
	}
	file := f.AppsFile()
	// What Boost writes: every value a string, '/' escaped.
	for _, want := range []string{`"exclude-global-prep-cmd": "true"`, `"exit-timeout": "5"`, `\/usr\/local\/bin\/moonwake-agent`, "\n    \"apps\": [\n"} {
		if !bytes.Contains(file, []byte(want)) {
			t.Errorf("apps.json lacks %q:\n%s", want, file)
		}
	}

	// Again: nothing changes, to the byte.
	done, err = api.InstallPowerApps(ctx, sunshine.PowerApps, cmds)
	if err != nil || len(done) != 3 || done[0].What != "unchanged" || done[2].What != "unchanged" {
		t.Fatalf("install again: %v %v", done, err)
	}
	if !bytes.Equal(f.AppsFile(), file) {
		t.Error("installing again changed apps.json")
	}
	// A changed agent path updates them in place.
	moved := map[string]string{}
	for _, p := range sunshine.PowerApps {
		moved[p.Title], _ = sunshine.PowerAppCommand("/opt/moonwake-agent", "", p)
	}
	done, err = api.InstallPowerApps(ctx, sunshine.PowerApps, moved)
	if err != nil || len(done) != 3 || done[0] != (sunshine.Change{"Sleep PC", "updated"}) {
		t.Fatalf("update: %v %v", done, err)
	}
	if apps, _ := api.Apps(ctx); len(apps) != 5 {
		t.Fatalf("after the update: %q", titles(apps))
	}

	// Moonlight sees them, and launching one runs its command.
	p, err := sunshine.Pair(ctx, f.URL(), "1234", testIdentity(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	list, err := p.AppList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sleep, err := sunshine.FindApp(list, "Sleep PC")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Launch(ctx, sleep.ID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(ran)
	runErr = errors.New("exit status 1")
	mu.Unlock()
	if want := []string{"/opt/moonwake-agent", "request", "sleep", "--app", "Sleep PC"}; len(got) != 1 || !slices.Equal(got[0], want) {
		t.Fatalf("ran %q, want %q", got, want)
	}
	// A command that fails fails the launch, as Moonlight shows it.
	if err := p.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Launch(ctx, sleep.ID); err == nil {
		t.Fatal("a launch whose command failed succeeded")
	}
	if e := f.PrepErrors(); len(e) != 1 || !strings.Contains(e[0], "exit status 1") {
		t.Errorf("Sunshine logged %q", e)
	}

	// Removing twice.
	done, err = api.RemovePowerApps(ctx)
	if err != nil || len(done) != 3 {
		t.Fatalf("remove: %v %v", done, err)
	}
	if apps, _ := api.Apps(ctx); !slices.Equal(titles(apps), []string{"Desktop", "Shutdown"}) {
		t.Fatalf("after remove: %q", titles(apps))
	}
	if done, err := api.RemovePowerApps(ctx); err != nil || len(done) != 0 {
		t.Fatalf("remove again: %v %v", done, err)
	}
}

// TestPowerAppsLeaveOthersAlone: an app of the same title that moonwake
// did not add stops the install before anything changes.
func TestPowerAppsLeaveOthersAlone(t *testing.T) {
	f := startFake(t, "1234", func(s *sunshinetest.Server) {
		s.Apps = append(s.Apps, sunshinetest.App{ID: 7, Title: "Sleep PC", Cmd: "rundll32.exe powrprof.dll,SetSuspendState 0,1,0"})
	})
	web := f.StartWebUI("admin", "s3cret!", false)
	t.Cleanup(web.Close)
	ctx := testCtx(t)
	api, err := sunshine.NewConfigAPI(ctx, web.Server.URL, f.HTTPSPort(), "admin", "s3cret!", testIdentity(t))
	if err != nil {
		t.Fatal(err)
	}
	before := f.AppsFile()
	if _, err := api.InstallPowerApps(ctx, sunshine.PowerApps, powerCmds(t)); !errors.Is(err, sunshine.ErrAppTaken) {
		t.Fatalf("install over someone's Sleep PC: %v", err)
	}
	if !bytes.Equal(before, f.AppsFile()) {
		t.Error("a refused install changed apps.json")
	}
	if done, err := api.RemovePowerApps(ctx); err != nil || len(done) != 0 {
		t.Fatalf("remove took someone's app: %v %v", done, err)
	}
}

// TestConfigAPIRefusesAnotherCertificate: a web UI that presents another
// certificate than the GameStream port gets no credentials.
func TestConfigAPIRefusesAnotherCertificate(t *testing.T) {
	f := startFake(t, "1234", nil)
	web := f.StartWebUI("admin", "s3cret!", true)
	t.Cleanup(web.Close)
	_, err := sunshine.NewConfigAPI(testCtx(t), web.Server.URL, f.HTTPSPort(), "admin", "s3cret!", testIdentity(t))
	if !errors.Is(err, sunshine.ErrMITM) || web.SawAuthorization() {
		t.Fatalf("%v; credentials sent: %v", err, web.SawAuthorization())
	}
}

func TestEditAppsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apps.json")
	orig := []byte(`{
  "env": {"PATH": "$(PATH):$(HOME)/.local/bin"},
  "apps": [
    {"name": "Desktop", "image-path": "desktop.png"},
    {"name": "Steam Big Picture", "detached": ["setsid steam steam://open/bigpicture"], "prep-cmd": [{"do": "", "undo": "setsid steam steam://close/bigpicture"}]}
  ]
}
`)
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	done, backup, err := sunshine.EditAppsFile(path, sunshine.PowerApps, powerCmds(t), now)
	if err != nil || len(done) != 3 || done[1] != (sunshine.Change{"Shut down PC", "added"}) {
		t.Fatalf("install: %v %v", done, err)
	}
	if b, err := os.ReadFile(backup); err != nil || !bytes.Equal(b, orig) || !strings.HasSuffix(backup, "apps.json.20261204T200000Z.bak") {
		t.Fatalf("backup %s: %v", backup, err)
	}
	b, _ := os.ReadFile(path)
	apps, err := sunshine.ParseApps(b)
	if err != nil || !slices.Equal(titles(apps), []string{"Desktop", "Steam Big Picture", "Sleep PC", "Shut down PC", "Restart PC"}) {
		t.Fatalf("apps.json now: %q %v\n%s", titles(apps), err, b)
	}
	if !bytes.Contains(b, []byte(`"$(PATH):$(HOME)/.local/bin"`)) || !bytes.Contains(b, []byte("steam://close/bigpicture")) {
		t.Errorf("the rest of the file was lost:\n%s", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	// Idempotent: no change, no backup.
	done, backup, err = sunshine.EditAppsFile(path, sunshine.PowerApps, powerCmds(t), now.Add(time.Minute))
	if err != nil || backup != "" || len(done) != 3 || done[0].What != "unchanged" {
		t.Fatalf("install again: %v %q %v", done, backup, err)
	}
	done, _, err = sunshine.EditAppsFile(path, nil, nil, now.Add(2*time.Minute))
	if err != nil || len(done) != 3 {
		t.Fatalf("remove: %v %v", done, err)
	}
	b, _ = os.ReadFile(path)
	if apps, _ := sunshine.ParseApps(b); !slices.Equal(titles(apps), []string{"Desktop", "Steam Big Picture"}) {
		t.Fatalf("after remove: %q", titles(apps))
	}
	if done, backup, err := sunshine.EditAppsFile(path, nil, nil, now.Add(3*time.Minute)); err != nil || len(done) != 0 || backup != "" {
		t.Fatalf("remove again: %v %q %v", done, backup, err)
	}
}

func FuzzParseApps(f *testing.F) {
	f.Add([]byte(`{"env":{"PATH":"x"},"apps":[{"name":"Desktop","image-path":"desktop.png"}]}`))
	f.Add([]byte("{\n    \"apps\": [\n        {\n            \"name\": \"Sleep PC\",\n            \"prep-cmd\": [\n                {\n                    \"do\": \"\\\"\\/usr\\/bin\\/moonwake-agent\\\" request sleep --app \\\"Sleep PC\\\"\",\n                    \"undo\": \"\",\n                    \"elevated\": \"false\"\n                }\n            ],\n            \"exit-timeout\": \"5\"\n        }\n    ]\n}\n"))
	f.Add([]byte(`{"apps":[{"name":"x","prep-cmd":"","cmd":5}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		apps, err := sunshine.ParseApps(b)
		if err != nil {
			return
		}
		for i, a := range apps {
			if a.Index != i {
				t.Fatalf("app %d has index %d", i, a.Index)
			}
		}
	})
}
