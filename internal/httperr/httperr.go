// Package httperr maps moonwake's error codes to HTTP statuses, once, for
// both front doors: the API (hub/httpapi) and the web app (hub/web).
package httperr

import (
	"net/http"

	"github.com/moonwake/moonwake"
)

// Status maps an error code (moonwake.ErrorCode) to an HTTP status; it is
// the only place that does. Any code it does not know is a 500.
func Status(code string) int {
	switch code {
	case moonwake.EInvalid:
		return http.StatusBadRequest
	case moonwake.ENotFound:
		return http.StatusNotFound
	case moonwake.EConflict:
		return http.StatusConflict
	case moonwake.EUnauthorized:
		return http.StatusUnauthorized
	case moonwake.EForbidden:
		return http.StatusForbidden
	case moonwake.ERateLimited:
		return http.StatusTooManyRequests
	case moonwake.EUnavailable:
		return http.StatusServiceUnavailable
	case moonwake.EFull:
		return http.StatusInsufficientStorage
	default:
		return http.StatusInternalServerError
	}
}
