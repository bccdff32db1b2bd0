package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFrontUsage(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		args []string
		says string
	}{
		{nil, []string{"front"}, "MOONWAKE_HUB"},
		{map[string]string{"MOONWAKE_HUB": "moonwake:8080"}, []string{"front"}, "want http://host:port"},
		{nil, []string{"front", "--hub", "ftp://hub"}, "want http://host:port"},
	} {
		code, _, stderr := cli(t, c.env, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.says) {
			t.Errorf("%v %v: exit %d, %q; want 2 saying %q", c.env, c.args, code, stderr, c.says)
		}
	}
}

// moonwake front, as Knative runs it (PORT from the environment), in front
// of a real hub process: a wake by MAC goes through, and SIGTERM stops it
// cleanly.
func TestFrontProcess(t *testing.T) {
	hp := startHubProcess(t, t.TempDir())
	conn, port := udpReceiver(t)
	if code, body := hp.req(t, "POST", "/api/v1/machines", hp.admin, map[string]any{"name": "pc", "mac": "aa:bb:cc:dd:ee:51", "broadcast": "127.0.0.1", "port": port}); code != 201 {
		t.Fatalf("add machine: %d %s", code, body)
	}

	cmd := exec.Command(os.Args[0], "front", "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "MOONWAKE_TEST_MAIN=1", "MOONWAKE_HUB="+hp.url, "MOONWAKE_LOG_FORMAT=json")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var l struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "front serving" {
				addrc <- l.Addr
			}
		}
	}()
	var url string
	select {
	case a := <-addrc:
		url = "http://" + a
	case <-time.After(10 * time.Second):
		t.Fatal("the front did not start")
	}

	res, err := http.Get(fmt.Sprintf("%s/wake?mac=aa:bb:cc:dd:ee:51&token=%s", url, hp.admin))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("wake through the front: %d %s", res.StatusCode, body)
	}
	if b := recv(t, conn, 5*time.Second); len(b) != 102 {
		t.Fatalf("no magic packet: %x", b)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the front did not stop on SIGTERM")
	}
}
