package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake/front"
)

func newFrontCmd(e *env) *cobra.Command {
	var hub, listen, logFormat string
	cmd := &cobra.Command{
		Use:   "front",
		Short: "Serve /wake?mac= and tap links for a hub elsewhere (a Knative Service)",
		Long: `Run the stateless front: it serves the compatibility route
GET /wake?mac=… (token in token= or an Authorization header) and the tap
links (/l/…), by forwarding them to the hub with the caller's own token. It
holds no secret and sends no packet, so it needs no host network; it starts
in milliseconds, so it can scale to zero (a Knative Service).

  MOONWAKE_HUB          the hub's URL, e.g. http://moonwake.moonwake.svc:8080
  PORT                  the port to serve on (set by Knative; default 8080)
  MOONWAKE_LOG_FORMAT   text or json`,
		Example: `  MOONWAKE_HUB=http://moonwake:8080 moonwake front
  moonwake front --hub https://wake.example.org --listen 127.0.0.1:8081`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			u := or(e, hub, "MOONWAKE_HUB", "")
			if u == "" {
				return usagef("front: the hub's URL is missing: --hub or MOONWAKE_HUB")
			}
			f, err := front.New(u)
			if err != nil {
				return usagef("front: %v", err)
			}
			addr := listen
			if addr == "" {
				addr = ":" + or(e, "", "PORT", "8080")
			}
			log := relayLogger(e, or(e, logFormat, "MOONWAKE_LOG_FORMAT", "text"))
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			log.Info("front serving", "addr", ln.Addr().String(), "hub", u)
			return serveFront(cmd.Context(), ln, f.Handler())
		},
	}
	cmd.Flags().StringVar(&hub, "hub", "", "hub `URL` (or MOONWAKE_HUB)")
	cmd.Flags().StringVar(&listen, "listen", "", "`address` to serve on (default :$PORT, else :8080)")
	cmd.Flags().StringVar(&logFormat, "log-format", "", "text or json (or MOONWAKE_LOG_FORMAT)")
	return cmd
}

// serveFront serves h on ln until ctx ends, then lets the requests under
// way finish (a platform sends SIGTERM and waits before it kills).
func serveFront(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		srv.Close() // event streams outlive any grace period
		err = nil
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
