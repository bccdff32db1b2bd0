// Command startup measures how long `moonwake serve` takes from process
// start to its first served request: it starts the binary, connects to
// /healthz every 100 µs until it answers, and reports the distribution
// over many runs, on a fresh data directory (first run: migrations and the
// first admin token) and on an existing one.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

func main() {
	bin := flag.String("bin", "moonwake", "moonwake binary")
	runs := flag.Int("runs", 30, "starts per case")
	addr := flag.String("listen", "127.0.0.1:18181", "address the hub listens on")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "moonwake-startup-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	measure := func(dir string) time.Duration {
		cmd := exec.Command(*bin, "serve", "--listen", *addr, "--data", dir)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		start := time.Now()
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		for time.Since(start) < 5*time.Second {
			resp, err := client.Get("http://" + *addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return time.Since(start)
				}
			}
			time.Sleep(100 * time.Microsecond)
		}
		log.Fatal("hub did not answer within 5 s")
		return 0
	}

	report := func(name string, ds []time.Duration) {
		slices.Sort(ds)
		pct := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))] }
		fmt.Printf("%-28s runs=%d min=%s median=%s p90=%s max=%s\n", name, len(ds),
			ms(ds[0]), ms(pct(0.5)), ms(pct(0.9)), ms(ds[len(ds)-1]))
	}

	var fresh, warm []time.Duration
	warmDir := filepath.Join(tmp, "warm")
	measure(warmDir) // create it
	for i := 0; i < *runs; i++ {
		fresh = append(fresh, measure(filepath.Join(tmp, fmt.Sprint("fresh", i))))
		warm = append(warm, measure(warmDir))
	}
	report("start, new data directory", fresh)
	report("start, existing data", warm)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
