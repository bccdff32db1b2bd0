package agent

import (
	"net"
	"os"
	"testing"
	"testing/fstest"
)

func mustMAC(t testing.TB, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseLinkFile(t *testing.T) {
	def := parseLinkFile("/usr/lib/systemd/network/99-default.link", readFixture(t, "systemd-network/99-default.link"))
	if got := def.match["OriginalName"]; len(got) != 1 || got[0] != "*" {
		t.Errorf("99-default OriginalName = %q", got)
	}
	if def.wakeOnLan != "" {
		t.Errorf("99-default WakeOnLan = %q, want unset", def.wakeOnLan)
	}
	off := parseLinkFile("10-off.link", readFixture(t, "systemd-network/10-off.link"))
	if got := off.match["Driver"]; len(got) != 2 || got[0] != "r8169" || got[1] != "igb" {
		t.Errorf("continued Driver= = %q, want [r8169 igb]", got)
	}
	if off.wakeOnLan != "off" || linkWakesOnMagic(off.wakeOnLan) {
		t.Errorf("10-off WakeOnLan = %q", off.wakeOnLan)
	}
	path := parseLinkFile("20-path.link", readFixture(t, "systemd-network/20-path.link"))
	if !linkWakesOnMagic(path.wakeOnLan) {
		t.Errorf("%q does not wake on magic", path.wakeOnLan)
	}
	reset := parseLinkFile("x.link", []byte("[Match]\nDriver=e1000e\nDriver=\n[Link]\nWakeOnLan=magic\n"))
	if len(reset.match) != 0 {
		t.Errorf("an empty assignment did not reset Driver=: %q", reset.match)
	}
}

func TestLinkMatches(t *testing.T) {
	intel := nicInfo{name: "enp0s31f6", driver: "e1000e", mac: mustMAC(t, "3c:7c:3f:1e:22:a0")}
	realtek := nicInfo{name: "enp3s0", driver: "r8169", mac: mustMAC(t, "00:e0:4c:68:00:01")}
	unknownDriver := nicInfo{name: "eth0", mac: mustMAC(t, "00:e0:4c:68:00:02")}
	lf := func(s string) linkFile { return parseLinkFile("t.link", []byte(s)) }
	tests := []struct {
		name string
		file linkFile
		nic  nicInfo
		want matchResult
	}{
		{"default matches all", parseLinkFile("99", readFixture(t, "systemd-network/99-default.link")), intel, matchYes},
		{"mac yes", parseLinkFile("50", readFixture(t, "systemd-network/50-wol.link")), intel, matchYes},
		{"mac no", parseLinkFile("50", readFixture(t, "systemd-network/50-wol.link")), realtek, matchNo},
		{"driver list yes", parseLinkFile("10", readFixture(t, "systemd-network/10-off.link")), realtek, matchYes},
		{"driver list no", parseLinkFile("10", readFixture(t, "systemd-network/10-off.link")), intel, matchNo},
		{"driver unknown", parseLinkFile("10", readFixture(t, "systemd-network/10-off.link")), unknownDriver, matchMaybe},
		{"path cannot be checked", parseLinkFile("20", readFixture(t, "systemd-network/20-path.link")), intel, matchMaybe},
		{"no match section", lf("[Link]\nWakeOnLan=magic\n"), intel, matchNo},
		{"original name glob on current name", lf("[Match]\nOriginalName=enp*\n"), intel, matchYes},
		{"original name may differ", lf("[Match]\nOriginalName=eth*\n"), intel, matchMaybe},
		{"inverted driver", lf("[Match]\nDriver=!r8169\n"), intel, matchYes},
		{"inverted driver no", lf("[Match]\nDriver=!r8169\n"), realtek, matchNo},
		{"virtual kind", lf("[Match]\nKind=bridge\n"), intel, matchNo},
		{"type wlan", lf("[Match]\nType=wlan\n"), intel, matchNo},
		{"mac list", lf("[Match]\nMACAddress=00:00:00:00:00:01 00:E0:4C:68:00:01\n"), realtek, matchYes},
	}
	for _, tt := range tests {
		if got := tt.file.matches(tt.nic); got != tt.want {
			t.Errorf("%s: matches = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// linkFS is a root file system with .link files where systemd keeps them.
func linkFS(t testing.TB, files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for p, fixture := range files {
		fsys[p] = &fstest.MapFile{Data: readFixture(t, "systemd-network/"+fixture)}
	}
	return fsys
}

func TestApplicableLink(t *testing.T) {
	intel := nicInfo{name: "enp0s31f6", driver: "e1000e", mac: mustMAC(t, "3c:7c:3f:1e:22:a0")}
	realtek := nicInfo{name: "enp3s0", driver: "r8169", mac: mustMAC(t, "00:e0:4c:68:00:01")}

	root := linkFS(t, map[string]string{
		"usr/lib/systemd/network/99-default.link": "99-default.link",
		"etc/systemd/network/50-wol.link":         "50-wol.link",
		"etc/systemd/network/10-off.link":         "10-off.link",
	})
	files := readLinkFiles(root)
	if len(files) != 3 || files[0].path != "/etc/systemd/network/10-off.link" || files[2].path != "/usr/lib/systemd/network/99-default.link" {
		t.Fatalf("files in order: %+v", files)
	}
	if lf, found, sure := applicableLink(files, intel); !found || !sure || lf.path != "/etc/systemd/network/50-wol.link" {
		t.Errorf("intel: %s %v %v", lf.path, found, sure)
	}
	if lf, found, sure := applicableLink(files, realtek); !found || !sure || lf.wakeOnLan != "off" {
		t.Errorf("realtek: %s %v %v", lf.path, found, sure)
	}

	// A same-named file in /etc hides the one in /usr/lib: here an empty
	// 99-default.link (a mask) leaves nothing that applies.
	root["etc/systemd/network/99-default.link"] = &fstest.MapFile{}
	delete(root, "etc/systemd/network/50-wol.link")
	delete(root, "etc/systemd/network/10-off.link")
	if lf, found, _ := applicableLink(readLinkFiles(root), intel); found {
		t.Errorf("masked default still applies: %+v", lf)
	}

	// A file that may match comes first: the answer is not sure.
	root = linkFS(t, map[string]string{
		"lib/systemd/network/20-path.link":        "20-path.link",
		"lib/systemd/network/99-default.link":     "99-default.link",
		"usr/lib/systemd/network/99-default.link": "99-default.link",
	})
	lf, found, sure := applicableLink(readLinkFiles(root), intel)
	if !found || sure || lf.path != "/lib/systemd/network/20-path.link" {
		t.Errorf("path file: %s %v %v", lf.path, found, sure)
	}
}

func TestNmcliParsing(t *testing.T) {
	conns := parseNmcliActive(readFixture(t, "nmcli/active.txt"))
	if len(conns) != 3 {
		t.Fatalf("%d connections: %+v", len(conns), conns)
	}
	if c := conns[0]; c.device != "enp3s0" || c.typ != "802-3-ethernet" || c.uuid != "7f3b1c2e-58a4-4b8e-9d1f-0a6c2d3e4f51" || c.name != "Wired connection 1" {
		t.Errorf("first = %+v", c)
	}
	if c := conns[1]; c.name != "Home: 5GHz" {
		t.Errorf("escaped colon: name = %q", c.name)
	}
	for file, want := range map[string]nmWake{
		"wol-default.txt":     nmWakeLeaves,
		"wol-magic.txt":       nmWakeMagic,
		"wol-none.txt":        nmWakeOther,
		"wol-phy-unicast.txt": nmWakeOther,
	} {
		v, ok := parseNmcliField(readFixture(t, "nmcli/"+file), "802-3-ethernet.wake-on-lan")
		if !ok {
			t.Errorf("%s: no field", file)
			continue
		}
		if got := nmWakeOf(v, nmWakeLeaves); got != want {
			t.Errorf("%s: %q → %d, want %d", file, v, got, want)
		}
	}
	if got := nmWakeOf("default", nmWakeMagic); got != nmWakeMagic {
		t.Errorf("default with a global magic = %d", got)
	}
	for v, want := range map[string]nmWake{"0x40": nmWakeMagic, "64": nmWakeMagic, "0": nmWakeOther, "0x8000": nmWakeLeaves, "ignore": nmWakeLeaves, "": nmWakeLeaves} {
		if got := nmWakeOf(v, nmWakeLeaves); got != want {
			t.Errorf("nmWakeOf(%q) = %d, want %d", v, got, want)
		}
	}
	if got := splitNmcliTerse(`a\\b:c\:d:`); len(got) != 3 || got[0] != `a\b` || got[1] != "c:d" || got[2] != "" {
		t.Errorf("splitNmcliTerse = %q", got)
	}
}

func TestNMGlobalWake(t *testing.T) {
	root := fstest.MapFS{}
	if got := nmGlobalWake(root); got != nmWakeLeaves {
		t.Errorf("no configuration: %d", got)
	}
	root["etc/NetworkManager/NetworkManager.conf"] = &fstest.MapFile{Data: []byte("[main]\nplugins=ifupdown,keyfile\n\n[connection]\nethernet.wake-on-lan=magic\n")}
	if got := nmGlobalWake(root); got != nmWakeMagic {
		t.Errorf("NetworkManager.conf magic: %d", got)
	}
	root["etc/NetworkManager/conf.d/90-wol.conf"] = &fstest.MapFile{Data: []byte("[connection-wired]\nmatch-device=type:ethernet\nethernet.wake-on-lan = 0\n")}
	if got := nmGlobalWake(root); got != nmWakeOther {
		t.Errorf("conf.d overriding with 0: %d", got)
	}
}

func TestTLPWake(t *testing.T) {
	root := fstest.MapFS{}
	if installed, _, _ := tlpWake(root); installed {
		t.Fatal("TLP found in an empty file system")
	}
	root["usr/sbin/tlp"] = &fstest.MapFile{Data: []byte("#!/bin/sh\n"), Mode: 0o755}
	if installed, disables, src := tlpWake(root); !installed || !disables || src != "TLP's default" {
		t.Errorf("default: %v %v %q", installed, disables, src)
	}
	root["etc/tlp.conf"] = &fstest.MapFile{Data: []byte("# WOL_DISABLE=Y\nWOL_DISABLE=\"N\"  # keep WoL\n")}
	if _, disables, src := tlpWake(root); disables || src != "/etc/tlp.conf" {
		t.Errorf("WOL_DISABLE=N: %v %q", disables, src)
	}
	root["etc/default/tlp"] = &fstest.MapFile{Data: []byte("WOL_DISABLE=Y\n")}
	if _, disables, _ := tlpWake(root); !disables {
		t.Error("a later WOL_DISABLE=Y did not win")
	}
}
