package sunshinetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The config API's app list (GET/POST /api/apps, DELETE /api/apps/{index}),
// as Sunshine serves it: GET answers apps.json as it is on disk; POST adds
// the app in its body (index -1) or replaces the one at index, sorts the
// apps by name and writes the file with Boost's writer; DELETE removes the
// app at an index. Each change reloads the app list that /applist and
// /launch use. Launching an app runs its prep commands ("do") in order,
// through Server.Run, and fails as Sunshine does when one fails.

// shippedApps is apps.json as Sunshine installs it (two-space JSON, not
// yet rewritten by Boost).
func (s *Server) shippedApps() []byte {
	type app struct {
		Name      string `json:"name"`
		ImagePath string `json:"image-path,omitempty"`
		Cmd       string `json:"cmd,omitempty"`
	}
	var f struct {
		Env  map[string]string `json:"env"`
		Apps []app             `json:"apps"`
	}
	f.Env = map[string]string{"PATH": "$(PATH):$(HOME)/.local/bin"}
	for _, a := range s.Apps {
		f.Apps = append(f.Apps, app{Name: a.Title, ImagePath: a.ImagePath, Cmd: a.Cmd})
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	return append(b, '\n')
}

// AppsFile returns apps.json as the host has it now.
func (s *Server) AppsFile() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.appsFileLocked())
}

func (s *Server) appsFileLocked() []byte {
	if s.appsFile == nil {
		s.appsFile = s.shippedApps()
	}
	return s.appsFile
}

// appID is a host-assigned id, as Sunshine's: a hash of the name and the
// image, never an index.
func appID(name, image string) int64 {
	return int64(crc32.ChecksumIEEE([]byte(name+image)) & 0x7fffffff)
}

// refreshLocked rebuilds the app list from the apps.json tree, as
// proc::refresh does, keeping the ids of apps whose name and image stay.
func (s *Server) refreshLocked(t *ptree) {
	old := map[string]int64{}
	for _, a := range s.Apps {
		old[a.Title+"\x00"+a.ImagePath] = a.ID
	}
	var apps []App
	if list := t.get("apps"); list != nil {
		for _, c := range list.children {
			a := App{Title: value(c.tree, "name"), Cmd: value(c.tree, "cmd"), ImagePath: value(c.tree, "image-path")}
			if prep := c.tree.get("prep-cmd"); prep != nil {
				for _, p := range prep.children {
					a.PrepCmd = append(a.PrepCmd, value(p.tree, "do"))
				}
			}
			if id, ok := old[a.Title+"\x00"+a.ImagePath]; ok {
				a.ID = id
			} else {
				a.ID = appID(a.Title, a.ImagePath)
			}
			apps = append(apps, a)
		}
	}
	s.Apps = apps
}

func value(t *ptree, key string) string {
	if c := t.get(key); c != nil {
		return c.data
	}
	return ""
}

// boostJSON answers a tree of strings as Sunshine's send_response and
// bad_request do.
func boostJSON(w http.ResponseWriter, code int, kv ...string) {
	t := &ptree{}
	for i := 0; i+1 < len(kv); i += 2 {
		t.put(kv[i], &ptree{data: kv[i+1]})
	}
	if code != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(code)
	_, _ = w.Write(writePtree(t))
}

func badRequest(w http.ResponseWriter, msg string) {
	boostJSON(w, http.StatusBadRequest, "status_code", "400", "status", "false", "error", msg)
}

var deleteRE = regexp.MustCompile(`^/api/apps/([0-9]+)$`)

