// Command startup measures how long `moonwake serve` takes from process
// start to its first served request: it starts the binary, sends the
// request every 100 µs until it is answered with a 2xx status, and reports
// the distribution over many runs, on a fresh data directory (first run:
// migrations and the first admin token) and on an existing one.
//
// The request is GET /healthz unless -path names another, such as an
// authorized GET /wake?mac=…&token=… of a machine the -config file
// declares, with the token -token-file gives the hub as its admin token.
// With -baseline, the bare handler (bench/baseline) is started the same
// way, run for run with the hub, and timed to its first GET /wake: the
// ratio compares like with like on a loaded machine.
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
	"strings"
	"time"
)

func main() {
	bin := flag.String("bin", "moonwake", "moonwake binary")
	runs := flag.Int("runs", 30, "starts per case")
	addr := flag.String("listen", "127.0.0.1:18181", "address the hub (and the baseline) listens on")
	path := flag.String("path", "/healthz", "the request that counts as served, with its query")
	config := flag.String("config", "", "the hub's configuration file (MOONWAKE_CONFIG)")
	tokenFile := flag.String("token-file", "", "the hub's first admin token (MOONWAKE_ADMIN_TOKEN_FILE)")
	baseline := flag.String("baseline", "", "bare handler binary to time to its first GET /wake too")
	target := flag.String("target", "127.0.0.1:9", "the baseline's -target")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "moonwake-startup-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	env := os.Environ()
	if *config != "" {
		env = append(env, "MOONWAKE_CONFIG="+*config)
	}
	if *tokenFile != "" {
		env = append(env, "MOONWAKE_ADMIN_TOKEN_FILE="+*tokenFile)
	}

	// measure starts cmd and returns the time to a 2xx answer to url.
	measure := func(cmd *exec.Cmd, url string) time.Duration {
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		start := time.Now()
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		last := "no answer"
		for time.Since(start) < 5*time.Second {
			resp, err := client.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					return time.Since(start)
				}
				last = resp.Status
			}
			time.Sleep(100 * time.Microsecond)
		}
		log.Fatalf("%s did not answer %s within 5 s: %s", cmd.Path, url, last)
		return 0
	}
	hub := func(dir string) time.Duration {
		cmd := exec.Command(*bin, "serve", "--listen", *addr, "--data", dir)
		cmd.Env = env
		return measure(cmd, "http://"+*addr+*path)
	}
	bare := func() time.Duration {
		return measure(exec.Command(*baseline, "-listen", *addr, "-target", *target), "http://"+*addr+"/wake")
	}

	report := func(name string, ds []time.Duration) time.Duration {
		slices.Sort(ds)
		pct := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))] }
		fmt.Printf("%-28s runs=%d min=%s median=%s p90=%s max=%s\n", name, len(ds),
			ms(ds[0]), ms(pct(0.5)), ms(pct(0.9)), ms(ds[len(ds)-1]))
		return pct(0.5)
	}

	var fresh, warm, base []time.Duration
	warmDir := filepath.Join(tmp, "warm")
	hub(warmDir) // create it
	for i := 0; i < *runs; i++ {
		fresh = append(fresh, hub(filepath.Join(tmp, fmt.Sprint("fresh", i))))
		warm = append(warm, hub(warmDir))
		if *baseline != "" {
			base = append(base, bare())
		}
	}
	fmt.Printf("served: GET %s\n", redact(*path))
	f := report("start, new data directory", fresh)
	w := report("start, existing data", warm)
	if *baseline != "" {
		b := report("baseline, GET /wake", base)
		fmt.Printf("median against the baseline: %.2f× (new data directory), %.2f× (existing data)\n",
			float64(f)/float64(b), float64(w)/float64(b))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// redact hides a token in the query (and what follows it), so that the
// output can be shared.
func redact(path string) string {
	if before, _, ok := strings.Cut(path, "token="); ok {
		return before + "token=…"
	}
	return path
}
