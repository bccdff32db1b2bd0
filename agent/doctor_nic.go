package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"slices"
	"sort"
	"strings"
)

// This file holds the Linux doctor's decisions. They build on every OS so
// that they are tested everywhere; doctor_linux.go gives them the real
// system (sysfs, the ethtool ioctl, nmcli).

// Errors a wolinfo reader classifies its failures into.
var (
	errWolUnsupported = errors.New("the driver does not support Wake-on-LAN settings")
	errWolPermission  = errors.New("permission denied (the wake mode needs root: CAP_NET_ADMIN)")
)

// linuxNICSys is the part of a Linux system the doctor looks at.
type linuxNICSys struct {
	root   fs.FS // the file system at "/": sys/class/net, etc/systemd/network, …
	getWol func(ifname string) (wolInfo, error)
	setWol func(ifname string, w wolInfo) error
	run    sysRunner // for nmcli
}

// listWiredNICs lists physical wired Ethernet interfaces from sysfs: those
// with a device behind them, of ARP hardware type 1 (Ethernet) and not
// wireless. Bridges, veths, bonds and Wi-Fi cannot be woken.
func listWiredNICs(root fs.FS) ([]nicInfo, error) {
	entries, err := fs.ReadDir(root, "sys/class/net")
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	var nics []nicInfo
	for _, e := range entries {
		dir := "sys/class/net/" + e.Name()
		if _, err := fs.Stat(root, dir+"/device"); err != nil {
			continue // virtual
		}
		if t, err := fs.ReadFile(root, dir+"/type"); err != nil || strings.TrimSpace(string(t)) != "1" {
			continue
		}
		if _, err := fs.Stat(root, dir+"/wireless"); err == nil {
			continue
		}
		if _, err := fs.Stat(root, dir+"/phy80211"); err == nil {
			continue
		}
		nic := nicInfo{name: e.Name()}
		if a, err := fs.ReadFile(root, dir+"/address"); err == nil {
			nic.mac, _ = net.ParseMAC(strings.TrimSpace(string(a)))
		}
		if ue, err := fs.ReadFile(root, dir+"/device/uevent"); err == nil {
			for line := range strings.SplitSeq(string(ue), "\n") {
				if v, ok := strings.CutPrefix(line, "DRIVER="); ok {
					nic.driver = strings.TrimSpace(v)
				}
			}
		}
		nics = append(nics, nic)
	}
	sort.Slice(nics, func(i, j int) bool { return nics[i].name < nics[j].name })
	return nics, nil
}

// nmState is what NetworkManager does with each interface.
type nmState struct {
	running bool
	active  map[string]nmActive // by device
	wake    map[string]string   // 802-3-ethernet.wake-on-lan by connection UUID
	global  nmWake              // what "default" means
	err     error               // nmcli failed in an unexpected way
}

// readNM asks nmcli about the active connections of the given devices. A
// missing nmcli or a stopped NetworkManager is not an error.
func readNM(ctx context.Context, run sysRunner, root fs.FS, devices []string) nmState {
	st := nmState{active: map[string]nmActive{}, wake: map[string]string{}}
	out, err := run(ctx, "nmcli", "-t", "-f", "RUNNING", "general")
	if err != nil || strings.TrimSpace(string(out)) != "running" {
		return st // not installed or not running: it sets nothing
	}
	st.running = true
	st.global = nmGlobalWake(root)
	out, err = run(ctx, "nmcli", "-t", "-f", "DEVICE,TYPE,UUID,NAME", "connection", "show", "--active")
	if err != nil {
		st.err = err
		return st
	}
	for _, c := range parseNmcliActive(out) {
		if !slices.Contains(devices, c.device) {
			continue
		}
		st.active[c.device] = c
		out, err := run(ctx, "nmcli", "-t", "-f", "802-3-ethernet.wake-on-lan", "connection", "show", "uuid", c.uuid)
		if err != nil {
			st.err = err
			continue
		}
		if v, ok := parseNmcliField(out, "802-3-ethernet.wake-on-lan"); ok {
			st.wake[c.uuid] = v
		}
	}
	return st
}

