package hub_test

import (
	"bufio"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"
)

// TestWebApp signs in to a hub's web app, keeps an event stream open
// across a graceful stop (which must end it, not wait for it), and finds
// the session still valid after a restart.
func TestWebApp(t *testing.T) {
	cfg := newConfig(t)
	th := startHub(t, cfg)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	res, err := c.Get(th.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/setup" {
		t.Fatalf("GET /login on a new hub: %s to %q", res.Status, res.Header.Get("Location"))
	}
	pw := "a long enough password"
	res, err = c.PostForm(th.URL+"/setup", url.Values{"token": {th.Admin}, "password": {pw}, "confirm": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("setup: %s to %q", res.Status, res.Header.Get("Location"))
	}
	res, err = c.Get(th.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("dashboard: %s", res.Status)
	}
	// The API is still the API.
	if a := th.do(http.MethodGet, "/api/v1/machines", th.Admin, nil); a.Status != http.StatusOK {
		t.Fatalf("API beside the web app: %d", a.Status)
	}

	// An open event stream does not hold up a graceful stop.
	stream := &http.Client{Jar: jar}
	res, err = stream.Get(th.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("events: %s", res.Status)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
		}
	}()
	start := time.Now()
	th.Stop()
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the event stream outlived the hub")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopping with a stream open took %s", d)
	}

	// The session survives a restart (on another port: cookies ignore
	// ports).
	th = startHub(t, cfg)
	res2, err := c.Get(th.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusOK {
		t.Fatalf("dashboard after a restart: %s to %q", res2.Status, res2.Header.Get("Location"))
	}
}

func TestWebAppOff(t *testing.T) {
	cfg := newConfig(t)
	off := false
	cfg.UI.Enabled = &off
	th := startHub(t, cfg)
	for _, path := range []string{"/", "/login", "/static/app.css", "/sw.js"} {
		if a := th.do(http.MethodGet, path, "", nil); a.Status != http.StatusNotFound {
			t.Errorf("GET %s with the web app off: %d", path, a.Status)
		}
	}
	if a := th.do(http.MethodGet, "/api/v1/machines", th.Admin, nil); a.Status != http.StatusOK {
		t.Errorf("API: %d", a.Status)
	}
}
