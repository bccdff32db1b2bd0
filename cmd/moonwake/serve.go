package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/moonwake/moonwake/hub"
	"github.com/moonwake/moonwake/hub/config"
	"github.com/moonwake/moonwake/internal/gcfloor"
)

func newServeCmd(e *env) *cobra.Command {
	var listen, data, cfgPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the hub: API, machine registry, audit log",
		Long: `Run the moonwake hub.

The hub keeps its SQLite database in the data directory, serves the API on
the listen address, and sends magic packets on the LAN it runs on. Every
route but /healthz and /readyz needs a token; on the first start the hub
creates an admin token and writes it to the file admin-token in the data
directory, readable by its own user only (it is printed too when standard
output is a terminal, never into a service's or container's log).

Settings come from the defaults, then the config file, then MOONWAKE_*
environment variables, then these flags.`,
		Example: `  moonwake serve
  moonwake serve --listen 127.0.0.1:8080 --data /var/lib/moonwake
  moonwake serve --config /etc/moonwake/moonwake.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfgPath == "" {
				cfgPath = e.getenv("MOONWAKE_CONFIG")
			}
			cfg, err := config.Load(cfgPath, e.getenv)
			if err != nil {
				return usagef("%v", err)
			}
			if cmd.Flags().Changed("listen") {
				cfg.Listen = listen
			}
			if cmd.Flags().Changed("data") {
				cfg.Data = data
			}
			if err := cfg.Validate(); err != nil {
				return usagef("%v", err)
			}
			// Under load, a live heap of a few MiB is collected at 32 MiB,
			// not every 4; an idle hub keeps Go's goal: see
			// docs/performance.md. GOGC in the environment wins.
			defer gcfloor.Start(heapFloor).Stop()
			log := newLogger(e, &cfg)
			h := hub.New(cfg, log)
			defer h.Close()
			if err := h.Open(cmd.Context()); err != nil {
				return err
			}
			if h.AdminSecret != "" && isTerminal(e.stdout) {
				fmt.Fprintf(e.stdout, `
  moonwake created the first admin token (it is also in %s):

    %s

  Keep it in a password manager, then delete that file. Open the web app at
    %s/setup
  and paste it there to choose your password. Make more (scoped) tokens with
    moonwake tokens create --data %s --name phone --machines NAME --actions wake

`, h.AdminTokenPath, h.AdminSecret, webURL(cfg.PublicURL, h.Addr(), cfg.TLS.On()), cfg.Data)
			}
			return h.Serve(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to serve HTTP on (default \":8080\"; or MOONWAKE_LISTEN)")
	cmd.Flags().StringVar(&data, "data", "", "data `directory` for the database (default \"moonwake-data\"; or MOONWAKE_DATA)")
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config `file` (or MOONWAKE_CONFIG)")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	_ = cmd.MarkFlagDirname("data")
	return cmd
}

// heapFloor is the least heap the garbage collector lets grow before it
// collects, while the hub is busy (internal/gcfloor).
const heapFloor = 32 << 20

func newLogger(e *env, cfg *config.Config) *slog.Logger {
	level, _ := cfg.Level()
	opts := &slog.HandlerOptions{Level: level}
	w := e.stderr
	if w == nil {
		w = os.Stderr
	}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// webURL is where the hub's web app can be opened: the public URL when one
// is set, else the listening address, with a wildcard address shown as
// localhost.
func webURL(public string, addr net.Addr, https bool) string {
	if public != "" {
		return public
	}
	scheme := "http://"
	if https {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + net.JoinHostPort(host, port)
}

// isTerminal reports whether w is a terminal: a person watching, not a
// pipe or file that a service manager or container runtime keeps.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
