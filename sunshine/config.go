package sunshine

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultWebURL is Sunshine's web UI on the PC it runs on.
const DefaultWebURL = "https://localhost:47990"

// PowerApp is an app that moonwake adds to a Sunshine host so that the
// Moonlight client in hand can put the PC to sleep, shut it down or
// restart it: launching it asks the hub, through the PC's agent, for a
// verified action.
type PowerApp struct {
	Title  string // as Moonlight lists it
	Action string // "sleep", "shutdown", "reboot"
}

// PowerApps are the apps "moonwake-agent sunshine apps install" adds.
var PowerApps = []PowerApp{
	{Title: "Sleep PC", Action: "sleep"},
	{Title: "Shut down PC", Action: "shutdown"},
	{Title: "Restart PC", Action: "reboot"},
}

// PowerAppCommand is the command line a power app runs: the agent's
// "request" (agentPath, and configPath unless ""), quoted as Sunshine
// splits a command. Paths holding a double quote cannot be quoted.
func PowerAppCommand(agentPath, configPath string, a PowerApp) (string, error) {
	for _, s := range []string{agentPath, configPath, a.Title} {
		if strings.ContainsAny(s, "\"\x00\r\n") {
			return "", fmt.Errorf("sunshine apps: %q cannot be quoted in a Sunshine command", s)
		}
	}
	cmd := fmt.Sprintf("%q request %s --app %q", agentPath, a.Action, a.Title)
	if configPath != "" {
		cmd += fmt.Sprintf(" --config %q", configPath)
	}
	return cmd, nil
}

// isPowerAppCommand reports whether a command is one PowerAppCommand
// made: the agent's request, whatever its path.
func isPowerAppCommand(cmd string) bool {
	return strings.Contains(cmd, "moonwake-agent") && strings.Contains(cmd, " request ")
}

// ConfigApp is an app as apps.json and the config API hold it. Sunshine
// keeps the file in a Boost property tree, so every value may come back
// as a string ("true", "5"); only what moonwake reads is decoded.
type ConfigApp struct {
	Name    string
	Cmd     string
	PrepCmd []string // the "do" of each prep command
	Index   int      // its place in the list: what DELETE /api/apps/{index} takes
}

// Ours reports whether moonwake added the app: a power app's command.
func (a ConfigApp) Ours() bool {
	if isPowerAppCommand(a.Cmd) {
		return true
	}
	for _, c := range a.PrepCmd {
		if isPowerAppCommand(c) {
			return true
		}
	}
	return false
}

// MaxAppsFile bounds apps.json and the config API's answer.
const MaxAppsFile = 4 << 20

