// Command moonwake-agent runs on a PC that moonwake wakes and shuts down:
// it pairs with the hub once, then runs as a service that keeps an uplink to
// the hub, carries out its power commands and reports idle time, user
// sessions and uptime. "doctor" checks what breaks Wake-on-LAN on the PC.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/agent"
	"github.com/moonwake/moonwake/sunshine"
	"github.com/moonwake/moonwake/uplink"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // it failed
	exitUsage = 2 // bad input: nothing was done
)

// serviceName is the name of the Windows service (and systemd unit) that
// install creates.
const serviceName = "moonwake-agent"

const usage = `moonwake-agent: the moonwake service on a PC that the hub wakes and shuts down.

Usage:
  moonwake-agent pair --hub URL --code CODE [--state FILE] [--config FILE] [--hub-fingerprint SHA256:…] [--tls-fingerprint SHA256:…]
        pair with the hub; get CODE from "moonwake machines pair NAME" on the hub
  moonwake-agent run [--config FILE]        run the agent (what the service does)
  moonwake-agent install [--config FILE]    install and start the service (as root / Administrator)
  moonwake-agent uninstall                  stop and remove the service
  moonwake-agent doctor [--fix]             check what breaks Wake-on-LAN here, and fix it
  moonwake-agent sunshine apps install|remove [--user U] [--web URL] [--apps-json FILE] [--config FILE]
        add "Sleep PC", "Shut down PC" and "Restart PC" to this PC's Sunshine (password in
        MOONWAKE_SUNSHINE_PASSWORD, not kept), or remove them
  moonwake-agent request sleep|shutdown|reboot|hibernate --app TITLE [--config FILE | --socket PATH]
        ask the hub, through the running agent, for a verified action (what those apps run)
  moonwake-agent cancel [--config FILE | --socket PATH]
        cancel the countdown before a shutdown (or reboot, sleep, idle auto-off) on this PC
  moonwake-agent version

The configuration file (default %s) is YAML:
  hub: https://moonwake.example.org      # else the hub it paired with
  state: %s
  report_interval: 15s
  commands:                              # override a power command with a program (no shell)
    shutdown: ["/usr/bin/systemctl", "poweroff"]
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	err := dispatch(ctx, args, stdout, stderr, getenv)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "moonwake-agent: %v\n\n", err)
		fmt.Fprintf(stderr, usage, agent.DefaultConfigPath(), agent.DefaultStatePath())
		return exitUsage
	}
	fmt.Fprintf(stderr, "moonwake-agent: %s\n", message(err))
	if moonwake.ErrorCode(err) == moonwake.EInvalid {
		return exitUsage
	}
	return exitError
}

// message returns what to tell the person about err.
func message(err error) string {
	var me *moonwake.Error
	if errors.As(err, &me) {
		return me.Message
	}
	return err.Error()
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usagef("no command given")
	}
	name, args := args[0], args[1:]
	flags := flag.NewFlagSet("moonwake-agent "+name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	parse := func() error {
		if err := flags.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err}
		}
		if flags.NArg() > 0 {
			return usagef("%s: unexpected argument %q", name, flags.Arg(0))
		}
		return nil
	}
	switch name {
	case "pair":
		hub := flags.String("hub", "", "the hub's URL, such as https://moonwake.example.org")
		code := flags.String("code", "", "the pairing code (or the environment variable MOONWAKE_PAIR_CODE)")
		state := flags.String("state", "", "where to store the agent's identity (default: the configuration's state, or "+agent.DefaultStatePath()+")")
		cfgPath := flags.String("config", "", "the configuration file (default "+agent.DefaultConfigPath()+")")
		fp := flags.String("hub-fingerprint", "", "refuse a hub whose key has another fingerprint")
		tlsFP := flags.String("tls-fingerprint", "", "trust the hub's self-signed TLS certificate with this fingerprint, and no other")
		if err := parse(); err != nil {
			return err
		}
		if *code == "" {
			*code = getenv("MOONWAKE_PAIR_CODE")
		}
		if *hub == "" || *code == "" {
			return usagef("pair: --hub and --code are required")
		}
		return pair(ctx, agent.PairOptions{Hub: *hub, Code: *code, StatePath: *state, HubFingerprint: *fp, TLSFingerprint: *tlsFP}, *cfgPath, stdout)
	case "run":
		cfgPath := flags.String("config", "", "the configuration file (default "+agent.DefaultConfigPath()+")")
		if err := parse(); err != nil {
			return err
		}
		return runAgent(ctx, *cfgPath, stderr)
	case "install":
		cfgPath := flags.String("config", "", "the configuration file (default "+agent.DefaultConfigPath()+"; created if missing)")
		if err := parse(); err != nil {
			return err
		}
		return install(*cfgPath, stdout)
	case "uninstall":
		if err := parse(); err != nil {
			return err
		}
		if err := agent.Uninstall(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "The moonwake-agent service is removed. Its configuration and state are left in place.")
		return nil
	case "doctor":
		fix := flags.Bool("fix", false, "fix what can be fixed, asking first")
		if err := parse(); err != nil {
			return err
		}
		return agent.Doctor(ctx, *fix, stdout)
	case "request":
		if len(args) == 0 {
			return usagef("request: which action? (sleep, shutdown, reboot, hibernate)")
		}
		action := args[0]
		args = args[1:]
		app := flags.String("app", "", "the title of the Sunshine app that asks")
		cfgPath := flags.String("config", "", "the agent's configuration file, which names its socket")
		socket := flags.String("socket", "", "the agent's local socket (default: from the configuration)")
		if err := parse(); err != nil {
			return err
		}
		if *app == "" {
			return usagef("request: --app is required")
		}
		return request(ctx, action, *app, *cfgPath, *socket, stdout)
	case "cancel":
		cfgPath := flags.String("config", "", "the agent's configuration file, which names its socket")
		socket := flags.String("socket", "", "the agent's local socket (default: from the configuration)")
		if err := parse(); err != nil {
			return err
		}
		return cancelCountdown(ctx, *cfgPath, *socket, stdout)
	case agent.NotifyChildArg:
		// The notifier's child, started by the agent with a user's
		// credentials (agent/notify_linux.go): not for people.
		return agent.RunNotifier(os.Stdin, stdout)
	case "sunshine":
		if len(args) < 2 || args[0] != "apps" || (args[1] != "install" && args[1] != "remove") {
			return usagef("sunshine: want \"sunshine apps install\" or \"sunshine apps remove\"")
		}
		o := sunshineAppsOptions{install: args[1] == "install"}
		args = args[2:]
		flags.StringVar(&o.web, "web", sunshine.DefaultWebURL, "Sunshine's web UI")
		flags.IntVar(&o.httpsPort, "https-port", sunshine.DefaultHTTPSPort, "Sunshine's GameStream HTTPS port, whose certificate the web UI's must be")
		flags.StringVar(&o.user, "user", "", "Sunshine's web username (or MOONWAKE_SUNSHINE_USER)")
		flags.StringVar(&o.appsJSON, "apps-json", "", "edit this apps.json instead of calling the web UI (a backup is made; restart Sunshine after)")
		flags.StringVar(&o.cfgPath, "config", "", "the agent configuration the apps' commands name (default: the agent's default)")
		if err := parse(); err != nil {
			return err
		}
		return sunshineApps(ctx, o, getenv, stdout)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "moonwake-agent", moonwake.Build())
		return nil
	case "help", "--help", "-help", "-h":
		fmt.Fprintf(stdout, usage, agent.DefaultConfigPath(), agent.DefaultStatePath())
		return nil
	}
	return usagef("unknown command %q", name)
}

func pair(ctx context.Context, o agent.PairOptions, cfgPath string, stdout io.Writer) error {
	if o.StatePath == "" {
		cfg, err := agent.ReadConfig(cfgPath)
		if err != nil {
			return err
		}
		o.StatePath = cfg.StatePath()
	}
	statePath := o.StatePath
	st, err := agent.Pair(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Paired with %s as agent %s for machine %q.\n", st.Hub, st.ID, st.Machine)
	fmt.Fprintf(stdout, "Hub key: %s (the hub shows the same fingerprint).\n", uplink.Fingerprint(st.HubPublicKey))
	fmt.Fprintf(stdout, "Identity stored in %s.\nNext: moonwake-agent install\n", statePath)
	return nil
}

func runAgent(ctx context.Context, cfgPath string, stderr io.Writer) error {
	cfg, err := agent.ReadConfig(cfgPath)
	if err != nil {
		return err
	}
	st, err := agent.ReadState(cfg.StatePath())
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	a := &agent.Agent{Config: cfg, State: st, Logger: log}
	return agent.RunService(serviceName, func(sctx context.Context) error {
		// Either a signal to this process or the service manager stops it.
		sctx, cancel := context.WithCancel(sctx)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		return a.Run(sctx)
	})
}

// defaultConfig is written by install when there is no configuration yet.
const defaultConfig = `# moonwake-agent configuration. See "moonwake-agent help".
# hub: https://moonwake.example.org
# report_interval: 15s
# commands:
#   shutdown: ["/path/to/program", "arg"]
`

func install(cfgPath string, stdout io.Writer) error {
	if cfgPath == "" {
		cfgPath = agent.DefaultConfigPath()
		if err := os.MkdirAll(filepath.Dir(cfgPath), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(cfgPath), err)
		}
		if err := agent.SecureConfigDir(filepath.Dir(cfgPath)); err != nil {
			return fmt.Errorf("protect %s: %w", filepath.Dir(cfgPath), err)
		}
		if _, err := os.Stat(cfgPath); errors.Is(err, fs.ErrNotExist) {
			if err := os.WriteFile(cfgPath, []byte(defaultConfig), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", cfgPath, err)
			}
			if err := agent.SecureConfig(cfgPath); err != nil {
				return fmt.Errorf("protect %s: %w", cfgPath, err)
			}
			fmt.Fprintf(stdout, "Wrote a default configuration to %s.\n", cfgPath)
		}
	}
	cfg, err := agent.ReadConfig(cfgPath)
	if err != nil {
		return err
	}
	if _, err := agent.ReadState(cfg.StatePath()); err != nil {
		return err
	}
	if err := agent.Install(cfgPath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "The moonwake-agent service is installed and started, with configuration %s.\n", cfgPath)
	return nil
}
