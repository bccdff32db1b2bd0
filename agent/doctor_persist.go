package agent

import (
	"bufio"
	"bytes"
	"io/fs"
	"net"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// What sets a Linux interface's wake mode again at boot or when the
// network comes up. ETHTOOL_SWOL (ethtool -s IF wol g) lasts until the
// driver is reloaded, typically the next boot; after that the driver's
// default applies, unless one of these sets it:
//   - systemd-udevd applies the first matching .link file when the device
//     appears (WakeOnLan=); systemd-networkd itself has no wake setting;
//   - NetworkManager applies the connection's 802-3-ethernet.wake-on-lan
//     each time it activates the connection;
//   - TLP turns Wake-on-LAN off unless WOL_DISABLE=N.
// All of it is read here from files and nmcli output, never changed.

// linkDirs are where systemd looks for .link files, highest precedence
// first: a file in an earlier directory hides one of the same name later.
var linkDirs = []string{
	"etc/systemd/network",
	"run/systemd/network",
	"usr/local/lib/systemd/network",
	"usr/lib/systemd/network",
	"lib/systemd/network",
}

// linkFile is the part of a systemd .link file that decides Wake-on-LAN.
type linkFile struct {
	path      string              // as found, e.g. /usr/lib/systemd/network/99-default.link
	match     map[string][]string // [Match] key → values, whitespace-separated
	wakeOnLan string              // [Link] WakeOnLan=, "" when not set
}

// parseLinkFile reads the [Match] section and WakeOnLan= of a .link file.
// Unknown sections and keys are ignored.
func parseLinkFile(p string, data []byte) linkFile {
	lf := linkFile{path: p, match: map[string][]string{}}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var cont strings.Builder
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		// A trailing backslash continues the line, as in systemd.syntax(7).
		if strings.HasSuffix(line, `\`) {
			cont.WriteString(strings.TrimSuffix(line, `\`))
			cont.WriteByte(' ')
			continue
		}
		if cont.Len() > 0 {
			cont.WriteString(line)
			line = cont.String()
			cont.Reset()
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch section {
		case "Match":
			if value == "" { // an empty assignment resets the list
				delete(lf.match, key)
				continue
			}
			lf.match[key] = append(lf.match[key], strings.Fields(value)...)
		case "Link":
			if key == "WakeOnLan" {
				lf.wakeOnLan = value
			}
		}
	}
	return lf
}

// linkWakesOnMagic reports whether a WakeOnLan= value includes magic
// packets ("magic", possibly among others such as "phy magic").
func linkWakesOnMagic(v string) bool {
	return slices.Contains(strings.Fields(v), "magic")
}

// nicInfo is what the doctor knows about a wired interface.
type nicInfo struct {
	name   string           // current name, e.g. enp3s0
	driver string           // kernel driver, e.g. e1000e; "" if unknown
	mac    net.HardwareAddr // current address
}

// matchResult is a tri-state: some [Match] keys cannot be evaluated from
// here (Path=, Property=, Host=, …) or only approximately (OriginalName=).
type matchResult int

const (
	matchNo matchResult = iota
	matchYes
	matchMaybe
)

// matches tells whether the .link file applies to nic. A file without a
// usable [Match] section is ignored by systemd, so it matches nothing.
func (lf linkFile) matches(nic nicInfo) matchResult {
	if len(lf.match) == 0 {
		return matchNo
	}
	res := matchYes
	for key, values := range lf.match {
		var r matchResult
		switch key {
		case "MACAddress", "PermanentMACAddress":
			// The permanent address is not read here; on an ordinary
			// wired NIC it is the current one.
			r = matchNo
			for _, v := range values {
				if m, err := net.ParseMAC(v); err == nil && nic.mac != nil && bytes.Equal(m, nic.mac) {
					r = matchYes
				}
			}
		case "OriginalName":
			// The kernel's name before udev renamed it is not known here:
			// a pattern that does not match the current name may still
			// match the original one (eth0 before it became enp3s0).
			r = globList(values, nic.name)
			if r == matchNo {
				r = matchMaybe
			}
			if len(values) == 1 && values[0] == "*" {
				r = matchYes
			}
		case "Driver":
			if nic.driver == "" {
				r = matchMaybe
			} else {
				r = globList(values, nic.driver)
			}
		case "Type":
			r = globList(values, "ether")
		case "Kind":
			r = globList(values, "") // a physical NIC has no kind
		default:
			r = matchMaybe
		}
		switch {
		case r == matchNo:
			return matchNo
		case r == matchMaybe:
			res = matchMaybe
		}
	}
	return res
}

// globList matches s against systemd-style glob patterns; a leading "!"
// on the first pattern inverts the whole list.
func globList(patterns []string, s string) matchResult {
	invert := false
	if len(patterns) > 0 && strings.HasPrefix(patterns[0], "!") {
		invert = true
		patterns = append([]string{strings.TrimPrefix(patterns[0], "!")}, patterns[1:]...)
	}
	hit := false
	for _, p := range patterns {
		if ok, err := path.Match(p, s); err == nil && ok {
			hit = true
			break
		}
	}
	if hit != invert {
		return matchYes
	}
	return matchNo
}

// readLinkFiles loads the .link files systemd would consider, in the order
// it considers them: by file name, a name in a higher-precedence directory
// hiding the same name in a lower one. root is the file system at "/".
func readLinkFiles(root fs.FS) []linkFile {
	seen := map[string]string{} // file name → path
	for _, dir := range linkDirs {
		entries, err := fs.ReadDir(root, dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".link") {
				continue
			}
			if _, ok := seen[e.Name()]; !ok {
				seen[e.Name()] = dir + "/" + e.Name()
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	var files []linkFile
	for _, n := range names {
		p := seen[n]
		data, err := fs.ReadFile(root, p)
		if err != nil {
			continue // masked (a link to /dev/null reads empty) or unreadable
		}
		files = append(files, parseLinkFile("/"+p, data))
	}
	return files
}

// applicableLink returns the .link file udev applies to nic: the first
// that matches. sure is false when that file's [Match] could only be
// partly checked: then a later file may apply instead.
func applicableLink(files []linkFile, nic nicInfo) (lf linkFile, found, sure bool) {
	for _, f := range files {
		switch f.matches(nic) {
		case matchYes:
			return f, true, true
		case matchMaybe:
			return f, true, false
		}
	}
	return linkFile{}, false, false
}

// nmActive is one active NetworkManager connection.
type nmActive struct {
	device, typ, uuid, name string
}

// splitNmcliTerse splits one line of `nmcli -t` output into fields: ':'
// separates them, and a field's own ':' and '\' are escaped with '\'.
func splitNmcliTerse(line string) []string {
	var fields []string
	var f strings.Builder
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && i+1 < len(line):
			i++
			f.WriteByte(line[i])
		case c == ':':
			fields = append(fields, f.String())
			f.Reset()
		default:
			f.WriteByte(c)
		}
	}
	return append(fields, f.String())
}

// parseNmcliActive parses
// `nmcli -t -f DEVICE,TYPE,UUID,NAME connection show --active`.
func parseNmcliActive(out []byte) []nmActive {
	var conns []nmActive
	for line := range strings.SplitSeq(string(out), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		f := splitNmcliTerse(line)
		if len(f) < 4 || f[0] == "" || f[2] == "" {
			continue
		}
		conns = append(conns, nmActive{device: f[0], typ: f[1], uuid: f[2], name: f[3]})
	}
	return conns
}

// parseNmcliField returns the value of field in `nmcli -t -f FIELD …`
// output ("802-3-ethernet.wake-on-lan:magic").
func parseNmcliField(out []byte, field string) (string, bool) {
	for line := range strings.SplitSeq(string(out), "\n") {
		line = strings.TrimRight(line, "\r")
		f := splitNmcliTerse(line)
		if len(f) >= 2 && f[0] == field {
			return strings.Join(f[1:], ":"), true
		}
	}
	return "", false
}

// nmWake is what NetworkManager does to the wake mode when it activates a
// connection.
type nmWake int

const (
	nmWakeLeaves nmWake = iota // "ignore", or "default" with no global setting
	nmWakeMagic                // sets a mode that includes magic packets
	nmWakeOther                // sets a mode without magic packets ("none", "phy", …)
)

// nmWakeOf interprets 802-3-ethernet.wake-on-lan as nmcli prints it
// ("default", "ignore", "magic", "phy, magic", "none") or as a number (as
// NetworkManager.conf may give ethernet.wake-on-lan: 0x40 is magic, 0x1
// default, 0x8000 ignore). global is the resolution of "default".
func nmWakeOf(v string, global nmWake) nmWake {
	v = strings.TrimSpace(strings.ToLower(v))
	if n, err := strconv.ParseUint(v, 0, 32); err == nil {
		switch {
		case n == 0x1:
			return global
		case n&0x8000 != 0:
			return nmWakeLeaves
		case n&0x40 != 0:
			return nmWakeMagic
		default:
			return nmWakeOther
		}
	}
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '|' })
	switch {
	case len(fields) == 0, slices.Contains(fields, "ignore"):
		return nmWakeLeaves
	case slices.Contains(fields, "default"):
		return global
	case slices.Contains(fields, "magic"):
		return nmWakeMagic
	default:
		return nmWakeOther
	}
}

// nmGlobalWake resolves NetworkManager's "default" wake mode from its
// configuration files: ethernet.wake-on-lan in a [connection…] section,
// the last one read winning, "ignore" when none sets it.
func nmGlobalWake(root fs.FS) nmWake {
	files := []string{"etc/NetworkManager/NetworkManager.conf"}
	var dropins []string
	seen := map[string]bool{}
	for _, dir := range []string{"etc/NetworkManager/conf.d", "run/NetworkManager/conf.d", "usr/lib/NetworkManager/conf.d"} {
		entries, _ := fs.ReadDir(root, dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".conf") && !seen[e.Name()] {
				seen[e.Name()] = true
				dropins = append(dropins, dir+"/"+e.Name())
			}
		}
	}
	sort.Slice(dropins, func(i, j int) bool { return path.Base(dropins[i]) < path.Base(dropins[j]) })
	files = append(files, dropins...)

	result := nmWakeLeaves
	for _, f := range files {
		data, err := fs.ReadFile(root, f)
		if err != nil {
			continue
		}
		section := ""
		for line := range strings.SplitSeq(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
				section = line[1 : len(line)-1]
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.HasPrefix(section, "connection") && strings.TrimSpace(k) == "ethernet.wake-on-lan" {
				result = nmWakeOf(v, nmWakeLeaves)
			}
		}
	}
	return result
}

// tlpWake reports TLP's Wake-on-LAN setting: installed is false when TLP
// is not there; disables is true when it turns Wake-on-LAN off
// (WOL_DISABLE=Y, its default).
func tlpWake(root fs.FS) (installed, disables bool, source string) {
	for _, bin := range []string{"usr/sbin/tlp", "usr/bin/tlp", "sbin/tlp"} {
		if _, err := fs.Stat(root, bin); err == nil {
			installed = true
			break
		}
	}
	if !installed {
		return false, false, ""
	}
	// TLP ≥ 1.3 reads its defaults, then /etc/tlp.d/*.conf, then
	// /etc/tlp.conf; older versions read /etc/default/tlp.
	files := []string{"usr/share/tlp/defaults.conf"}
	if entries, err := fs.ReadDir(root, "etc/tlp.d"); err == nil {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".conf") {
				files = append(files, "etc/tlp.d/"+e.Name())
			}
		}
	}
	files = append(files, "etc/tlp.conf", "etc/default/tlp")
	disables, source = true, "TLP's default"
	for _, f := range files {
		data, err := fs.ReadFile(root, f)
		if err != nil {
			continue
		}
		if v, ok := lastShellAssignment(data, "WOL_DISABLE"); ok {
			disables = !strings.EqualFold(v, "N")
			source = "/" + f
		}
	}
	return installed, disables, source
}

// lastShellAssignment returns the value of the last NAME=value line in a
// shell-style configuration file, without quotes.
func lastShellAssignment(data []byte, name string) (string, bool) {
	value, found := "", false
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != name {
			continue
		}
		v = strings.TrimSpace(v)
		if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		value, found = strings.Trim(v, `"'`), true
	}
	return value, found
}
