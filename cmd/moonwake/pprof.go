//go:build pprof

package main

// Built with -tags pprof, moonwake serves net/http/pprof on
// MOONWAKE_PPROF_ADDR (default 127.0.0.1:6060), for profiling under load
// (see bench/). Release builds do not contain it.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("MOONWAKE_PPROF_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6060"
	}
	go http.ListenAndServe(addr, nil)
}
