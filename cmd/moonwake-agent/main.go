// Command moonwake-agent runs on the machine that moonwake wakes and shuts
// down. It is not built yet: this stub says so, so that packaging, cross
// compilation and CI can already carry it.
package main

import (
	"fmt"
	"os"

	"github.com/moonwake/moonwake"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Println("moonwake-agent", moonwake.Version)
		return
	}
	fmt.Fprintln(os.Stderr, "moonwake-agent: not implemented yet; the agent (shutdown with proof, idle reports, doctor) is planned.")
	os.Exit(2)
}
