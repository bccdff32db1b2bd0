package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParseNetAdapterPM(t *testing.T) {
	one := parseNetAdapterPM(readFixture(t, "netadapter/pm-intel-enabled.txt"))
	if len(one) != 1 || one[0] != (netAdapterPM{
		name: "Ethernet", description: "Intel(R) Ethernet Connection (7) I219-V",
		wakeOnMagicPacket: "Enabled", wakeOnPattern: "Enabled", allowTurnOff: "Enabled",
	}) {
		t.Errorf("one = %+v", one)
	}
	three := parseNetAdapterPM(readFixture(t, "netadapter/pm-three.txt"))
	if len(three) != 3 {
		t.Fatalf("three = %+v", three)
	}
	if three[0].wakeOnMagicPacket != "Disabled" || three[1].name != "Ethernet 2" || three[2].wakeOnMagicPacket != "Unsupported" {
		t.Errorf("three = %+v", three)
	}
	wrapped := parseNetAdapterPM(readFixture(t, "netadapter/pm-wrapped.txt"))
	if len(wrapped) != 1 || wrapped[0].name != "Wired: Office (left port)" ||
		wrapped[0].description != "Intel(R) Ethernet Controller (3) I225-V with a very long description" ||
		wrapped[0].wakeOnMagicPacket != "Inactive" {
		t.Errorf("wrapped = %+v", wrapped)
	}
	if got := parseNetAdapterPM(readFixture(t, "netadapter/pm-empty.txt")); len(got) != 0 {
		t.Errorf("empty = %+v", got)
	}
}

func TestParseWakeArmed(t *testing.T) {
	got := parseWakeArmed(readFixture(t, "powercfg/wake_armed-nic.txt"))
	want := []string{"Microsoft USB IntelliMouse Explorer", "HID Keyboard Device (003)", "Intel(R) Ethernet Connection (7) I219-V"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", got)
	}
	if got := parseWakeArmed(readFixture(t, "powercfg/wake_armed-none.txt")); len(got) != 0 {
		t.Errorf("NONE = %q", got)
	}
}

func TestFastStartupCheck(t *testing.T) {
	disabled := false
	disable := func() error { disabled = true; return nil }
	tests := []struct {
		name  string
		st    fastStartupState
		err   error
		state checkState
		fix   bool
	}{
		{"on", fastStartupState{hiberboot: 1, hiberbootSet: true, hibernate: 1, hibernateSet: true}, nil, checkFail, true},
		{"off", fastStartupState{hiberboot: 0, hiberbootSet: true}, nil, checkPass, false},
		{"no hibernation", fastStartupState{hiberboot: 1, hiberbootSet: true, hibernate: 0, hibernateSet: true}, nil, checkPass, false},
		{"unset", fastStartupState{}, nil, checkWarn, true},
		{"unreadable", fastStartupState{}, errors.New("access denied"), checkWarn, false},
	}
	for _, tt := range tests {
		c := fastStartupCheck(tt.st, tt.err, disable)
		if c.state != tt.state || (c.fix != nil) != tt.fix {
			t.Errorf("%s: %+v", tt.name, c)
		}
	}
	c := fastStartupCheck(fastStartupState{hiberboot: 1, hiberbootSet: true}, nil, disable)
	if err := c.fix.apply(context.Background()); err != nil || !disabled {
		t.Errorf("fix: %v, disabled %v", err, disabled)
	}
	if !strings.Contains(c.detail, "HiberbootEnabled=1") || !strings.Contains(strings.Join(c.howTo, "\n"), `reg add "HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Power" /v HiberbootEnabled /t REG_DWORD /d 0 /f`) {
		t.Errorf("on: %+v", c)
	}
}

