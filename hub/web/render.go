package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/httperr"
)

// view is what every page template gets: {{.Data}} is the page's own.
type view struct {
	Title    string
	CSRF     string // the session's CSRF token; "" when signed out
	Path     string // the request path, for the navigation
	Data     any
	Now      time.Time // when the page was made
	Version  string    // moonwake.Version
	SignedIn bool      // a session made this request: the layout shows the navigation
	Relays   bool      // the hub has relays: the navigation links their page
	Flash    string    // a one-line notice for the top of the page, if any
}

// render executes the page template page (a file in templates/, such as
// "machine.html", which defines "title" and "content") inside the layout,
// with data as {{.Data}}. The page is rendered into a buffer first: a
// template error is a clean 500, never half a page.
//
// Template functions (see funcs): asset "app.css" (the hashed URL),
// hasAsset, ago t ("41 s", "3 min", "2 h": how long since t), since t (the
// same, "" for a zero time), until t (how long until t), dur d, rfc3339 t,
// stateLabel s, asleepLabel (moonwake.AsleepLabel), csrfField $ (the
// hidden input; pass the view).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	s.renderView(w, r, status, page, s.newView(r, data))
}

// newView returns the view of a request with the page's data.
func (s *Server) newView(r *http.Request, data any) *view {
	v := &view{Path: r.URL.Path, Data: data, Now: s.now(), Version: moonwake.Version, Relays: s.Relays != nil}
	if sess := sessionFrom(r.Context()); sess != nil {
		v.CSRF = sess.csrf
		v.SignedIn = true
	}
	return v
}

// renderView executes page with v.
func (s *Server) renderView(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	pages, _ := s.pages()
	t := pages[page]
	if t == nil {
		s.log().Error("web: no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log().Error("web: render", "page", page, "path", r.URL.Path, "err", err)
		if page != "error.html" {
			s.renderView(w, r, http.StatusInternalServerError, "error.html", &view{
				Path: v.Path, CSRF: v.CSRF, SignedIn: v.SignedIn, Relays: v.Relays, Now: v.Now, Version: v.Version,
				Data: errorPage{Status: 500, Message: "The page could not be made; the details are in the hub's log."},
			})
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// errorPage is the data of error.html.
type errorPage struct {
	Status  int
	Message string
}

// fail renders err as an error page, with the status its code calls for.
// An internal error's text is logged, never shown. A request that asked for
// JSON (fetch from app.js) gets {"error": {"code", "message"}}.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := moonwake.ErrorCode(err)
	status := httperr.Status(code)
	msg := moonwake.ErrorMessage(err)
	if status == http.StatusInternalServerError {
		s.log().Error("web: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "Something went wrong on the hub; the details are in its log."
	}
	if wantsJSON(r) {
		writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
		return
	}
	s.render(w, r, status, "error.html", errorPage{Status: status, Message: msg})
}

// parsePages parses every page in templates/ with the layout (and any
// partials named _*.html), once, at start-up.
func parsePages(fsys fs.FS, funcs template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, err
	}
	var partials []string
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			partials = append(partials, n)
		}
	}
	// The layout and the partials are parsed once; each page is a clone
	// of them with its own file parsed in (a clone is independent, and
	// cloning is cheaper than parsing them again: BenchmarkParsePages
	// went from about 7 to 4 ms).
	shared, err := template.New("layout").Funcs(funcs).ParseFS(fsys, append([]string{"templates/layout.html"}, partials...)...)
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := shared.Clone()
		if err == nil {
			t, err = t.ParseFS(fsys, n)
		}
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", base, err)
		}
		for _, need := range []string{"title", "content"} {
			if t.Lookup(need) == nil {
				return nil, fmt.Errorf("web: template %s defines no %q", base, need)
			}
		}
		pages[base] = t
	}
	for _, need := range []string{"error.html", "login.html", "setup.html", "dashboard.html", "sessions.html", "offline.html"} {
		if pages[need] == nil {
			return nil, fmt.Errorf("web: template %s is missing", need)
		}
	}
	return pages, nil
}