// linuxChecks is the Linux doctor: for each wired interface, its wake mode
// now and what sets it at boot; and TLP.
func linuxChecks(ctx context.Context, s linuxNICSys) []check {
	var checks []check
	nics, err := listWiredNICs(s.root)
	if err != nil {
		return []check{{name: "network interfaces", state: checkWarn, detail: "could not be listed: " + err.Error()}}
	}
	if len(nics) == 0 {
		return []check{{
			name:   "wired network interface",
			state:  checkFail,
			detail: "none found",
			howTo: []string{
				"Wake-on-LAN needs a wired Ethernet port: Wi-Fi cannot wake a PC that is off.",
				"Connect the PC to the router or a switch with a cable.",
			},
		}}
	}

	names := make([]string, len(nics))
	for i, n := range nics {
		names[i] = n.name
	}
	nm := readNM(ctx, s.run, s.root, names)
	links := readLinkFiles(s.root)
	for _, nic := range nics {
		mode, capable := wakeModeCheck(nic, s)
		checks = append(checks, mode)
		if capable { // what happens at boot does not matter to a NIC that cannot wake
			checks = append(checks, bootCheck(nic, nm, links))
		}
	}
	if installed, disables, source := tlpWake(s.root); installed {
		c := check{name: "TLP", state: checkPass, detail: "leaves Wake-on-LAN on (WOL_DISABLE=N in " + source + ")"}
		if disables {
			c.state = checkFail
			c.detail = "turns Wake-on-LAN off at every boot (WOL_DISABLE=Y, from " + source + ")"
			c.howTo = []string{
				"Set WOL_DISABLE=N in /etc/tlp.conf (or a file in /etc/tlp.d/), then reboot.",
			}
		}
		checks = append(checks, c)
	}
	return checks
}

// wakeModeCheck reads an interface's wake mode through ethtool. capable
// is false when the NIC cannot wake on a magic packet at all.
func wakeModeCheck(nic nicInfo, s linuxNICSys) (c check, capable bool) {
	c = check{name: nic.name + " wake mode"}
	if nic.driver != "" {
		c.name = fmt.Sprintf("%s (%s) wake mode", nic.name, nic.driver)
	}
	w, err := s.getWol(nic.name)
	switch {
	case errors.Is(err, errWolUnsupported):
		c.state, c.detail = checkFail, "the driver reports no Wake-on-LAN support"
		c.howTo = []string{"This port cannot be woken by a magic packet; use another wired port or a different NIC."}
		return c, false
	case errors.Is(err, errWolPermission):
		c.state, c.detail = checkWarn, "not read: run doctor as root"
		return c, true
	case err != nil:
		c.state, c.detail = checkWarn, "not read: "+err.Error()
		return c, true
	}
	modes := fmt.Sprintf("wake on %s, supports %s", wolModes(w.wolopts), wolModes(w.supported))
	switch {
	case w.wolopts&wakeMagic != 0:
		c.state, c.detail = checkPass, "magic packet is on ("+modes+")"
	case w.supported&wakeMagic == 0:
		c.state, c.detail = checkFail, "cannot wake on a magic packet ("+modes+")"
		c.howTo = []string{"This NIC does not support magic packets; use another wired port or a different NIC."}
		return c, false
	default:
		c.state, c.detail = checkFail, "magic packet is off ("+modes+")"
		c.howTo = []string{
			fmt.Sprintf("Now: ethtool -s %s wol g   (doctor --fix does this; it lasts until the next boot)", nic.name),
			"Then make it last: see the \"" + nic.name + " at boot\" item.",
		}
		name := nic.name
		want := wolInfo{supported: w.supported, wolopts: w.wolopts | wakeMagic, sopass: w.sopass}
		c.fix = &doctorFix{
			what: fmt.Sprintf("turn on magic-packet wake on %s (ethtool -s %s wol %s)", name, name, wolModes(want.wolopts)),
			apply: func(context.Context) error {
				return s.setWol(name, want)
			},
		}
	}
	return c, true
}

