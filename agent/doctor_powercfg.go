package agent

import (
	"context"
	"fmt"
	"strings"
)

// This file holds the Windows doctor's parsers and decisions. They build on
// every OS so that they are tested everywhere; doctor_windows.go gives them
// the real system (the registry, powercfg, PowerShell).

// winNetAdapterScript lists the physical wired adapters' power management
// settings. It is a constant: nothing from outside is ever put in a script.
// NdisPhysicalMedium 14 is 802.3 (wired Ethernet); Wi-Fi cannot wake a PC
// that is off. Out-String -Width keeps long values on one line.
const winNetAdapterScript = `$ErrorActionPreference = 'Stop'
[Console]::OutputEncoding = [System.Text.Encoding]::UTF8
Get-NetAdapter -Physical | Where-Object { $_.NdisPhysicalMedium -eq 14 } | Get-NetAdapterPowerManagement | Format-List -Property Name,InterfaceDescription,WakeOnMagicPacket,WakeOnPattern,AllowComputerToTurnOffDevice | Out-String -Width 4096`

// winEnableMagicScript turns on WakeOnMagicPacket for the adapter whose
// name is in the MOONWAKE_ADAPTER environment variable. The name is data
// compared with -ceq, never code, and never a wildcard pattern.
const winEnableMagicScript = `$ErrorActionPreference = 'Stop'
$name = $env:MOONWAKE_ADAPTER
$pm = @(Get-NetAdapterPowerManagement | Where-Object { $_.Name -ceq $name })
if ($pm.Count -ne 1) { throw "no single adapter named '$name'" }
$pm | Set-NetAdapterPowerManagement -WakeOnMagicPacket Enabled`

// fastStartupState is what the registry says about Fast Startup.
type fastStartupState struct {
	hiberboot    uint32 // HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Power HiberbootEnabled
	hiberbootSet bool
	hibernate    uint32 // HKLM\SYSTEM\CurrentControlSet\Control\Power HibernateEnabled
	hibernateSet bool
}

// winDoctorSys is the part of a Windows system the doctor looks at.
type winDoctorSys struct {
	fastStartup        func() (fastStartupState, error)
	disableFastStartup func() error                                   // HiberbootEnabled = 0
	netAdapters        func(ctx context.Context) ([]byte, error)      // output of winNetAdapterScript
	wakeArmed          func(ctx context.Context) ([]byte, error)      // powercfg /devicequery wake_armed
	enableMagic        func(ctx context.Context, name string) error   // winEnableMagicScript
	armWake            func(ctx context.Context, device string) error // powercfg /deviceenablewake DEVICE
}

// windowsChecks is the Windows doctor.
func windowsChecks(ctx context.Context, s winDoctorSys) []check {
	st, err := s.fastStartup()
	checks := []check{fastStartupCheck(st, err, s.disableFastStartup)}

	out, err := s.netAdapters(ctx)
	if err != nil {
		return append(checks, check{name: "network adapters", state: checkWarn,
			detail: "could not read their power settings: " + err.Error()})
	}
	adapters := parseNetAdapterPM(out)
	if len(adapters) == 0 {
		return append(checks, check{
			name:   "wired network adapter",
			state:  checkFail,
			detail: "none found",
			howTo: []string{
				"Wake-on-LAN needs a wired Ethernet adapter: Wi-Fi cannot wake a PC that is off.",
				"Connect the PC to the router or a switch with a cable (and enable the adapter).",
			},
		})
	}
	armedOut, armedErr := s.wakeArmed(ctx)
	armed := parseWakeArmed(armedOut)
	for _, a := range adapters {
		checks = append(checks, magicPacketCheck(a, s.enableMagic))
		checks = append(checks, armedCheck(a, armed, armedErr, s.armWake))
	}
	return checks
}

// fastStartupCheck decides whether Fast Startup is on. With it on, "Shut
// down" logs off and hibernates the kernel (a hybrid S4), and many NICs are
// not armed for Wake-on-LAN from that state.
func fastStartupCheck(st fastStartupState, err error, disable func() error) check {
	c := check{name: "Fast Startup"}
	howTo := []string{
		`Control Panel → Power Options → "Choose what the power buttons do" → "Change settings that are`,
		`currently unavailable" → untick "Turn on fast startup (recommended)".`,
		`Or, as Administrator: reg add "HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Power" /v HiberbootEnabled /t REG_DWORD /d 0 /f`,
		`(doctor --fix does this). "powercfg /h off" also works, and disables hibernation too.`,
	}
	fix := &doctorFix{
		what:  "disable Fast Startup (set HiberbootEnabled to 0)",
		apply: func(context.Context) error { return disable() },
	}
	switch {
	case err != nil:
		c.state, c.detail = checkWarn, "could not be read: "+err.Error()
	case st.hibernateSet && st.hibernate == 0:
		c.state, c.detail = checkPass, "off (hibernation is disabled, so Fast Startup cannot be used)"
	case st.hiberbootSet && st.hiberboot == 0:
		c.state, c.detail = checkPass, "off (HiberbootEnabled=0)"
	case st.hiberbootSet:
		c.state = checkFail
		c.detail = fmt.Sprintf(`on (HiberbootEnabled=%d): "Shut down" hibernates, and Wake-on-LAN often cannot wake the PC from that`, st.hiberboot)
		c.howTo, c.fix = howTo, fix
	default:
		c.state = checkWarn
		c.detail = "HiberbootEnabled is not set; Windows turns Fast Startup on by default when hibernation is available"
		c.howTo, c.fix = howTo, fix
	}
	return c
}