// serveApps serves the config API's app routes; false for other paths.
func (w *WebUI) serveApps(rw http.ResponseWriter, r *http.Request) bool {
	s := w.s
	switch {
	case r.URL.Path == "/api/apps" && r.Method == http.MethodGet:
		s.mu.Lock()
		b := slices.Clone(s.appsFileLocked())
		s.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(b)
	case r.URL.Path == "/api/apps" && r.Method == http.MethodPost:
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		in, err := readPtree(body)
		if err != nil {
			badRequest(rw, "<unspecified file>(1): "+err.Error())
			return true
		}
		for _, k := range []string{"prep-cmd", "detached", "index"} {
			if in.get(k) == nil {
				badRequest(rw, "No such node ("+k+")")
				return true
			}
		}
		index, err := strconv.Atoi(in.get("index").data)
		if err != nil {
			badRequest(rw, "conversion of data to type \"i\" failed")
			return true
		}
		for _, k := range []string{"prep-cmd", "detached"} {
			if len(in.get(k).children) == 0 {
				in.erase(k)
			}
		}
		in.erase("index")
		s.mu.Lock()
		defer s.mu.Unlock()
		file, err := readPtree(s.appsFileLocked())
		if err != nil || file.get("apps") == nil {
			badRequest(rw, "No such node (apps)")
			return true
		}
		list := file.get("apps")
		if index == -1 {
			list.children = append(list.children, pchild{"", in})
		} else if index >= 0 && index < len(list.children) {
			list.children[index].tree = in
		}
		slices.SortStableFunc(list.children, func(a, b pchild) int { return strings.Compare(value(a.tree, "name"), value(b.tree, "name")) })
		file.erase("apps")
		file.children = append(file.children, pchild{"apps", list})
		s.appsFile = writePtree(file)
		s.refreshLocked(file)
		boostJSON(rw, http.StatusOK, "status", "true")
	case deleteRE.MatchString(r.URL.Path) && r.Method == http.MethodDelete:
		index, err := strconv.Atoi(deleteRE.FindStringSubmatch(r.URL.Path)[1])
		s.mu.Lock()
		defer s.mu.Unlock()
		file, ferr := readPtree(s.appsFileLocked())
		if ferr != nil || file.get("apps") == nil {
			badRequest(rw, "No such node (apps)")
			return true
		}
		list := file.get("apps")
		if err != nil || index < 0 || index >= len(list.children) {
			if len(list.children) == 0 {
				badRequest(rw, "No applications to delete")
			} else {
				badRequest(rw, fmt.Sprintf("'index' out of range, max index is %d", len(list.children)-1))
			}
			return true
		}
		list.children = slices.Delete(list.children, index, index+1)
		file.erase("apps")
		file.children = append(file.children, pchild{"apps", list})
		s.appsFile = writePtree(file)
		s.refreshLocked(file)
		boostJSON(rw, http.StatusOK, "status", "true", "result", fmt.Sprintf("application %d deleted", index))
	default:
		return false
	}
	return true
}

// ErrPrepFailed is what a Run hook returns for a command that exited
// non-zero, with the exit code in its text.
var ErrPrepFailed = errors.New("prep command failed")

// runPrep runs an app's prep commands in order, as Sunshine does before
// the app, stopping at the first that fails.
func (s *Server) runPrep(ctx context.Context, a App) error {
	for _, cmd := range a.PrepCmd {
		if cmd == "" {
			continue
		}
		if s.Run == nil {
			return fmt.Errorf("[%s] failed: this host runs no commands", cmd)
		}
		if err := s.Run(ctx, SplitCommand(cmd)); err != nil {
			return fmt.Errorf("[%s] failed: %w", cmd, err)
		}
	}
	return nil
}

// SplitCommand splits a command line as Sunshine does before running it:
// on spaces, with double quotes grouping and a backslash escaping a quote.
func SplitCommand(cmd string) []string {
	var argv []string
	var cur strings.Builder
	quoted, have := false, false
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == '\\' && i+1 < len(cmd) && cmd[i+1] == '"':
			cur.WriteByte('"')
			have = true
			i++
		case c == '"':
			quoted = !quoted
			have = true
		case c == ' ' && !quoted:
			if have {
				argv = append(argv, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		argv = append(argv, cur.String())
	}
	return argv
}
