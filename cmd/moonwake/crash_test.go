package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"

	_ "modernc.org/sqlite"
)

// Crash safety of the whole hub process. hub/sqlite's TestCrash proves the
// store's promise (an action is durable once CreateAction returns) in a
// child that calls the store; the tests here prove the promise a client
// sees, through HTTP, against "moonwake serve" itself.

// TestKill9UnderLoad kills a hub with SIGKILL while clients are sending it
// wakes: every wake it answered 202 is in the database afterwards, the file
// passes PRAGMA integrity_check, and the restarted hub serves each action.
func TestKill9UnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hub processes")
	}
	if runtime.GOOS == "windows" {
		t.Skip("no SIGKILL")
	}
	_, port := udpReceiver(t)
	dir := t.TempDir()
	hp := startHubProcess(t, dir)
	// A wake of a machine that is being woken joins the running action, so
	// distinct actions need many machines; each is woken blind, on loopback.
	const machines = 200
	for i := range machines {
		if code, body := hp.req(t, "POST", "/api/v1/machines", hp.admin, map[string]any{
			"name": fmt.Sprintf("pc%03d", i), "mac": fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff),
			"broadcast": "127.0.0.1", "port": port,
		}); code != 201 {
			t.Fatalf("create machine %d: %d %s", i, code, body)
		}
	}

	// Eight clients wake machines round-robin until the hub dies; each
	// records the ID of every wake answered 202.
	const killAfter = 400
	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		answers  int
		others   = map[int]int{}
		enough   = make(chan struct{})
		once     sync.Once
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; ; i += 8 {
				req, _ := http.NewRequestWithContext(ctx, "POST", hp.url+fmt.Sprintf("/api/v1/machines/pc%03d/wake", i%machines), nil)
				req.Header.Set("Authorization", "Bearer "+hp.admin)
				resp, err := client.Do(req)
				if err != nil {
					return // the hub is dead
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return // died while answering: not an answer
				}
				var a struct{ ID string }
				mu.Lock()
				if resp.StatusCode == http.StatusAccepted && json.Unmarshal(body, &a) == nil && a.ID != "" {
					accepted[a.ID] = true
					answers++
					if answers >= killAfter {
						once.Do(func() { close(enough) })
					}
				} else {
					others[resp.StatusCode]++
				}
				mu.Unlock()
			}
		})
	}
	<-enough
	// Killed while the clients keep sending: requests are in flight.
	hp.cmd.Process.Signal(syscall.SIGKILL)
	hp.cmd.Wait()
	wg.Wait()
	if len(others) > 0 {
		t.Errorf("answers other than 202 before the kill: %v", others)
	}
	t.Logf("%d wakes answered 202 (%d distinct actions) before SIGKILL", answers, len(accepted))

	// The file, as the killed hub left it (with its WAL), is sound.
	db, err := sql.Open("sqlite", filepath.Join(dir, "moonwake.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	var integrity string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity check after SIGKILL: %q, %v", integrity, err)
	}
	stored := map[string]bool{}
	rows, err := db.Query(`SELECT id FROM actions`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		stored[id] = true
	}
	rows.Close()
	db.Close()
	for id := range accepted {
		if !stored[id] {
			t.Errorf("action %s was answered 202 but is not in the database", id)
		}
	}

	hp2 := startHubProcess(t, dir)
	for id := range accepted {
		if code, body := hp2.req(t, "GET", "/api/v1/actions/"+id, hp.admin, nil); code != 200 {
			t.Fatalf("restarted hub: action %s: %d %s", id, code, body)
		}
	}
}