// netAdapterPM is one adapter from Get-NetAdapterPowerManagement.
type netAdapterPM struct {
	name              string // "Ethernet"
	description       string // "Intel(R) Ethernet Connection (7) I219-V", the device's name in powercfg
	wakeOnMagicPacket string // Enabled, Disabled, Unsupported or Inactive
	wakeOnPattern     string
	allowTurnOff      string // AllowComputerToTurnOffDevice
}

// parseFormatList parses PowerShell's Format-List output: records separated
// by blank lines, "Key : Value" lines, and values that went on a new line
// continued by indented lines.
func parseFormatList(out []byte) []map[string]string {
	var records []map[string]string
	var cur map[string]string
	last := ""
	flush := func() {
		if len(cur) > 0 {
			records = append(records, cur)
		}
		cur, last = nil, ""
	}
	text := strings.TrimPrefix(string(out), "\ufeff")
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur != nil && last != "" {
				cur[last] += " " + strings.TrimSpace(line)
			}
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if cur == nil {
			cur = map[string]string{}
		}
		last = strings.TrimSpace(key)
		cur[last] = strings.TrimSpace(value)
	}
	flush()
	return records
}

// parseNetAdapterPM parses the output of winNetAdapterScript.
func parseNetAdapterPM(out []byte) []netAdapterPM {
	var adapters []netAdapterPM
	for _, r := range parseFormatList(out) {
		a := netAdapterPM{
			name:              r["Name"],
			description:       r["InterfaceDescription"],
			wakeOnMagicPacket: r["WakeOnMagicPacket"],
			wakeOnPattern:     r["WakeOnPattern"],
			allowTurnOff:      r["AllowComputerToTurnOffDevice"],
		}
		if a.name == "" && a.description == "" {
			continue
		}
		adapters = append(adapters, a)
	}
	return adapters
}

// parseWakeArmed parses `powercfg /devicequery wake_armed`: one device name
// a line, or a single "NONE" (which matches no adapter, translated or not).
func parseWakeArmed(out []byte) []string {
	var devices []string
	for line := range strings.SplitSeq(strings.TrimPrefix(string(out), "\ufeff"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "NONE" {
			continue
		}
		devices = append(devices, line)
	}
	return devices
}

func magicPacketCheck(a netAdapterPM, enable func(ctx context.Context, name string) error) check {
	c := check{name: fmt.Sprintf("%q (%s) wake on magic packet", a.name, a.description)}
	howTo := []string{
		`Device Manager → Network adapters → ` + a.description + ` → Properties:`,
		`  Power Management: tick "Allow this device to wake the computer" and "Only allow a magic packet to wake the computer";`,
		`  Advanced: "Wake on Magic Packet" Enabled (on Realtek adapters also "Shutdown Wake-On-Lan").`,
		`Or, in an Administrator PowerShell: Set-NetAdapterPowerManagement -Name '` + strings.ReplaceAll(a.name, `'`, `''`) + `' -WakeOnMagicPacket Enabled`,
	}
	switch a.wakeOnMagicPacket {
	case "Enabled":
		c.state, c.detail = checkPass, "Enabled"
	case "Unsupported":
		c.state, c.detail = checkFail, "Unsupported by this adapter or its driver"
		c.howTo = []string{"Install the vendor's driver (not the generic one), or use another wired adapter."}
	case "Disabled", "Inactive":
		c.state, c.detail = checkFail, a.wakeOnMagicPacket
		c.howTo = howTo
		name := a.name
		c.fix = &doctorFix{
			what:  fmt.Sprintf("enable WakeOnMagicPacket on adapter %q", name),
			apply: func(ctx context.Context) error { return enable(ctx, name) },
		}
	default:
		c.state, c.detail = checkWarn, fmt.Sprintf("unknown value %q", a.wakeOnMagicPacket)
		c.howTo = howTo
	}
	return c
}

func armedCheck(a netAdapterPM, armed []string, armedErr error, arm func(ctx context.Context, device string) error) check {
	c := check{name: fmt.Sprintf("%q allowed to wake the PC", a.name)}
	if armedErr != nil {
		c.state, c.detail = checkWarn, "powercfg could not tell: "+armedErr.Error()
		return c
	}
	for _, d := range armed {
		if strings.EqualFold(d, a.description) {
			c.state, c.detail = checkPass, "armed (powercfg /devicequery wake_armed lists it)"
			return c
		}
	}
	c.state = checkFail
	c.detail = "not armed: powercfg /devicequery wake_armed does not list " + a.description
	c.howTo = []string{
		`As Administrator: powercfg /deviceenablewake "` + a.description + `"   (doctor --fix does this)`,
		`or Device Manager → ` + a.description + ` → Power Management → "Allow this device to wake the computer".`,
	}
	device := a.description
	c.fix = &doctorFix{
		what:  fmt.Sprintf("allow %q to wake the PC (powercfg /deviceenablewake)", device),
		apply: func(ctx context.Context) error { return arm(ctx, device) },
	}
	return c
}
