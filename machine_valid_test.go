package moonwake

import (
	"regexp"
	"testing"
)

// The loops accept exactly what the regular expressions they replaced did.
var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	tagRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)
)

func FuzzValidIDsAndHostnames(f *testing.F) {
	for _, s := range []string{"", "a", "gaming-pc", "-a", "a-", "a_b", "a.b", "A", "pc.lan", "pc.lan.", ".", "..", "a..b",
		"x-.y", "-x.y", "a.-b", "1.2.3.4", "with space", "ü", string(make([]byte, 64)), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidName(s), nameRE.MatchString(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
		if got, want := ValidTag(s), tagRE.MatchString(s); got != want {
			t.Errorf("tag %q: %v, want %v", s, got, want)
		}
		if got, want := validHostname(s), hostRE.MatchString(s); got != want {
			t.Errorf("validHostname(%q) = %v, want %v", s, got, want)
		}
	})
}
