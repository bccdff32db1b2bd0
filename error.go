package moonwake

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in httpapi and one exit code in
// the CLI; any other error is internal and its text is never shown to a
// client.
const (
	EInvalid      = "invalid"      // the input is wrong; the message says how
	ENotFound     = "not_found"    // no such machine, token or action
	EConflict     = "conflict"     // it exists already, or is managed elsewhere
	EUnauthorized = "unauthorized" // no valid credential
	EForbidden    = "forbidden"    // a valid credential that may not do this
	ERateLimited  = "rate_limited" // too many requests; retry later
	EUnavailable  = "unavailable"  // a dependency is down (network, interface)
	EFull         = "full"         // the disk is full: nothing was stored; retry once there is room
	EInternal     = "internal"     // a bug or an I/O failure; details are logged only
)

// Error is an error meant to be shown to the person who caused it.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("moonwake: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of the first *Error in err's chain, and a
// generic text for any other error so that internals never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
