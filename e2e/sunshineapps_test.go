//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moonwake/moonwake/sunshine"
	"github.com/moonwake/moonwake/sunshine/sunshinetest"
)

// TestSleepFromMoonlight is the power apps end to end: the agent adds
// "Sleep PC", "Shut down PC" and "Restart PC" to the PC's (emulated)
// Sunshine host through its config API; a Moonlight client sees them in
// the app list and launches "Sleep PC" with GameStream's /launch; the
// host runs the app's command, "moonwake-agent request sleep", in the PC's
// namespace, which asks the running agent, which asks the hub over its
// link; the hub sends the agent a verified sleep; the PC goes dark and the
// audit log holds a succeeded sleep by sunshine/"Sleep PC". With the hub
// down, the launch fails (Moonlight shows it) and the command says why.
func TestSleepFromMoonlight(t *testing.T) {
	t.Parallel()
	l := newPCLAN(t, pcOptions{})
	l.bootAndPair(t)
	p := l.pc

	// The emulated Sunshine host listens on 127.0.0.1 of this process
	// (its GameStream and config API); what it runs, it runs on the PC.
	host := sunshinetest.New("1234")
	host.Run = func(ctx context.Context, argv []string) error {
		if len(argv) == 0 || argv[0] != p.agentBin {
			return fmt.Errorf("not the agent: %q", argv)
		}
		cmd := p.host.Exec(ctx, argv...)
		cmd.Env = p.agentEnv()
		out, err := cmd.CombinedOutput()
		t.Logf("Sunshine ran %q: %v\n%s", argv[1:], err, out)
		if err != nil {
			return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	host.Start()
	t.Cleanup(host.Close)
	web := host.StartWebUI("admin", "s3cret!", false)
	t.Cleanup(web.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := filepath.Join(p.dir, "agent.yaml")
	install := func() string {
		t.Helper()
		cmd := exec.CommandContext(ctx, p.agentBin, "sunshine", "apps", "install", "--web", web.Server.URL,
			"--https-port", fmt.Sprint(host.HTTPSPort()), "--user", "admin", "--config", cfg)
		cmd.Env = append(p.agentEnv(), "MOONWAKE_SUNSHINE_PASSWORD=s3cret!")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sunshine apps install: %v\n%s", err, out)
		}
		if strings.Contains(string(out), "s3cret!") {
			t.Errorf("the password was printed:\n%s", out)
		}
		return string(out)
	}
	if out := install(); strings.Count(out, "added") != 3 {
		t.Fatalf("install:\n%s", out)
	}
	if out := install(); strings.Count(out, "unchanged") != 3 {
		t.Fatalf("install again:\n%s", out)
	}

	// Moonlight pairs and lists the apps.
	id, err := sunshine.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	moonlight, err := sunshine.Pair(ctx, host.URL(), "1234", id, nil)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := moonlight.AppList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, title := range []string{"Sleep PC", "Shut down PC", "Restart PC"} {
		if _, err := sunshine.FindApp(apps, title); err != nil {
			t.Fatalf("%s: %v in %+v", title, err, apps)
		}
	}
	sleep, _ := sunshine.FindApp(apps, "Sleep PC")

	// The hub down: the launch fails, and what the command said is clear.
	if code := l.hp.signal(syscall.SIGTERM); code != 0 {
		t.Fatalf("hub exited %d", code)
	}
	if err := moonlight.Launch(ctx, sleep.ID); err == nil {
		t.Fatal("Sleep PC launched with the hub down")
	}
	if e := host.PrepErrors(); len(e) != 1 || !strings.Contains(e[0], "sleep not done: the hub did not take it") {
		t.Fatalf("Sunshine logged %q", e)
	}
	if p.State() != pcOn {
		t.Fatalf("the PC is %s with the hub down", p.State())
	}
	l.restartHub(t)
	l.hp.waitPower(t, "pc", 20*time.Second, "on with its agent linked again", func(w wirePower) bool {
		return w.Agent != nil && w.Agent.Connected && up(w.State)
	})

	launched := time.Now()
	if err := moonlight.Launch(ctx, sleep.ID); err != nil {
		t.Fatalf("launch Sleep PC: %v (Sunshine logged %q)", err, host.PrepErrors())
	}
	var a wireAction
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var list struct{ Actions []wireAction }
		l.hp.must(t, 200, "GET", "/api/v1/actions", l.hp.admin, nil).decode(t, &list)
		if len(list.Actions) > 0 && list.Actions[0].Kind == "sleep" && list.Actions[0].Status != "running" {
			a = list.Actions[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ended sleep in the audit log: %+v", list.Actions)
		}
	}
	st := p.Stats()
	if a.Status != "succeeded" || a.Actor.Kind != "sunshine" || a.Actor.Name != "Sleep PC" || !strings.HasPrefix(a.Detail, "pc is off after") {
		t.Fatalf("sleep action %+v", a)
	}
	if st.Commands["poweroff"] != 1 {
		t.Fatalf("the PC after the sleep: %+v, %s", st, p.State())
	}
	p.waitState(t, pcOff, 10*time.Second) // it may still be reaping its ip command
	if last := a.Steps[len(a.Steps)-1]; last.Kind != "verify" || last.Target != "off" {
		t.Errorf("last step %+v", last)
	}
	t.Logf("Sleep PC: launch to the PC dark %s, to verified %s; steps %q",
		st.OffAt.Sub(launched).Round(time.Millisecond), a.FinishedAt.Sub(launched).Round(time.Millisecond), stepKinds(a))
	if !strings.Contains(p.AgentLog(), "power request from a Sunshine app") {
		t.Errorf("the agent did not log the request:\n%s", p.AgentLog())
	}
}
