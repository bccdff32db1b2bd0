package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// fakeSysfs adds interfaces to a root file system the way /sys/class/net
// shows them.
func addNIC(fsys fstest.MapFS, name, typ, mac, driver string, extra ...string) {
	dir := "sys/class/net/" + name + "/"
	fsys[dir+"type"] = &fstest.MapFile{Data: []byte(typ + "\n")}
	fsys[dir+"address"] = &fstest.MapFile{Data: []byte(mac + "\n")}
	if driver != "" {
		fsys[dir+"device/uevent"] = &fstest.MapFile{Data: []byte("DRIVER=" + driver + "\nPCI_CLASS=20000\n")}
	}
	for _, e := range extra {
		fsys[dir+e+"/uevent"] = &fstest.MapFile{Data: []byte("DEVTYPE=" + e + "\n")}
	}
}

// fakeRunner answers commands from a table keyed by the argv joined with
// spaces; anything else fails like a missing program.
type fakeRunner struct {
	mu      sync.Mutex
	answers map[string]string
	calls   []string
}

func (f *fakeRunner) run(_ context.Context, name string, args ...string) ([]byte, error) {
	key := strings.Join(append([]string{name}, args...), " ")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, key)
	if out, ok := f.answers[key]; ok {
		return []byte(out), nil
	}
	return nil, fmt.Errorf("%s: executable file not found in $PATH", name)
}

// fakeNICs stands in for the ethtool ioctls.
type fakeNICs struct {
	mu   sync.Mutex
	wol  map[string]wolInfo
	errs map[string]error
	sets []string
}

func (f *fakeNICs) get(name string) (wolInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[name]; err != nil {
		return wolInfo{}, err
	}
	w, ok := f.wol[name]
	if !ok {
		return wolInfo{}, errors.New("no such device")
	}
	return w, nil
}

func (f *fakeNICs) set(name string, w wolInfo) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, name+" "+wolModes(w.wolopts))
	f.wol[name] = w
	return nil
}

func checkByName(t *testing.T, checks []check, name string) check {
	t.Helper()
	for _, c := range checks {
		if c.name == name {
			return c
		}
	}
	var names []string
	for _, c := range checks {
		names = append(names, c.name)
	}
	t.Fatalf("no check %q in %q", name, names)
	return check{}
}

func TestListWiredNICs(t *testing.T) {
	root := fstest.MapFS{}
	addNIC(root, "enp0s31f6", "1", "3c:7c:3f:1e:22:a0", "e1000e")
	addNIC(root, "wlp2s0", "1", "a0:b1:c2:d3:e4:f5", "iwlwifi", "wireless")
	addNIC(root, "wlan1", "1", "a0:b1:c2:d3:e4:f6", "ath9k_htc", "phy80211")
	addNIC(root, "lo", "772", "00:00:00:00:00:00", "")
	addNIC(root, "docker0", "1", "02:42:ac:11:00:01", "")
	addNIC(root, "ib0", "32", "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:01:02:03", "mlx4_core")
	nics, err := listWiredNICs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(nics) != 1 || nics[0].name != "enp0s31f6" || nics[0].driver != "e1000e" || nics[0].mac.String() != "3c:7c:3f:1e:22:a0" {
		t.Fatalf("nics = %+v", nics)
	}
	if _, err := listWiredNICs(fstest.MapFS{}); err == nil {
		t.Error("no sysfs: no error")
	}
}

