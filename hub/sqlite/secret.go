package sqlite

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
)

// Secret prefixes, which secret scanners and people can recognize; a
// session's is unlike an API token's, so the two are never confused.
const (
	tokenSecretPrefix   = "mw_"
	sessionSecretPrefix = "ms_"
)

// secretBytes is the randomness in a secret: 256 bits, 43 characters.
const secretBytes = 32

// newSecret returns a new secret: prefix, then 256 random bits, URL-safe.
func newSecret(prefix string) (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// wellFormedSecret reports whether s could have come from newSecret(prefix),
// so that anything else is refused before it is hashed and looked up.
func wellFormedSecret(s, prefix string) bool {
	if len(s) != len(prefix)+base64.RawURLEncoding.EncodedLen(secretBytes) || s[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// newID returns a new public ID: prefix, then 12 Crockford base32
// characters (60 random bits).
func newID(prefix string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	v := binary.BigEndian.Uint64(b[:])
	out := []byte(prefix + "000000000000")
	for i := len(out) - 1; i >= len(prefix); i-- {
		out[i] = crockford[v&31]
		v >>= 5
	}
	return string(out), nil
}
