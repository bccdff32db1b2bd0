// Package front is moonwake's stateless front for serverless platforms: it
// serves the compatibility route GET /wake?mac=… and the tap links (/l/…)
// by forwarding them to a hub, with the caller's own credential. It holds
// no secret, keeps no state and sends no packet, so it needs no host
// network: the hub (and its relays) do the LAN side.
//
// This file is the whole front and uses the standard library only, because
// Fission's Go builder compiles deploy/fission/wake into a plugin from that
// directory alone: deploy/fission/wake/front.go is this file with its
// package renamed (go generate; a test keeps the two equal). Keep it so,
// and keep it buildable by Go 1.23, the Go of Fission's Go environment.
package front

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// Front forwards requests to one hub.
type Front struct {
	hub   *url.URL
	proxy *httputil.ReverseProxy
}

// New returns a front for the hub at hubURL, such as
// http://moonwake.moonwake.svc:8080 (a cluster Service) or
// https://wake.example.net.
func New(hubURL string) (*Front, error) {
	u, err := url.Parse(strings.TrimSpace(hubURL))
	if err != nil {
		return nil, fmt.Errorf("hub URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hub URL %q: want http://host:port or https://host", hubURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("hub URL %q: want no user, query or fragment; the caller's token is the credential", u.Redacted())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	f := &Front{hub: u}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// The chain of proxies before this one (the platform's
			// ingress, its activator) goes on, so that a hub that trusts
			// them finds the caller's address, for its rate limits and
			// audit log.
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			pr.SetXForwarded()
			// Behind the platform's ingress, the scheme and host the caller
			// used are the ingress's to tell (https, most often), not this
			// hop's.
			for _, h := range []string{"X-Forwarded-Proto", "X-Forwarded-Host"} {
				if v := pr.In.Header.Get(h); v != "" {
					pr.Out.Header.Set(h, v)
				}
			}
			// The hub sees the host the caller asked for, as behind any
			// reverse proxy: its cross-origin check of a tap link's POST
			// compares the form's Origin with it.
			pr.Out.Host = pr.In.Host
		},
		Transport:    tr,
		ErrorHandler: f.unreachable,
	}
	return f, nil
}

// Handler serves the compatibility route, the tap links with the static
// files their pages load, and /healthz, which answers without the hub so
// that a platform's readiness probe does not depend on it.
func (f *Front) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/wake", f.Wake)
	mux.Handle("/l/", f.proxy)
	mux.Handle("GET /static/", f.proxy)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Never echo the path: it may hold a secret.
		writeError(w, http.StatusNotFound, "not_found", "this front serves only /wake?mac=… and tap links (/l/…)")
	})
	return mux
}

// Wake is GET /wake?mac=…, with the token in token= or in an
// Authorization header. The MAC is checked here, so that a bad one is a
// clear 400 without a round trip; the rest is the hub's: the token, its
// scope, the registry (only registered machines wake) and the rate limits.
// The hub's status and JSON are the answer. A token in the query string
// moves to the Authorization header, so that it is in no URL this front
// sends on.
func (f *Front) Wake(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "invalid", "use GET /wake?mac=aa:bb:cc:dd:ee:ff")
		return
	}
	q := r.URL.Query()
	raw := q.Get("mac")
	if raw == "" {
		writeError(w, http.StatusBadRequest, "invalid", "missing mac parameter: /wake?mac=aa:bb:cc:dd:ee:ff")
		return
	}
	mac, err := ParseMAC(raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	out := r.Clone(r.Context())
	fwd := url.Values{"mac": {mac.String()}}
	if v := q.Get("wait"); v != "" {
		fwd.Set("wait", v)
	}
	out.URL.Path, out.URL.RawPath, out.URL.RawQuery = "/wake", "", fwd.Encode()
	out.RequestURI = ""
	if tok := q.Get("token"); tok != "" && out.Header.Get("Authorization") == "" {
		out.Header.Set("Authorization", "Bearer "+tok)
	}
	f.proxy.ServeHTTP(w, out)
}

// unreachable answers 502 when the hub cannot be reached, with the reason
// but never the request's URL, whose path or query may hold a secret.
func (f *Front) unreachable(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the caller left; nobody reads an answer
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	writeError(w, http.StatusBadGateway, "unavailable",
		fmt.Sprintf("the hub at %s cannot be reached: %v", f.hub.Redacted(), err))
}

// ParseMAC parses a 48-bit MAC address written as aa:bb:cc:dd:ee:ff,
// aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or aabbccddeeff, in any case, and
// refuses the addresses no single machine has (broadcast, multicast, all
// zeros). It accepts exactly what the hub's wol.ParseMAC accepts (a fuzz
// test compares them), without importing it.
func ParseMAC(s string) (net.HardwareAddr, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty MAC address; write it as aa:bb:cc:dd:ee:ff")
	}
	var digits string
	switch {
	case len(s) == 17 && (s[2] == ':' || s[2] == '-'):
		var b strings.Builder
		for i := 0; i < 17; i += 3 {
			if i > 0 && s[i-1] != s[2] {
				return nil, fmt.Errorf("MAC address %q: mixed or misplaced separators", s)
			}
			b.WriteString(s[i : i+2])
		}
		digits = b.String()
	case len(s) == 14 && s[4] == '.' && s[9] == '.':
		digits = s[0:4] + s[5:9] + s[10:14]
	case len(s) == 12:
		digits = s
	default:
		return nil, fmt.Errorf("MAC address %q: want 6 bytes as aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or aabbccddeeff", s)
	}
	mac := make(net.HardwareAddr, 6)
	if _, err := hex.Decode(mac, []byte(digits)); err != nil {
		return nil, fmt.Errorf("MAC address %q: not hexadecimal", s)
	}
	switch {
	case string(mac) == "\xff\xff\xff\xff\xff\xff":
		return nil, fmt.Errorf("MAC address %q: the broadcast address cannot be woken", s)
	case string(mac) == "\x00\x00\x00\x00\x00\x00":
		return nil, fmt.Errorf("MAC address %q: the all-zero address cannot be woken", s)
	case mac[0]&1 == 1:
		return nil, fmt.Errorf("MAC address %q: a multicast address (first byte odd) cannot be woken", s)
	}
	return mac, nil
}

// writeError writes the hub's error JSON: {"error": …, "code": …}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{msg, code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // strings only: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
