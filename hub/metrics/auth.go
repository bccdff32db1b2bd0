package metrics

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// bearer lets through only the requests that carry token as a bearer
// token, as Prometheus sends it with authorization.credentials_file (the
// scheme's case does not matter, RFC 9110).
func bearer(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="moonwake metrics"`)
			http.Error(w, "metrics need the bearer token of metrics.token_file", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
