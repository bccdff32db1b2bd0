// Command coldstart measures a serverless cold start: the time from
// starting a process to its first 200 (or another status, -status) on a
// URL. It polls the URL every 200 µs on fresh connections, stops the
// process, and reports the distribution over many runs.
//
//	coldstart -runs 20 -url http://127.0.0.1:8081/healthz -- moonwake front --hub …
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

func main() {
	runs := flag.Int("runs", 20, "starts to measure")
	url := flag.String("url", "", "URL to poll until it answers")
	status := flag.Int("status", 200, "the status that counts as ready")
	limit := flag.Duration("limit", 30*time.Second, "give up on a start after this long")
	name := flag.String("name", "", "name of the row in the report")
	flag.Parse()
	if *url == "" || flag.NArg() == 0 {
		log.Fatal("usage: coldstart -url URL [-runs N] [-status 200] -- command args…")
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	measure := func() (time.Duration, error) {
		cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		// Its own process group, so that a server's workers stop with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		defer func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}()
		for time.Since(start) < *limit {
			res, err := client.Get(*url)
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == *status {
					return time.Since(start), nil
				}
			}
			time.Sleep(200 * time.Microsecond)
		}
		return 0, fmt.Errorf("no answer within %s; its stderr:\n%s", *limit, stderr.Bytes())
	}

	var ds []time.Duration
	for i := 0; i < *runs; i++ {
		d, err := measure()
		if err != nil {
			log.Fatalf("%s: run %d: %v", *name, i+1, err)
		}
		ds = append(ds, d)
		time.Sleep(50 * time.Millisecond) // let the port go
	}
	slices.Sort(ds)
	pct := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))] }
	fmt.Printf("%-44s runs=%d min=%s median=%s p90=%s max=%s\n", *name, len(ds),
		ms(ds[0]), ms(pct(0.5)), ms(pct(0.9)), ms(ds[len(ds)-1]))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
