package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/clientip"
)

type tokenKey struct{}

// withQuery is what auth keeps of a request whose token came in the
// query: the token, and the query it parsed, which the handler reads
// again instead of parsing it once more (GET /wake?mac=…&token=…).
type withQuery struct {
	tok   *moonwake.Token
	query url.Values
}

// tokenFrom returns the authenticated token of a request behind auth.
func tokenFrom(ctx context.Context) *moonwake.Token {
	switch v := ctx.Value(tokenKey{}).(type) {
	case *moonwake.Token:
		return v
	case *withQuery:
		return v.tok
	}
	return nil
}

// queryOf returns r's query: the one auth parsed, or a new parse; nil
// when r has none.
func queryOf(r *http.Request) url.Values {
	if v, ok := r.Context().Value(tokenKey{}).(*withQuery); ok {
		return v.query
	}
	if r.URL.RawQuery == "" {
		return nil
	}
	return r.URL.Query()
}

type authOpts struct {
	admin      bool // only admin tokens
	action     bool // an action route: rate-limited
	queryToken bool // accept ?token= (tap links)
	// cloudEvents: the CloudEvents route, the one route that CloudEvents
	// tokens work on; a token in its URL must be one.
	cloudEvents bool
}

// auth authenticates every request to next, checks the admin requirement,
// rate-limits action routes per token and per client address, and
// rate-limits failed authentications per client address.
func (s *Server) auth(next http.HandlerFunc, o authOpts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := s.clientAddr(r)
		secret, query, err := bearer(r, o.queryToken)
		if err != nil {
			s.error(w, r, err)
			return
		}
		// The secret is judged first (a hash looked up in memory), and only
		// a failure is charged to the address: people behind one address
		// (a CGNAT, an office, an untrusted proxy) must not be locked out by
		// someone else's wrong tokens. An address that keeps failing gets no
		// more wrong tries logged for a while; a valid token from it still
		// works. Tap links and relay enrolment tokens are valid secrets:
		// they cost no failure and are refused below with 403, from any
		// address.
		tok, err := s.Tokens.Authenticate(r.Context(), secret)
		if err != nil {
			if moonwake.ErrorCode(err) == moonwake.EUnauthorized {
				if s.authFailures.exhausted(addr) {
					s.tooMany(w, r, 2, "too many failed authentications from your address")
					return
				}
				if ok, wait := s.authFailures.allow(addr); !ok {
					s.tooMany(w, r, wait, "too many failed authentications from your address")
					return
				}
				s.Logger.Info("authentication failed", "addr", addr, "method", r.Method, "path", r.URL.Path)
			}
			s.error(w, r, err)
			return
		}
		if tok.RelayEnrol {
			// It enrols relays, on the enrolment route only.
			s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q is a relay enrolment token: it works only for moonwake relay", tok.Name))
			return
		}
		if tok.TapLink {
			// A tap link does its one thing on its own page; on the API
			// it could read the machine's audit log and evidence.
			s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q is a tap link: open it in a browser; it does not work on the API", tok.Name))
			return
		}
		if tok.CloudEvents && !o.cloudEvents {
			s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q is a CloudEvents token: it works only on POST /api/v1/cloudevents", tok.Name))
			return
		}
		if o.cloudEvents && !tok.CloudEvents && r.Header.Get("Authorization") == "" {
			// A URL ends up in logs: only a token made for it goes there.
			s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not be given in the URL; send Authorization: Bearer TOKEN, or create a CloudEvents token for a subscriber URL", tok.Name))
			return
		}
		if o.admin && !tok.Admin {
			s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q is not an admin token", tok.Name))
			return
		}
		if o.action {
			if ok, wait := s.byToken.allow(tok.ID); !ok {
				s.tooMany(w, r, wait, "rate limit for this token reached")
				return
			}
			if ok, wait := s.byAddr.allow(addr); !ok {
				s.tooMany(w, r, wait, "rate limit for your address reached")
				return
			}
		}
		var ctx context.Context
		if query != nil {
			ctx = context.WithValue(r.Context(), tokenKey{}, &withQuery{tok: tok, query: query})
		} else {
			ctx = context.WithValue(r.Context(), tokenKey{}, tok)
		}
		ctx = moonwake.WithActor(ctx, moonwake.Actor{Kind: moonwake.ActorToken, Name: tok.Name, TokenID: tok.ID, Addr: addr})
		next(w, r.WithContext(ctx))
	})
}

// bearer extracts the secret from the Authorization header, or, where
// allowed, from the token query parameter; then it returns the query it
// parsed too.
func bearer(r *http.Request, queryOK bool) (string, url.Values, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, secret, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			return "", nil, moonwake.Errorf(moonwake.EUnauthorized, "malformed Authorization header; send Authorization: Bearer TOKEN")
		}
		return strings.TrimSpace(secret), nil, nil
	}
	if r.URL.RawQuery != "" && strings.Contains(r.URL.RawQuery, "token=") {
		q := r.URL.Query()
		if q.Has("token") {
			if !queryOK {
				return "", nil, moonwake.Errorf(moonwake.EUnauthorized, "a token in the URL is accepted on wake routes only; send Authorization: Bearer TOKEN")
			}
			if t := q.Get("token"); t != "" {
				return t, q, nil
			}
		}
	}
	return "", nil, moonwake.Errorf(moonwake.EUnauthorized, "missing token; send Authorization: Bearer TOKEN")
}

func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, wait float64, msg string) {
	secs := int(wait + 0.999)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.error(w, r, moonwake.Errorf(moonwake.ERateLimited, "%s; retry in %d s", msg, secs))
}

// clientAddr returns the client's IP address, believing X-Forwarded-For
// only from a trusted proxy (see clientip).
func (s *Server) clientAddr(r *http.Request) string {
	return clientip.Resolver{Trusted: s.TrustedProxies}.Addr(r)
}