func TestLinuxChecks(t *testing.T) {
	ctx := context.Background()
	nmRunning := map[string]string{
		"nmcli -t -f RUNNING general":                                "running\n",
		"nmcli -t -f DEVICE,TYPE,UUID,NAME connection show --active": string(readFixture(t, "nmcli/active.txt")),
	}
	nmWol := func(fixture string) map[string]string {
		m := map[string]string{}
		for k, v := range nmRunning {
			m[k] = v
		}
		m["nmcli -t -f 802-3-ethernet.wake-on-lan connection show uuid 7f3b1c2e-58a4-4b8e-9d1f-0a6c2d3e4f51"] = string(readFixture(t, "nmcli/"+fixture))
		return m
	}

	t.Run("no wired interface", func(t *testing.T) {
		root := fstest.MapFS{}
		addNIC(root, "wlp2s0", "1", "a0:b1:c2:d3:e4:f5", "iwlwifi", "wireless")
		checks := linuxChecks(ctx, linuxNICSys{root: root, getWol: (&fakeNICs{}).get, run: (&fakeRunner{}).run})
		if len(checks) != 1 || checks[0].state != checkFail || checks[0].name != "wired network interface" {
			t.Fatalf("checks = %+v", checks)
		}
	})

	t.Run("magic on and kept by a link file", func(t *testing.T) {
		root := linkFS(t, map[string]string{
			"etc/systemd/network/50-wol.link":         "50-wol.link",
			"usr/lib/systemd/network/99-default.link": "99-default.link",
		})
		addNIC(root, "enp0s31f6", "1", "3c:7c:3f:1e:22:a0", "e1000e")
		nics := &fakeNICs{wol: map[string]wolInfo{"enp0s31f6": {supported: 0x2f, wolopts: wakeMagic}}}
		checks := linuxChecks(ctx, linuxNICSys{root: root, getWol: nics.get, run: (&fakeRunner{}).run})
		if len(checks) != 2 {
			t.Fatalf("checks = %+v", checks)
		}
		mode := checkByName(t, checks, "enp0s31f6 (e1000e) wake mode")
		if mode.state != checkPass || mode.detail != "magic packet is on (wake on g, supports pumbg)" {
			t.Errorf("mode = %+v", mode)
		}
		boot := checkByName(t, checks, "enp0s31f6 at boot")
		if boot.state != checkPass || !strings.Contains(boot.detail, "/etc/systemd/network/50-wol.link sets WakeOnLan=magic") {
			t.Errorf("boot = %+v", boot)
		}
	})

	t.Run("magic off, NetworkManager sets none", func(t *testing.T) {
		root := linkFS(t, map[string]string{"usr/lib/systemd/network/99-default.link": "99-default.link"})
		addNIC(root, "enp3s0", "1", "00:e0:4c:68:00:01", "r8169")
		nics := &fakeNICs{wol: map[string]wolInfo{"enp3s0": {supported: 0x3f}}}
		checks := linuxChecks(ctx, linuxNICSys{root: root, getWol: nics.get, setWol: nics.set, run: (&fakeRunner{answers: nmWol("wol-none.txt")}).run})
		mode := checkByName(t, checks, "enp3s0 (r8169) wake mode")
		if mode.state != checkFail || mode.fix == nil || !strings.Contains(mode.detail, "wake on d, supports pumbag") {
			t.Fatalf("mode = %+v", mode)
		}
		if err := mode.fix.apply(ctx); err != nil {
			t.Fatal(err)
		}
		if len(nics.sets) != 1 || nics.sets[0] != "enp3s0 g" {
			t.Errorf("set = %q", nics.sets)
		}
		boot := checkByName(t, checks, "enp3s0 at boot")
		if boot.state != checkFail || !strings.Contains(boot.detail, `"Wired connection 1" sets wake-on-lan to "none"`) {
			t.Errorf("boot = %+v", boot)
		}
		if !strings.Contains(strings.Join(boot.howTo, "\n"), "nmcli connection modify 7f3b1c2e-58a4-4b8e-9d1f-0a6c2d3e4f51 802-3-ethernet.wake-on-lan magic") {
			t.Errorf("howTo = %q", boot.howTo)
		}
	})

	t.Run("NetworkManager default leaves it, nothing else sets it", func(t *testing.T) {
		root := linkFS(t, map[string]string{"usr/lib/systemd/network/99-default.link": "99-default.link"})
		addNIC(root, "enp3s0", "1", "00:e0:4c:68:00:01", "r8169")
		nics := &fakeNICs{wol: map[string]wolInfo{"enp3s0": {supported: 0x3f, wolopts: wakeMagic}}}
		checks := linuxChecks(ctx, linuxNICSys{root: root, getWol: nics.get, run: (&fakeRunner{answers: nmWol("wol-default.txt")}).run})
		boot := checkByName(t, checks, "enp3s0 at boot")
		if boot.state != checkWarn || !strings.Contains(boot.detail, "nothing sets magic-packet wake at boot") {
			t.Errorf("boot = %+v", boot)
		}
		if !strings.Contains(strings.Join(boot.howTo, "\n"), "nmcli connection modify") {
			t.Errorf("howTo does not use nmcli for a managed interface: %q", boot.howTo)
		}
	})

	t.Run("NetworkManager magic wins over a link file", func(t *testing.T) {
		root := linkFS(t, map[string]string{"etc/systemd/network/10-off.link": "10-off.link"})
		addNIC(root, "enp3s0", "1", "00:e0:4c:68:00:01", "r8169")
		nics := &fakeNICs{wol: map[string]wolInfo{"enp3s0": {supported: 0x3f, wolopts: wakeMagic}}}
		checks := linuxChecks(ctx, linuxNICSys{root: root, getWol: nics.get, run: (&fakeRunner{answers: nmWol("wol-magic.txt")}).run})
		if boot := checkByName(t, checks, "enp3s0 at boot"); boot.state != checkPass {
			t.Errorf("boot = %+v", boot)
		}
	})

	t.Run("link file turns it off", func(t *testing.T) {
		root := linkFS(t, map[string]string{"etc/systemd/network/10-off.link": "10-off.link"})
		addNIC(root, "enp3s0", "1", "00:e0:4c:68:00:01", "r8169")
		nics := &fakeNICs{wol: map[string]wolInfo{"enp3s0": {supported: 0x3f, wolopts: wakeMagic}}}
		checks := linuxChecks(ctx, linuxNICSys{root: root, getWol: nics.get, run: (&fakeRunner{}).run})
		boot := checkByName(t, checks, "enp3s0 at boot")
		if boot.state != checkFail || !strings.Contains(boot.detail, "10-off.link sets WakeOnLan=off") {
			t.Errorf("boot = %+v", boot)
		}
		if !strings.Contains(strings.Join(boot.howTo, "\n"), "MACAddress=00:e0:4c:68:00:01") {
			t.Errorf("howTo = %q", boot.howTo)
		}
	})

	t.Run("unsupported, no permission, no magic, TLP", func(t *testing.T) {
		root := fstest.MapFS{"usr/sbin/tlp": &fstest.MapFile{Mode: 0o755}}
		addNIC(root, "eth0", "1", "52:54:00:12:34:56", "virtio_net")
		addNIC(root, "eth1", "1", "52:54:00:12:34:57", "e1000e")
		addNIC(root, "eth2", "1", "52:54:00:12:34:58", "ax88179_178a")
		nics := &fakeNICs{
			wol: map[string]wolInfo{"eth2": {supported: wakePHY}},
			errs: map[string]error{
				"eth0": fmt.Errorf("read wake mode of eth0: %w", errWolUnsupported),
				"eth1": fmt.Errorf("read wake mode of eth1: %w", errWolPermission),
			},
		}
		checks := linuxChecks(ctx, linuxNICSys{root: root, getWol: nics.get, run: (&fakeRunner{}).run})
		if c := checkByName(t, checks, "eth0 (virtio_net) wake mode"); c.state != checkFail || c.fix != nil {
			t.Errorf("unsupported: %+v", c)
		}
		if c := checkByName(t, checks, "eth1 (e1000e) wake mode"); c.state != checkWarn || !strings.Contains(c.detail, "root") {
			t.Errorf("permission: %+v", c)
		}
		if c := checkByName(t, checks, "eth2 (ax88179_178a) wake mode"); c.state != checkFail || c.fix != nil || !strings.Contains(c.detail, "cannot wake on a magic packet") {
			t.Errorf("no magic: %+v", c)
		}
		if c := checkByName(t, checks, "TLP"); c.state != checkFail || !strings.Contains(c.detail, "WOL_DISABLE=Y") {
			t.Errorf("TLP: %+v", c)
		}
	})
}

