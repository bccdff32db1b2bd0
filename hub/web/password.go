package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/moonwake/moonwake"
)

// Password lengths, in characters.
const (
	minPassword = 10
	maxPassword = 256
)

// argon2id parameters for a small home server: OWASP's second
// recommendation (19 MiB, two passes, one lane), about 30-60 ms on a
// Raspberry Pi 4 and little memory, so a burst of sign-ins cannot exhaust
// the hub. Sign-in attempts are also rate-limited per address.
var (
	argonMemory  uint32 = 19 * 1024 // KiB
	argonTime    uint32 = 2
	argonThreads uint8  = 1
)

// At most argonSlots argon2 runs (sign-ins and password changes) at a
// time: each takes argonMemory and tens of milliseconds, so a burst of
// them must not exhaust the hub's memory. A run waits up to argonWait
// for a slot; then the request is refused (429) rather than queued.
const argonSlots = 2

var (
	argonSem  = make(chan struct{}, argonSlots)
	argonWait atomic.Int64           // nanoseconds; 0 means 2 s. Tests shorten it.
	argonHook atomic.Pointer[func()] // tests: called while a slot is held, before the run
)

// acquireArgon takes an argon2 slot, waiting at most argonWait. It returns
// the slot's release, or false when none came free in time.
func acquireArgon(ctx context.Context) (release func(), ok bool) {
	select {
	case argonSem <- struct{}{}:
	default:
		wait := time.Duration(argonWait.Load())
		if wait <= 0 {
			wait = 2 * time.Second
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case argonSem <- struct{}{}:
		case <-t.C:
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
	if h := argonHook.Load(); h != nil {
		(*h)()
	}
	return func() { <-argonSem }, true
}

const (
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds a stored hash must respect to be checked at all: a corrupted or
// hostile hash must not make one sign-in take gigabytes or minutes.
const (
	maxArgonMemory  = 1024 * 1024 // 1 GiB, in KiB
	maxArgonTime    = 16
	maxArgonThreads = 16
	maxArgonSalt    = 64
	maxArgonKey     = 64
	minArgonSalt    = 8
	minArgonKey     = 16
)

// argonHash is a parsed PHC string.
type argonHash struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// String writes h as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func (h *argonHash) String() string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.memory, h.time, h.threads, enc.EncodeToString(h.salt), enc.EncodeToString(h.key))
}

// checkPassword says what is wrong with a new password, if anything.
func checkPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if !utf8.ValidString(pw) {
		return moonwake.Errorf(moonwake.EInvalid, "The password is not valid text.")
	}
	if n < minPassword {
		return moonwake.Errorf(moonwake.EInvalid, "Use at least %d characters.", minPassword)
	}
	if n > maxPassword {
		return moonwake.Errorf(moonwake.EInvalid, "Use at most %d characters.", maxPassword)
	}
	return nil
}

// hashPassword returns the PHC string of pw under a new random salt.
func hashPassword(pw string) (string, error) {
	if err := checkPassword(pw); err != nil {
		return "", err
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	h := &argonHash{memory: argonMemory, time: argonTime, threads: argonThreads, salt: salt}
	h.key = argon2.IDKey([]byte(pw), salt, h.time, h.memory, h.threads, argonKeyLen)
	return h.String(), nil
}

// verifyPassword reports whether pw matches the PHC string stored. A hash
// that does not parse is an error, never a match. The comparison takes
// constant time.
func verifyPassword(stored, pw string) (bool, error) {
	h, err := parseHash(stored)
	if err != nil {
		return false, err
	}
	if len(pw) > 4*maxPassword { // bytes: four per character at most
		return false, nil
	}
	key := argon2.IDKey([]byte(pw), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// errBadHash is the one error of parseHash; it never repeats the input.
var errBadHash = errors.New("stored password hash is not an argon2id PHC string")

// parseHash parses $argon2id$v=19$m=…,t=…,p=…$salt$hash strictly: that
// algorithm and version only, the three parameters in that order with
// canonical decimal values in bounds, unpadded standard base64 that
// re-encodes to the same text.
func parseHash(s string) (*argonHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, errBadHash
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return nil, errBadHash
	}
	var vals [3]uint64
	for i, want := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], want)
		if !ok {
			return nil, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != v {
			return nil, errBadHash
		}
		vals[i] = n
	}
	h := &argonHash{memory: uint32(vals[0]), time: uint32(vals[1])}
	if vals[2] < 1 || vals[2] > maxArgonThreads || h.time < 1 || h.time > maxArgonTime ||
		h.memory < 8*uint32(vals[2]) || h.memory > maxArgonMemory {
		return nil, errBadHash
	}
	h.threads = uint8(vals[2])
	var err error
	enc := base64.RawStdEncoding.Strict()
	if h.salt, err = enc.DecodeString(parts[4]); err != nil || len(h.salt) < minArgonSalt || len(h.salt) > maxArgonSalt {
		return nil, errBadHash
	}
	if h.key, err = enc.DecodeString(parts[5]); err != nil || len(h.key) < minArgonKey || len(h.key) > maxArgonKey {
		return nil, errBadHash
	}
	if h.String() != s {
		return nil, errBadHash
	}
	return h, nil
}
