package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// asset is one embedded static file, served under a name that carries a
// hash of its content, so that it can be cached for ever.
type asset struct {
	name   string // "app.css", or "icons/icon-192.png"
	url    string // "/static/app.3f9a1c2b.css"
	body   []byte
	ctype  string
	etag   string
	sha256 string // hex, of body
}

// assetSet is every file under static/, by name and by hashed URL.
type assetSet struct {
	byName map[string]*asset
	byURL  map[string]*asset
}

// loadAssets reads static/ and names each file after its content.
func loadAssets(fsys fs.FS) (*assetSet, error) {
	set := &assetSet{byName: map[string]*asset{}, byURL: map[string]*asset{}}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])
		ext := path.Ext(name)
		a := &asset{
			name:   name,
			url:    "/static/" + strings.TrimSuffix(name, ext) + "." + h[:8] + ext,
			body:   body,
			ctype:  contentType(ext),
			etag:   `"` + h[:16] + `"`,
			sha256: h,
		}
		set.byName[name] = a
		set.byURL[a.url] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: load static files: %w", err)
	}
	return set, nil
}

// contentType is the media type of a file extension; the embedded files
// are few and known, so the system's MIME tables are not consulted.
func contentType(ext string) string {
	switch ext {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".webmanifest":
		return "application/manifest+json"
	case ".html":
		return "text/html; charset=utf-8"
	case ".json":
		return "application/json"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// url returns the hashed URL of the static file name, or an error for a
// file that does not exist: a template that names one fails loudly.
func (set *assetSet) url(name string) (string, error) {
	a := set.byName[name]
	if a == nil {
		return "", fmt.Errorf("no static file %q", name)
	}
	return a.url, nil
}

// has reports whether static/name exists.
func (set *assetSet) has(name string) bool { return set.byName[name] != nil }

// serveStatic serves GET /static/…: hashed URLs only, cached for a year.
// An unhashed or stale URL is 404, so that a page never gets an old file
// under a name it will cache for ever.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	a := s.assets.byURL[r.URL.Path]
	if a == nil {
		w.Header().Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	}
	serveAsset(w, r, a, "public, max-age=31536000, immutable")
}

// serveAsset writes a with the given caching.
func serveAsset(w http.ResponseWriter, r *http.Request, a *asset, cache string) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", cache)
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