// bootCheck says whether something sets magic-packet wake again at boot:
// NetworkManager when it activates the connection (it runs last), else the
// .link file udev applies, else nothing and the driver's default wins.
func bootCheck(nic nicInfo, nm nmState, links []linkFile) check {
	c := check{name: nic.name + " at boot"}
	conn, managed := nm.active[nic.name]
	if managed {
		v, known := nm.wake[conn.uuid]
		switch w := nmWakeOf(v, nm.global); {
		case !known:
			// fall through to the .link file, with a warning below
		case w == nmWakeMagic:
			c.state = checkPass
			c.detail = fmt.Sprintf("NetworkManager connection %q turns magic-packet wake on (wake-on-lan %s)", conn.name, v)
			return c
		case w == nmWakeOther:
			c.state = checkFail
			c.detail = fmt.Sprintf("NetworkManager connection %q sets wake-on-lan to %q, without magic packets, whenever it connects", conn.name, v)
			c.howTo = persistHowTo(nic, &conn)
			return c
		}
	}

	lf, found, sure := applicableLink(links, nic)
	switch {
	case found && !sure:
		what := "it sets no WakeOnLan"
		if lf.wakeOnLan != "" {
			what = "WakeOnLan=" + lf.wakeOnLan
		}
		c.state = checkWarn
		c.detail = fmt.Sprintf("%s may apply at boot (%s), but its [Match] cannot be fully checked here", lf.path, what)
		c.howTo = persistHowTo(nic, connOrNil(conn, managed))
	case found && linkWakesOnMagic(lf.wakeOnLan):
		c.state = checkPass
		c.detail = fmt.Sprintf("%s sets WakeOnLan=%s when the device appears", lf.path, lf.wakeOnLan)
	case found && lf.wakeOnLan != "":
		c.state = checkFail
		c.detail = fmt.Sprintf("%s sets WakeOnLan=%s, without magic packets, at every boot", lf.path, lf.wakeOnLan)
		c.howTo = persistHowTo(nic, connOrNil(conn, managed))
	default:
		c.state = checkWarn
		c.detail = "nothing sets magic-packet wake at boot: the driver's default applies after a reboot"
		if managed && nm.err != nil {
			c.detail += " (NetworkManager's setting could not be read: " + nm.err.Error() + ")"
		}
		c.howTo = persistHowTo(nic, connOrNil(conn, managed))
	}
	return c
}

func connOrNil(c nmActive, ok bool) *nmActive {
	if !ok {
		return nil
	}
	return &c
}

// persistHowTo explains how to make magic-packet wake survive a reboot:
// through NetworkManager when it manages the interface, else with a
// .link file. doctor never writes these.
func persistHowTo(nic nicInfo, conn *nmActive) []string {
	if conn != nil {
		return []string{
			"NetworkManager manages " + nic.name + "; make it set magic-packet wake each time it connects:",
			fmt.Sprintf("  nmcli connection modify %s 802-3-ethernet.wake-on-lan magic", conn.uuid),
			fmt.Sprintf("  (the connection is %q; the change applies from its next activation)", conn.name),
		}
	}
	match := "OriginalName=" + nic.name
	if nic.mac != nil {
		match = "MACAddress=" + nic.mac.String()
	}
	return []string{
		"Have udev set it when the device appears, with a file /etc/systemd/network/50-moonwake-wol.link:",
		"  [Match]",
		"  " + match,
		"  [Link]",
		"  NamePolicy=keep kernel database onboard slot path",
		"  AlternativeNamesPolicy=database onboard slot path",
		"  MACAddressPolicy=persistent",
		"  WakeOnLan=magic",
		"(only the first matching .link file applies, so it repeats the defaults of 99-default.link",
		"to keep the interface's name; it takes effect at the next boot.)",
		"With ifupdown (/etc/network/interfaces) instead: add \"ethernet-wol g\" to the interface's stanza.",
	}
}