// funcs returns the template functions.
func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"asset":    s.assets.url,
		"hasAsset": s.assets.has,
		"ago":      func(t any) string { return s.ago(t) },
		"since":    func(t any) string { return s.ago(t) },
		"until":    func(t any) string { return s.until(t) },
		"dur":      shortDuration,
		"rfc3339":  rfc3339,
		"words":    func(text string) template.HTML { return wordsHTML(text, s.now()) },
		"when": func(v any) template.HTML {
			if t, ok := timeOf(v); ok {
				return timeHTML(t, s.now())
			}
			return ""
		},
		"stateLabel":  stateLabel,
		"asleepLabel": func() string { return moonwake.AsleepLabel },
		"csrfField":   csrfField,
		"browser":     browserName,
		"cardButtons": func(name, csrf string, keepAwake time.Time, canKeep bool) cardButtons {
			return cardButtons{Name: name, CSRF: csrf, KeepAwake: keepAwake, CanKeep: canKeep}
		},
	}
}

// cardButtons is the data of the "card-buttons" template: the Wake, Shut
// down and Keep-awake forms of a machine's card, on the dashboard and on the
// machine's page.
type cardButtons struct {
	Name      string
	CSRF      string
	KeepAwake time.Time // zero: not kept awake
	CanKeep   bool      // the hub has power policies
}

// timeOf accepts a time.Time or a *time.Time; ok is false for nil or zero.
func timeOf(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, !t.IsZero()
	case *time.Time:
		if t == nil || t.IsZero() {
			return time.Time{}, false
		}
		return *t, true
	}
	return time.Time{}, false
}

// ago returns how long ago t was, shortly: "41 s", "3 min", "2 h", "5 d";
// "" for a zero or nil time.
func (s *Server) ago(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return ""
	}
	return shortDuration(s.now().Sub(t))
}

// until returns how long until t, shortly and rounded; "" for a zero or
// nil time.
func (s *Server) until(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return ""
	}
	return shortDuration(roundDuration(t.Sub(s.now())))
}

// roundDuration rounds d to the nearest whole unit shortDuration shows, so
// that an override of 2 h set a second ago reads "2 h", not "1 h".
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < time.Minute:
		return d.Round(time.Second)
	case d < time.Hour:
		return d.Round(time.Minute)
	case d < 48*time.Hour:
		return d.Round(time.Hour)
	}
	return d.Round(24 * time.Hour)
}

// shortDuration writes d in its largest whole unit: "41 s", "3 min", "2 h",
// "5 d". Negative durations count as 0 (clocks differ slightly).
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(max(d, 0)/time.Second)) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " d"
}

// rfc3339 formats a time for a <time datetime> attribute; "" for zero or nil.
func rfc3339(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// stateLabel is a power state in words, for people.
func stateLabel(v any) string {
	var st moonwake.PowerState
	switch x := v.(type) {
	case moonwake.PowerState:
		st = x
	case string:
		st = moonwake.PowerState(x)
	}
	switch st {
	case moonwake.StateOff:
		return "Off"
	case moonwake.StateWaking:
		return "Waking…"
	case moonwake.StateOn:
		return "On"
	case moonwake.StateStreaming:
		return "Streaming"
	case moonwake.StateIdle:
		return "Idle"
	case moonwake.StateShuttingDown:
		return "Shutting down…"
	}
	return "Unknown"
}

// csrfField returns the hidden form input that carries the CSRF token:
// {{csrfField $}} with the view (or its .CSRF string).
func csrfField(v ...any) (template.HTML, error) {
	var tok string
	if len(v) == 1 {
		switch x := v[0].(type) {
		case *view:
			tok = x.CSRF
		case view:
			tok = x.CSRF
		case string:
			tok = x
		}
	}
	if len(v) != 1 {
		return "", errors.New("csrfField: pass the view, as {{csrfField $}}")
	}
	return template.HTML(`<input type="hidden" name="csrf" value="` + template.HTMLEscapeString(tok) + `">`), nil
}