// ParseApps parses apps.json, or GET /api/apps's answer (the same file).
func ParseApps(b []byte) ([]ConfigApp, error) {
	if len(b) > MaxAppsFile {
		return nil, fmt.Errorf("sunshine apps: more than %d bytes", MaxAppsFile)
	}
	var f struct {
		Apps []json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("sunshine apps: not the JSON of apps.json: %w", err)
	}
	apps := make([]ConfigApp, 0, len(f.Apps))
	for i, raw := range f.Apps {
		var a struct {
			Name    string          `json:"name"`
			Cmd     json.RawMessage `json:"cmd"`
			PrepCmd json.RawMessage `json:"prep-cmd"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("sunshine apps: app %d: %w", i, err)
		}
		c := ConfigApp{Name: a.Name, Cmd: stringish(a.Cmd), Index: i}
		// An array of {"do": …}, or "" where Boost wrote an empty one.
		var prep []struct {
			Do json.RawMessage `json:"do"`
		}
		if len(a.PrepCmd) > 0 && a.PrepCmd[0] == '[' {
			if err := json.Unmarshal(a.PrepCmd, &prep); err != nil {
				return nil, fmt.Errorf("sunshine apps: app %q: prep-cmd: %w", a.Name, err)
			}
		}
		for _, p := range prep {
			c.PrepCmd = append(c.PrepCmd, stringish(p.Do))
		}
		apps = append(apps, c)
	}
	return apps, nil
}

// stringish decodes a JSON string, or gives a scalar's text.
func stringish(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// Change is what installing or removing did to one app.
type Change struct {
	Title string
	What  string // "added", "updated", "unchanged", "removed"
}

// ErrAppTaken is an app title the host holds already for an app moonwake
// did not add: it is left alone.
var ErrAppTaken = errors.New("sunshine: an app of that title exists and is not moonwake's")

// plan decides what installing apps (title → command) into have does.
func plan(have []ConfigApp, want []PowerApp, cmds map[string]string) (add, update []PowerApp, same []string, err error) {
	for _, p := range want {
		var found *ConfigApp
		for i := range have {
			if strings.EqualFold(strings.TrimSpace(have[i].Name), p.Title) {
				found = &have[i]
				break
			}
		}
		switch {
		case found == nil:
			add = append(add, p)
		case !found.Ours():
			return nil, nil, nil, fmt.Errorf("%w: %q (rename or remove it first)", ErrAppTaken, found.Name)
		case found.Name == p.Title && len(found.PrepCmd) == 1 && found.PrepCmd[0] == cmds[p.Title] && found.Cmd == "":
			same = append(same, p.Title)
		default:
			update = append(update, p)
		}
	}
	return add, update, same, nil
}

// appBody is the POST /api/apps body of a power app: nothing runs but its
// prep command, which must succeed for the launch to (so a hub that is
// down fails the launch, which Moonlight shows), and no global prep
// command (a resolution change, say) runs for it.
func appBody(p PowerApp, cmd string, index int) []byte {
	type prep struct {
		Do       string `json:"do"`
		Undo     string `json:"undo"`
		Elevated bool   `json:"elevated"`
	}
	b, _ := json.Marshal(struct {
		Name        string   `json:"name"`
		Output      string   `json:"output"`
		Cmd         string   `json:"cmd"`
		Index       int      `json:"index"`
		ExcludeprG  bool     `json:"exclude-global-prep-cmd"`
		Elevated    bool     `json:"elevated"`
		AutoDetach  bool     `json:"auto-detach"`
		WaitAll     bool     `json:"wait-all"`
		ExitTimeout int      `json:"exit-timeout"`
		PrepCmd     []prep   `json:"prep-cmd"`
		Detached    []string `json:"detached"`
		ImagePath   string   `json:"image-path"`
	}{Name: p.Title, Index: index, ExcludeprG: true, AutoDetach: true, WaitAll: true, ExitTimeout: 5,
		PrepCmd: []prep{{Do: cmd}}, Detached: []string{}})
	return b
}

// ConfigAPI is Sunshine's configuration API (its web UI's REST API) on the
// PC it runs on: GET and POST /api/apps, DELETE /api/apps/{index}, with
// HTTP basic auth. The credentials are used for the calls and kept nowhere.
type ConfigAPI struct {
	base     *url.URL
	user     string
	password string
	hc       *http.Client
}

// NewConfigAPI connects to the web UI at webURL (DefaultWebURL if ""). Its
// certificate, which no CA signed, is trusted when it is the one the
// GameStream HTTPS port (httpsPort; 0: DefaultHTTPSPort) on the same host
// presents, as Sunshine uses one for both; otherwise nothing is sent and
// the error wraps ErrMITM. id is the client certificate offered to that
// port, which asks for one; nil: a throwaway one.
func NewConfigAPI(ctx context.Context, webURL string, httpsPort int, user, password string, id *Identity) (*ConfigAPI, error) {
	if webURL == "" {
		webURL = DefaultWebURL
	}
	u, err := url.Parse(webURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("sunshine web UI %q: want https://host:port", webURL)
	}
	if user == "" || password == "" {
		return nil, errors.New("sunshine web UI: Sunshine's web username and password are needed")
	}
	if httpsPort == 0 {
		httpsPort = DefaultHTTPSPort
	}
	if id == nil {
		if id, err = NewIdentity(); err != nil {
			return nil, err
		}
	}
	gs := net.JoinHostPort(u.Hostname(), strconv.Itoa(httpsPort))
	gsCert, err := peerCert(ctx, gs, id)
	if err != nil {
		return nil, fmt.Errorf("sunshine: GameStream HTTPS port %s: %w", gs, err)
	}
	webCert, err := peerCert(ctx, u.Host, nil)
	if err != nil {
		return nil, fmt.Errorf("sunshine web UI %s: %w", u.Host, err)
	}
	if !bytes.Equal(gsCert.Raw, webCert.Raw) {
		return nil, fmt.Errorf("sunshine web UI %s, GameStream HTTPS %s: %w; credentials not sent (%w)", u.Host, gs, ErrWebCert, ErrMITM)
	}
	return &ConfigAPI{base: u, user: user, password: password, hc: pinnedClient(webCert)}, nil
}

func pinnedClient(cert *x509.Certificate) *http.Client {
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DisableKeepAlives:   true,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			TLSClientConfig:     pinnedServerTLS(cert),
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// call makes one request and returns the answer's body when it is 200.
func (c *ConfigAPI) call(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(c.user, c.password)
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("sunshine %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAppsFile+1))
	if err != nil {
		return nil, fmt.Errorf("sunshine %s %s: %w", method, path, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return b, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, ErrWebCredentials
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	if e.Error != "" {
		return nil, fmt.Errorf("sunshine %s %s: HTTP %s: %.200s", method, path, resp.Status, e.Error)
	}
	return nil, fmt.Errorf("sunshine %s %s: HTTP %s", method, path, resp.Status)
}

// checkStatus checks a {"status": "true"} answer (a string from Boost, or
// a boolean).
func checkStatus(what string, b []byte) error {
	var out struct {
		Status any    `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("sunshine %s: an answer that is not JSON", what)
	}
	if out.Status == true || out.Status == "true" {
		return nil
	}
	return fmt.Errorf("sunshine %s: refused: %.200s", what, out.Error)
}

// Apps returns the host's apps.
func (c *ConfigAPI) Apps(ctx context.Context) ([]ConfigApp, error) {
	b, err := c.call(ctx, http.MethodGet, "/api/apps", nil)
	if err != nil {
		return nil, err
	}
	return ParseApps(b)
}

// InstallPowerApps adds the power apps, each running cmds[title], or
// brings them up to date; installing twice changes nothing. An app of the
// same title that moonwake did not add is left alone: ErrAppTaken, before
// anything is changed.
func (c *ConfigAPI) InstallPowerApps(ctx context.Context, apps []PowerApp, cmds map[string]string) ([]Change, error) {
	have, err := c.Apps(ctx)
	if err != nil {
		return nil, err
	}
	add, update, same, err := plan(have, apps, cmds)
	if err != nil {
		return nil, err
	}
	var done []Change
	for _, t := range same {
		done = append(done, Change{t, "unchanged"})
	}
	for _, p := range append(update, add...) {
		// Sunshine sorts the list at every save: look the index up anew.
		have, err := c.Apps(ctx)
		if err != nil {
			return done, err
		}
		index, what := -1, "added"
		for _, a := range have {
			if strings.EqualFold(strings.TrimSpace(a.Name), p.Title) {
				index, what = a.Index, "updated"
			}
		}
		b, err := c.call(ctx, http.MethodPost, "/api/apps", appBody(p, cmds[p.Title], index))
		if err == nil {
			err = checkStatus("save app", b)
		}
		if err != nil {
			return done, fmt.Errorf("add %q: %w", p.Title, err)
		}
		done = append(done, Change{p.Title, what})
	}
	return done, nil
}

// RemovePowerApps removes every app moonwake added; removing twice
// changes nothing.
func (c *ConfigAPI) RemovePowerApps(ctx context.Context) ([]Change, error) {
	var done []Change
	for range 64 {
		have, err := c.Apps(ctx)
		if err != nil {
			return done, err
		}
		i := indexOfOurs(have)
		if i < 0 {
			return done, nil
		}
		b, err := c.call(ctx, http.MethodDelete, "/api/apps/"+strconv.Itoa(have[i].Index), nil)
		if err == nil {
			err = checkStatus("delete app", b)
		}
		if err != nil {
			return done, fmt.Errorf("remove %q: %w", have[i].Name, err)
		}
		done = append(done, Change{have[i].Name, "removed"})
	}
	return done, errors.New("sunshine: the app list keeps holding moonwake's apps")
}

func indexOfOurs(apps []ConfigApp) int {
	for i, a := range apps {
		if a.Ours() {
			return i
		}
	}
	return -1
}

// EditAppsFile installs (cmds not nil) or removes (cmds nil) the power
// apps in apps.json at path, for a host whose web UI is not at hand. It
// first copies the file to a backup next to it, named with the time, and
// returns that name ("" when nothing changed); the rest of the file is
// kept (its keys in sorted order). Sunshine reads the file when it starts:
// restart it afterwards.
func EditAppsFile(path string, apps []PowerApp, cmds map[string]string, now time.Time) ([]Change, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	have, err := ParseApps(b)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	var top map[string]json.RawMessage
	var list struct {
		Apps []json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	_ = json.Unmarshal(b, &list)
	var done []Change
	var kept []json.RawMessage
	if cmds == nil {
		for i, a := range have {
			if a.Ours() {
				done = append(done, Change{a.Name, "removed"})
				continue
			}
			kept = append(kept, list.Apps[i])
		}
	} else {
		add, update, same, err := plan(have, apps, cmds)
		if err != nil {
			return nil, "", err
		}
		for _, t := range same {
			done = append(done, Change{t, "unchanged"})
		}
		if len(add)+len(update) == 0 {
			return done, "", nil
		}
		updating := map[string]bool{}
		for _, p := range update {
			updating[strings.ToLower(p.Title)] = true
		}
		for i, a := range have {
			if !updating[strings.ToLower(strings.TrimSpace(a.Name))] {
				kept = append(kept, list.Apps[i])
			}
		}
		for _, p := range update {
			kept = append(kept, fileApp(p, cmds[p.Title]))
			done = append(done, Change{p.Title, "updated"})
		}
		for _, p := range add {
			kept = append(kept, fileApp(p, cmds[p.Title]))
			done = append(done, Change{p.Title, "added"})
		}
	}
	if len(done) == 0 || (cmds == nil && len(kept) == len(list.Apps)) {
		return done, "", nil
	}
	if kept == nil {
		kept = []json.RawMessage{}
	}
	top["apps"], _ = json.Marshal(kept)
	out, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		return nil, "", err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, "", err
	}
	backup := fmt.Sprintf("%s.%s.bak", path, now.UTC().Format("20060102T150405Z"))
	if err := os.WriteFile(backup, b, fi.Mode().Perm()); err != nil {
		return nil, "", fmt.Errorf("back up %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".apps.json.*")
	if err != nil {
		return nil, "", err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(out, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), fi.Mode().Perm())); err != nil {
		return nil, "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, "", fmt.Errorf("write %s: %w", path, err)
	}
	return done, backup, nil
}

// fileApp is a power app as apps.json holds it (without the API's index).
func fileApp(p PowerApp, cmd string) json.RawMessage {
	var m map[string]any
	_ = json.Unmarshal(appBody(p, cmd, -1), &m)
	delete(m, "index")
	delete(m, "detached") // Sunshine drops an empty list too
	b, _ := json.Marshal(m)
	return b
}
