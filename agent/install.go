package agent

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Install makes the agent a system service that starts at boot and is
// restarted when it stops: it runs this very binary (its absolute path) as
// `run --config CFGPATH`, CFGPATH made absolute. It needs root (or an
// elevated Administrator prompt on Windows). Installing again replaces the
// Linux and macOS definitions and restarts the service; on Windows,
// uninstall first.
//   - Linux: the systemd unit /etc/systemd/system/moonwake-agent.service,
//     then `systemctl daemon-reload` and `systemctl enable --now`.
//   - Windows: the service "moonwake-agent" (automatic start, restarted on
//     failure), started.
//   - macOS: the launchd daemon /Library/LaunchDaemons/com.moonwake.agent.plist,
//     bootstrapped into the system domain.
func Install(cfgPath string) error {
	return installService(context.Background(), cfgPath)
}

// Uninstall stops the service Install made and removes it.
func Uninstall() error {
	return uninstallService(context.Background())
}

const (
	agentServiceName = "moonwake-agent" // systemd unit and Windows service
	launchdLabel     = "com.moonwake.agent"
)

// serviceArgs is the command line of the service, after the binary.
func serviceArgs(cfgPath string) []string {
	return []string{"run", "--config", cfgPath}
}

// resolveInstallPaths returns the absolute path of the binary to run and
// of the configuration file, which must exist: a service that cannot read
// its configuration would only restart forever.
func resolveInstallPaths(executable func() (string, error), cfgPath string) (exe, cfg string, err error) {
	if cfgPath == "" {
		return "", "", errors.New("install: no configuration file given")
	}
	exe, err = executable()
	if err != nil {
		return "", "", fmt.Errorf("install: find this program: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	if !filepath.IsAbs(exe) {
		return "", "", fmt.Errorf("install: program path %q is not absolute", exe)
	}
	cfg, err = filepath.Abs(cfgPath)
	if err != nil {
		return "", "", fmt.Errorf("install: %w", err)
	}
	if fi, err := os.Stat(cfg); err != nil {
		return "", "", fmt.Errorf("install: configuration: %w", err)
	} else if fi.IsDir() {
		return "", "", fmt.Errorf("install: configuration %s is a directory", cfg)
	}
	for _, s := range []string{exe, cfg} {
		if strings.ContainsAny(s, "\x00\n\r") {
			return "", "", fmt.Errorf("install: path %q has a line break or NUL", s)
		}
	}
	return exe, cfg, nil
}

// systemdExecQuote quotes one word of a systemd command line (ExecStart=):
// plain words stay as they are, others go in double quotes with C-style
// escapes; '%' (unit specifiers) and '$' (variable expansion) are doubled
// so that systemd passes them on as they are.
func systemdExecQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._+,:=@%$-", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// systemdUnit renders the agent's unit file.
//
// Its hardening keeps what the agent's power commands need. They run as
// root: `systemctl poweroff` and logind's PowerOff over D-Bus check uid 0
// and CAP_SYS_BOOT, and `systemctl --force --force` calls reboot(2). So the
// unit sets no User=, PrivateUsers=, CapabilityBoundingSet= or
// SystemCallFilter= that would take those away, and keeps AF_UNIX for
// D-Bus and systemd's private socket (connecting to a socket works on a
// read-only file system). The machine's state changes in PID 1 and logind,
// outside this sandbox. An owner's override that writes /sys/power/state
// itself would need ProtectKernelTunables= relaxed in a drop-in.
//
// The service can write only its StateDirectory (/var/lib/moonwake-agent,
// $STATE_DIRECTORY, where the agent keeps its state by default) and a private /tmp; its configuration is read-only to
// it (pairing, which writes credentials, is run by a person, not by the
// service).
func systemdUnit(exe, cfg string) string {
	var execStart []string
	for _, w := range append([]string{exe}, serviceArgs(cfg)...) {
		execStart = append(execStart, systemdExecQuote(w))
	}
	return `# Written by "moonwake-agent install"; "moonwake-agent uninstall" removes it.
[Unit]
Description=moonwake agent (power commands and reports for the moonwake hub)
Documentation=https://github.com/moonwake/moonwake
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=` + strings.Join(execStart, " ") + `
Restart=always
RestartSec=5s
StateDirectory=moonwake-agent
StateDirectoryMode=0700
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
`
}

// launchdPlist renders the agent's launchd daemon definition.
func launchdPlist(exe, cfg string) string {
	var b strings.Builder
	esc := func(s string) string {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by "moonwake-agent install"; "moonwake-agent uninstall" removes it. -->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + launchdLabel + `</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, w := range append([]string{exe}, serviceArgs(cfg)...) {
		b.WriteString("\t\t<string>" + esc(w) + "</string>\n")
	}
	b.WriteString(`	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<true/>
	<key>ThrottleInterval</key>
	<integer>5</integer>
	<key>StandardOutPath</key>
	<string>/var/log/moonwake-agent.log</string>
	<key>StandardErrorPath</key>
	<string>/var/log/moonwake-agent.log</string>
</dict>
</plist>
`)
	return b.String()
}

// fileInstaller installs a service as a definition file plus commands to
// the service manager: systemd and launchd. Every part is a field so that
// tests write into a temporary directory and record the commands instead
// of running them.
type fileInstaller struct {
	path       string                 // the unit or plist
	executable func() (string, error) // the binary to run, os.Executable
	// checkBinary refuses a binary other users could replace
	// (checkBinary); nil in tests of binaries that do not exist.
	checkBinary func(exe string) error
	render      func(exe, cfg string) string
	// run runs the service manager (argv, never a shell).
	run func(ctx context.Context, name string, args ...string) error
	// Commands, each an argv for run. reload follows every change of the
	// file. activate enables and starts the service. On a reinstall the
	// running service has the old definition: unload runs before activate
	// (its errors ignored), restart after it.
	reload               []string
	activate, deactivate [][]string
	unload, restart      [][]string
	ready                func() error // the service manager is there; nil: assume it is
}

func (in fileInstaller) install(ctx context.Context, cfgPath string) error {
	if in.ready != nil {
		if err := in.ready(); err != nil {
			return fmt.Errorf("install: %w", err)
		}
	}
	exe, cfg, err := resolveInstallPaths(in.executable, cfgPath)
	if err != nil {
		return err
	}
	if in.checkBinary != nil {
		if err := in.checkBinary(exe); err != nil {
			return err
		}
	}
	_, statErr := os.Stat(in.path)
	reinstall := statErr == nil
	if reinstall {
		for _, c := range in.unload {
			_ = in.run(ctx, c[0], c[1:]...)
		}
	}
	if err := writeFileAtomic(in.path, []byte(in.render(exe, cfg)), 0o644); err != nil {
		return fmt.Errorf("install: %w", hintRoot(err))
	}
	cmds := in.activate
	if in.reload != nil {
		cmds = append([][]string{in.reload}, cmds...)
	}
	if reinstall {
		cmds = append(cmds, in.restart...)
	}
	for _, c := range cmds {
		if err := in.run(ctx, c[0], c[1:]...); err != nil {
			return fmt.Errorf("install: %w", err)
		}
	}
	return nil
}

func (in fileInstaller) uninstall(ctx context.Context) error {
	if _, err := os.Stat(in.path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("uninstall: not installed (%w)", err)
		}
		return fmt.Errorf("uninstall: %w", hintRoot(err))
	}
	var errs []error
	for _, c := range in.deactivate {
		if err := in.run(ctx, c[0], c[1:]...); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(in.path); err != nil {
		errs = append(errs, hintRoot(err))
	}
	if in.reload != nil {
		if err := in.run(ctx, in.reload[0], in.reload[1:]...); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data: a reader (the service manager)
// sees the old file or the new one, never half of it.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func hintRoot(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w (run as root)", err)
	}
	return err
}
