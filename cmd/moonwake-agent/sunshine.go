package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/agent"
	"github.com/moonwake/moonwake/sunshine"
)

// request asks the running agent to have the hub carry out action for the
// Sunshine app titled app. It is what a power app runs: a clear line on
// stderr and a non-zero exit when the hub is not reached, so Sunshine
// fails the launch and Moonlight says so.
func request(ctx context.Context, action, app, cfgPath, socket string, stdout io.Writer) error {
	if socket == "" {
		cfg, err := agent.ReadConfig(cfgPath)
		if err != nil {
			return err
		}
		socket = cfg.SocketPath()
	}
	said, err := agent.Request(ctx, socket, agent.LocalRequest{Name: action, App: app})
	if err != nil {
		return fmt.Errorf("%s not done: %s", action, moonwake.ErrorMessage(err))
	}
	fmt.Fprintln(stdout, said)
	return nil
}

// cancelCountdown asks the running agent to cancel the countdowns on
// this PC; the hub is told and the actions end as cancelled at the PC.
func cancelCountdown(ctx context.Context, cfgPath, socket string, stdout io.Writer) error {
	if socket == "" {
		cfg, err := agent.ReadConfig(cfgPath)
		if err != nil {
			return err
		}
		socket = cfg.SocketPath()
	}
	said, err := agent.Request(ctx, socket, agent.LocalRequest{Name: agent.LocalCancel})
	if err != nil {
		return fmt.Errorf("not cancelled: %s", moonwake.ErrorMessage(err))
	}
	fmt.Fprintln(stdout, said)
	return nil
}

// sunshineAppsOptions are the flags of "sunshine apps install|remove".
type sunshineAppsOptions struct {
	install   bool
	web       string
	httpsPort int
	user      string
	appsJSON  string
	cfgPath   string
}

// sunshineApps adds the power apps to the Sunshine host on this PC, or
// removes them: through its config API with the web credentials (the
// password from MOONWAKE_SUNSHINE_PASSWORD, used for these calls and kept
// nowhere), or by editing its apps.json.
func sunshineApps(ctx context.Context, o sunshineAppsOptions, getenv func(string) string, stdout io.Writer) error {
	var cmds map[string]string
	if o.install {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this program's path: %w", err)
		}
		if exe, err = filepath.EvalSymlinks(exe); err != nil {
			return fmt.Errorf("find this program's path: %w", err)
		}
		cfg := ""
		if o.cfgPath != "" {
			if cfg, err = filepath.Abs(o.cfgPath); err != nil {
				return err
			}
		}
		cmds = map[string]string{}
		for _, p := range sunshine.PowerApps {
			if cmds[p.Title], err = sunshine.PowerAppCommand(exe, cfg, p); err != nil {
				return err
			}
		}
	}
	var done []sunshine.Change
	if o.appsJSON != "" {
		var backup string
		var err error
		done, backup, err = sunshine.EditAppsFile(o.appsJSON, sunshine.PowerApps, cmds, time.Now())
		if err != nil {
			return err
		}
		report(stdout, done)
		if backup != "" {
			fmt.Fprintf(stdout, "The previous %s is kept as %s.\nRestart Sunshine so that it reads the new list.\n", o.appsJSON, backup)
		}
		return nil
	}
	user := o.user
	if user == "" {
		user = getenv("MOONWAKE_SUNSHINE_USER")
	}
	password := getenv("MOONWAKE_SUNSHINE_PASSWORD")
	if user == "" || password == "" {
		return usagef("sunshine apps: give Sunshine's web username (--user) and its password in MOONWAKE_SUNSHINE_PASSWORD, or --apps-json FILE")
	}
	api, err := sunshine.NewConfigAPI(ctx, o.web, o.httpsPort, user, password, nil)
	if err != nil {
		return err
	}
	if o.install {
		done, err = api.InstallPowerApps(ctx, sunshine.PowerApps, cmds)
	} else {
		done, err = api.RemovePowerApps(ctx)
	}
	report(stdout, done)
	return err
}

func report(w io.Writer, done []sunshine.Change) {
	if len(done) == 0 {
		fmt.Fprintln(w, "Nothing to change.")
	}
	for _, c := range done {
		fmt.Fprintf(w, "%-13s %s\n", c.Title, c.What)
	}
}