func TestWindowsChecks(t *testing.T) {
	ctx := context.Background()
	var enabled, armedDevs []string
	sys := winDoctorSys{
		fastStartup:        func() (fastStartupState, error) { return fastStartupState{hiberboot: 1, hiberbootSet: true}, nil },
		disableFastStartup: func() error { return nil },
		netAdapters:        func(context.Context) ([]byte, error) { return readFixture(t, "netadapter/pm-three.txt"), nil },
		wakeArmed:          func(context.Context) ([]byte, error) { return readFixture(t, "powercfg/wake_armed-no-nic.txt"), nil },
		enableMagic:        func(_ context.Context, name string) error { enabled = append(enabled, name); return nil },
		armWake:            func(_ context.Context, dev string) error { armedDevs = append(armedDevs, dev); return nil },
	}
	checks := windowsChecks(ctx, sys)
	if len(checks) != 7 {
		t.Fatalf("%d checks: %+v", len(checks), checks)
	}
	if c := checkByName(t, checks, "Fast Startup"); c.state != checkFail {
		t.Errorf("fast startup: %+v", c)
	}
	realtek := checkByName(t, checks, `"Ethernet" (Realtek PCIe GbE Family Controller) wake on magic packet`)
	if realtek.state != checkFail || realtek.fix == nil {
		t.Fatalf("realtek: %+v", realtek)
	}
	if err := realtek.fix.apply(ctx); err != nil || len(enabled) != 1 || enabled[0] != "Ethernet" {
		t.Errorf("enable magic: %v %q", err, enabled)
	}
	if c := checkByName(t, checks, `"Ethernet 2" (Intel(R) Ethernet Connection (7) I219-V #2) wake on magic packet`); c.state != checkPass {
		t.Errorf("intel: %+v", c)
	}
	usb := checkByName(t, checks, `"USB LAN" (ASIX AX88179 USB 3.0 to Gigabit Ethernet Adapter) wake on magic packet`)
	if usb.state != checkFail || usb.fix != nil {
		t.Errorf("usb: %+v", usb)
	}
	arm := checkByName(t, checks, `"Ethernet" allowed to wake the PC`)
	if arm.state != checkFail || arm.fix == nil {
		t.Fatalf("arm: %+v", arm)
	}
	if err := arm.fix.apply(ctx); err != nil || len(armedDevs) != 1 || armedDevs[0] != "Realtek PCIe GbE Family Controller" {
		t.Errorf("arm: %v %q", err, armedDevs)
	}

	// Armed, and all good.
	sys.fastStartup = func() (fastStartupState, error) { return fastStartupState{hiberbootSet: true}, nil }
	sys.netAdapters = func(context.Context) ([]byte, error) { return readFixture(t, "netadapter/pm-intel-enabled.txt"), nil }
	sys.wakeArmed = func(context.Context) ([]byte, error) { return readFixture(t, "powercfg/wake_armed-nic.txt"), nil }
	for _, c := range windowsChecks(ctx, sys) {
		if c.state != checkPass {
			t.Errorf("all good: %+v", c)
		}
	}

	// powercfg fails: a warning, not a failure.
	sys.wakeArmed = func(context.Context) ([]byte, error) { return nil, errors.New("exit status 1") }
	if c := checkByName(t, windowsChecks(ctx, sys), `"Ethernet" allowed to wake the PC`); c.state != checkWarn {
		t.Errorf("powercfg failing: %+v", c)
	}

	// No wired adapter.
	sys.netAdapters = func(context.Context) ([]byte, error) { return nil, nil }
	if c := checkByName(t, windowsChecks(ctx, sys), "wired network adapter"); c.state != checkFail {
		t.Errorf("none: %+v", c)
	}

	// PowerShell fails.
	sys.netAdapters = func(context.Context) ([]byte, error) { return nil, errors.New("powershell.exe: exit status 1") }
	if c := checkByName(t, windowsChecks(ctx, sys), "network adapters"); c.state != checkWarn {
		t.Errorf("powershell failing: %+v", c)
	}
}

func TestWindowsScriptsTakeNoInput(t *testing.T) {
	// The scripts are constants; the adapter name reaches PowerShell only
	// through an environment variable compared as data.
	if !strings.Contains(winNetAdapterScript, "NdisPhysicalMedium -eq 14") || strings.Contains(winNetAdapterScript, "$env:") {
		t.Error("the listing script is not the constant wired-adapter query")
	}
	if !strings.Contains(winEnableMagicScript, "$env:MOONWAKE_ADAPTER") || !strings.Contains(winEnableMagicScript, "-ceq $name") {
		t.Error("the enable script does not take the name from the environment")
	}
	c := magicPacketCheck(netAdapterPM{name: "Bob's NIC", description: "X", wakeOnMagicPacket: "Disabled"}, nil)
	if !strings.Contains(strings.Join(c.howTo, "\n"), `-Name 'Bob''s NIC'`) {
		t.Errorf("howTo quoting: %q", c.howTo)
	}
}

// FuzzParseFormatList: PowerShell list output never panics the parser and
// every record has keys.
func FuzzParseFormatList(f *testing.F) {
	for _, name := range []string{"pm-intel-enabled.txt", "pm-three.txt", "pm-wrapped.txt"} {
		f.Add(readFixture(f, "netadapter/"+name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, r := range parseFormatList(b) {
			if len(r) == 0 {
				t.Fatal("empty record")
			}
			for k := range r {
				if k != strings.TrimSpace(k) {
					t.Fatalf("untrimmed key %q", k)
				}
			}
		}
		_ = parseNetAdapterPM(b)
		_ = parseWakeArmed(b)
	})
}
