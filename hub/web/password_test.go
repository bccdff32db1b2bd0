package web

import (
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := hashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt?")
	}
	for pw, want := range map[string]bool{
		"correct horse battery": true, "correct horse batterY": false, "": false,
		strings.Repeat("x", 2000): false,
	} {
		ok, err := verifyPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("verify %.20q: %v %v, want %v", pw, ok, err, want)
		}
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if ok, err := verifyPassword(bad, "x"); ok || err == nil {
			t.Errorf("verify against %q: %v %v", bad, ok, err)
		}
	}
	for pw, want := range map[string]string{"short": "at least 10", strings.Repeat("é", 257): "at most 256", "\xff\xfe0123456789": "not valid"} {
		if _, err := hashPassword(pw); moonwake.ErrorCode(err) != moonwake.EInvalid || !strings.Contains(moonwake.ErrorMessage(err), want) {
			t.Errorf("hash %.12q: %v, want %q", pw, err, want)
		}
	}
	if _, err := hashPassword(strings.Repeat("é", 256)); err != nil {
		t.Errorf("256 characters: %v", err)
	}
}

// TestPasswordRealCost hashes with the parameters the hub uses (the other
// tests shrink them) and checks their PHC string.
func TestPasswordRealCost(t *testing.T) {
	m, tm := argonMemory, argonTime
	argonMemory, argonTime = 19*1024, 2
	defer func() { argonMemory, argonTime = m, tm }()
	start := time.Now()
	h, err := hashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("argon2id m=19 MiB t=2 p=1: %s", time.Since(start))
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q", h)
	}
	if ok, err := verifyPassword(h, "correct horse battery"); !ok || err != nil {
		t.Errorf("verify: %v %v", ok, err)
	}
}

func TestParseHash(t *testing.T) {
	good := "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	if _, err := parseHash(good); err != nil {
		t.Fatalf("%s: %v", good, err)
	}
	for _, bad := range []string{
		"",
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "m=64", "m=064", 1),
		strings.Replace(good, "m=64", "m=4", 1),       // below 8 per lane
		strings.Replace(good, "m=64", "m=2097152", 1), // above 1 GiB
		strings.Replace(good, "t=1", "t=0", 1),
		strings.Replace(good, "t=1", "t=99", 1),
		strings.Replace(good, "p=1", "p=0", 1),
		strings.Replace(good, "p=1", "p=300", 1),
		strings.Replace(good, "m=64,t=1,p=1", "t=1,m=64,p=1", 1),
		strings.Replace(good, "m=64,t=1,p=1", "m=64,t=1", 1),
		strings.Replace(good, "m=64", "m=+64", 1),
		strings.Replace(good, "c2FsdHNhbHRzYWx0c2FsdA", "c2FsdA", 1), // salt too short
		strings.Replace(good, "c2FsdHNhbHRzYWx0c2FsdA", "c2FsdHNhbHRzYWx0c2FsdA==", 1),
		strings.Replace(good, "c2FsdHNhbHRzYWx0c2FsdA", "c2FsdHNhbHRzYWx0c2FsdB", 1), // non-canonical last char
		good + "$",
		good + "!",
		"$" + good,
	} {
		if _, err := parseHash(bad); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

// FuzzParseHash: any input either fails or parses to a hash whose string
// is the input, with bounded costs.
func FuzzParseHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2i$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG")
	f.Add("$argon2id$v=19$m=9999999999,t=1,p=1$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			if h != nil {
				t.Fatal("a hash with an error")
			}
			return
		}
		if h.String() != s {
			t.Fatalf("%q re-encodes as %q", s, h.String())
		}
		if h.memory > maxArgonMemory || h.time > maxArgonTime || h.threads > maxArgonThreads || h.threads == 0 ||
			len(h.salt) < minArgonSalt || len(h.key) < minArgonKey || len(h.key) > maxArgonKey {
			t.Fatalf("%q: out of bounds %+v", s, h)
		}
	})
}
