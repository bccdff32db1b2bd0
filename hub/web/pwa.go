package web

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

//go:generate go run ./internal/mkicons -out static/icons

// swSource is the service worker; servePWA fills in its asset list.
//
//go:embed sw.js
var swSource string

// Theme colours, also in app.css and the layout's theme-color.
const (
	themeColor      = "#1b2033"
	backgroundColor = "#14161c"
)

// manifestIcon is one icon of the web app manifest.
type manifestIcon struct {
	Src     string `json:"src"`
	Sizes   string `json:"sizes"`
	Type    string `json:"type"`
	Purpose string `json:"purpose,omitempty"`
}

// webManifest is the web app manifest.
type webManifest struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	ShortName       string         `json:"short_name"`
	Description     string         `json:"description"`
	StartURL        string         `json:"start_url"`
	Scope           string         `json:"scope"`
	Display         string         `json:"display"`
	Orientation     string         `json:"orientation"`
	ThemeColor      string         `json:"theme_color"`
	BackgroundColor string         `json:"background_color"`
	Icons           []manifestIcon `json:"icons"`
}

// buildPWA makes the manifest and the service worker from the assets.
func (s *Server) buildPWA() error {
	icon := func(name, sizes, typ, purpose string) manifestIcon {
		u, err := s.assets.url(name)
		if err != nil {
			panic(err) // the icons are embedded: a missing one is a bug the tests catch
		}
		return manifestIcon{Src: u, Sizes: sizes, Type: typ, Purpose: purpose}
	}
	m := webManifest{
		ID: "/", Name: "moonwake", ShortName: "moonwake",
		Description: "Wake your PCs, see whether they are really on, and shut them down.",
		StartURL:    "/", Scope: "/", Display: "standalone", Orientation: "any",
		ThemeColor: themeColor, BackgroundColor: backgroundColor,
		Icons: []manifestIcon{
			icon("icons/icon-192.png", "192x192", "image/png", "any"),
			icon("icons/icon-512.png", "512x512", "image/png", "any"),
			icon("icons/maskable-192.png", "192x192", "image/png", "maskable"),
			icon("icons/maskable-512.png", "512x512", "image/png", "maskable"),
			icon("icons/icon.svg", "any", "image/svg+xml", "any"),
		},
	}
	buf, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	s.manifestBody = buf

	// The service worker precaches every hashed file; its text, and so its
	// cache name, changes whenever one of them does, which updates it.
	var urls []string
	for _, a := range s.assets.byName {
		urls = append(urls, a.url)
	}
	sort.Strings(urls)
	list, err := json.Marshal(urls)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(list)
	s.swBody = []byte(strings.NewReplacer("__VERSION__", hex.EncodeToString(sum[:6]), "__ASSETS__", string(list)).Replace(swSource))
	return nil
}

// manifest is GET /manifest.webmanifest.
func (s *Server) manifest(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, &asset{body: s.manifestBody, ctype: "application/manifest+json", etag: etagOf(s.manifestBody)}, "no-cache")
}

// serviceWorker is GET /sw.js, served from the root so that its scope is
// the whole app. no-cache: browsers check it for updates on every start.
func (s *Server) serviceWorker(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Service-Worker-Allowed", "/")
	serveAsset(w, r, &asset{body: s.swBody, ctype: "text/javascript; charset=utf-8", etag: etagOf(s.swBody)}, "no-cache")
}

// favicon is GET /favicon.ico, which browsers ask for on their own.
func (s *Server) favicon(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, s.assets.byName["icons/icon-192.png"], "public, max-age=86400")
}

// offline is GET /offline, the page the service worker shows when the hub
// cannot be reached. It holds no state and needs no session.
func (s *Server) offline(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "offline.html", nil)
}

// etagOf is a strong validator for body.
func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}