// TestDoctorLinuxFix runs the whole doctor on a fake Linux machine whose
// NIC has magic-packet wake off, and fixes it with consent.
func TestDoctorLinuxFix(t *testing.T) {
	newSys := func() (linuxNICSys, *fakeNICs) {
		root := linkFS(t, map[string]string{"usr/lib/systemd/network/99-default.link": "99-default.link"})
		addNIC(root, "enp3s0", "1", "00:e0:4c:68:00:01", "r8169")
		nics := &fakeNICs{wol: map[string]wolInfo{"enp3s0": {supported: 0x3f, sopass: [6]byte{9}}}}
		return linuxNICSys{root: root, getWol: nics.get, setWol: nics.set, run: (&fakeRunner{}).run}, nics
	}
	run := func(fix bool, answer bool) (string, *fakeNICs, []string, error) {
		sys, nics := newSys()
		var out bytes.Buffer
		var asked []string
		d := &doctor{
			checks: func(ctx context.Context) []check { return linuxChecks(ctx, sys) },
			confirm: func(q string) (bool, error) {
				asked = append(asked, q)
				return answer, nil
			},
			out: &out,
		}
		err := d.run(context.Background(), fix)
		return out.String(), nics, asked, err
	}

	out, nics, asked, err := run(false, true)
	if err == nil || !strings.Contains(err.Error(), "enp3s0 (r8169) wake mode") {
		t.Errorf("without --fix: err = %v", err)
	}
	if len(nics.sets) != 0 || len(asked) != 0 {
		t.Errorf("without --fix: set %q, asked %q", nics.sets, asked)
	}
	for _, want := range []string{
		"✗ enp3s0 (r8169) wake mode: magic packet is off (wake on d, supports pumbag)",
		"! enp3s0 at boot: nothing sets magic-packet wake at boot",
		"How to fix:",
		"ethtool -s enp3s0 wol g",
		"WakeOnLan=magic",
		"run doctor again with --fix",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, nics, asked, err = run(true, false)
	if err == nil || len(nics.sets) != 0 || len(asked) != 1 || !strings.Contains(out, "skipped") {
		t.Errorf("--fix, answered no: err %v, set %q, asked %q\n%s", err, nics.sets, asked, out)
	}

	out, nics, asked, err = run(true, true)
	if err != nil {
		t.Errorf("--fix, answered yes: %v\n%s", err, out)
	}
	if len(asked) != 1 || !strings.Contains(asked[0], "ethtool -s enp3s0 wol g") {
		t.Errorf("asked %q", asked)
	}
	if len(nics.sets) != 1 || nics.sets[0] != "enp3s0 g" || nics.wol["enp3s0"].sopass != [6]byte{9} {
		t.Errorf("set %q, now %+v", nics.sets, nics.wol["enp3s0"])
	}
	if !strings.Contains(out, "After fixing:\n✓ enp3s0 (r8169) wake mode: magic packet is on (wake on g, supports pumbag)") {
		t.Errorf("no re-check after the fix:\n%s", out)
	}
}
