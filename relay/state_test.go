package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/uplink"
)

func newState(t *testing.T) *State {
	t.Helper()
	hub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &State{Hub: "http://hub.test:8080", ID: uplink.NewPeerID(uplink.PurposeRelay), Name: "lan-a",
		HubPublicKey: hub, PrivateKey: priv.Seed(), PairedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
}

// TestStateRoundTrip: what WriteState writes, ReadState reads back the
// same, and the file is its owner's only.
func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new-dir", "relay.json")
	s := newState(t)
	if err := WriteState(path, s); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	got, err := ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hub != s.Hub || got.ID != s.ID || got.Name != s.Name || !bytes.Equal(got.HubPublicKey, s.HubPublicKey) ||
		!bytes.Equal(got.PrivateKey, s.PrivateKey) || !got.PairedAt.Equal(s.PairedAt) {
		t.Fatalf("read %+v, wrote %+v", got, s)
	}
	if !bytes.Equal(got.key().Public().(ed25519.PublicKey), ed25519.NewKeyFromSeed(s.PrivateKey).Public().(ed25519.PublicKey)) {
		t.Error("the key is not the seed's")
	}

	// Writing again replaces the file whole.
	s.Name = "lan-b"
	if err := WriteState(path, s); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadState(path); err != nil || got.Name != "lan-b" {
		t.Fatalf("after a second write: %+v, %v", got, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".state-*")); len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

// TestStateRefusals: no state is ErrNotPaired; a state file that others
// may read, or that is not a relay's whole state, is refused saying why.
func TestStateRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadState(filepath.Join(dir, "none.json")); !errors.Is(err, ErrNotPaired) {
		t.Errorf("missing file: %v, want ErrNotPaired", err)
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		path := filepath.Join(dir, "open.json")
		if err := WriteState(path, newState(t)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := ReadState(path)
		if err == nil || !strings.Contains(err.Error(), "others may read it") || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v, want a refusal", mode, err)
		}
		if errors.Is(err, ErrNotPaired) {
			t.Errorf("mode %04o: %v is ErrNotPaired: the relay would enrol again over it", mode, err)
		}
	}
	// Stricter than 0600 is fine.
	path := filepath.Join(dir, "strict.json")
	if err := WriteState(path, newState(t)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(path); err != nil {
		t.Errorf("mode 0400: %v", err)
	}

	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := newState(t)
	for _, tc := range []struct {
		name, content, want string
	}{
		{"garbage", "not json", "not a moonwake relay state file"},
		{"empty", "", "not a moonwake relay state file"},
		{"empty object", "{}", "incomplete; pair again"},
		{"bad id", `{"id":"a b","hub_public_key":"` + b64(s.HubPublicKey) + `","private_key":"` + b64(s.PrivateKey) + `"}`, "incomplete"},
		{"short hub key", `{"id":"relay_x","hub_public_key":"AAAA","private_key":"` + b64(s.PrivateKey) + `"}`, "incomplete"},
		{"short seed", `{"id":"relay_x","hub_public_key":"` + b64(s.HubPublicKey) + `","private_key":"AAAA"}`, "incomplete"},
	} {
		_, err := ReadState(write(tc.name+".json", tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := ReadState(dir); err == nil || errors.Is(err, ErrNotPaired) {
		t.Errorf("a directory: %v", err)
	}
}

// b64 is how encoding/json writes a []byte, for hand-made files.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestPairAndEnrol pairs with a hub on loopback: with a code, with the
// hub's fingerprint checked, and by enrolment token, which writes the
// state.
func TestPairAndEnrol(t *testing.T) {
	_, hubKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	store := &enrolStore{token: "mw_enrol"}
	srv := httptest.NewServer(&uplink.Pairer{Store: store, HubKey: hubKey})
	defer srv.Close()
	fp := uplink.Fingerprint(hubKey.Public().(ed25519.PublicKey))
	ctx := context.Background()
	code := func() string {
		c, p := uplink.NewPairing("lan-a", uplink.PurposeRelay, time.Now(), 0)
		if err := store.CreatePairing(ctx, p); err != nil {
			t.Fatal(err)
		}
		return c
	}

	st, err := Pair(ctx, PairOptions{Hub: srv.URL, Code: code(), HubFingerprint: fp})
	if err != nil {
		t.Fatal(err)
	}
	if st.Hub != srv.URL || st.Name != "lan-a" || !uplink.ValidPeerID(st.ID) || !bytes.Equal(st.HubPublicKey, hubKey.Public().(ed25519.PublicKey)) ||
		len(st.PrivateKey) != ed25519.SeedSize || st.PairedAt.IsZero() {
		t.Fatalf("state %+v", st)
	}
	if p, err := store.LookupPeer(ctx, st.ID); err != nil || !bytes.Equal(p.PublicKey, st.key().Public().(ed25519.PublicKey)) || p.Purpose != uplink.PurposeRelay {
		t.Fatalf("the hub keeps %+v, %v", p, err)
	}

	_, err = Pair(ctx, PairOptions{Hub: srv.URL, Code: code(), HubFingerprint: "SHA256:not-this-hub"})
	if moonwake.ErrorCode(err) != moonwake.EUnauthorized || !strings.Contains(err.Error(), "not pairing with it") {
		t.Errorf("another hub's fingerprint: %v", err)
	}
	if _, err := Pair(ctx, PairOptions{Hub: srv.URL, Code: "AAAA-BBBB-CCCC"}); err == nil {
		t.Error("a wrong code paired")
	}

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("mw_enrol\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := Options{StatePath: filepath.Join(dir, "state", "relay.json"), Hub: srv.URL, Name: "lan-b", TokenFile: tokenFile}
	st, err = enrol(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "lan-b" || store.enrolled != "lan-b" {
		t.Fatalf("enrolled %+v as %q", st, store.enrolled)
	}
	if kept, err := ReadState(o.StatePath); err != nil || kept.ID != st.ID {
		t.Fatalf("kept state %+v, %v", kept, err)
	}

	for _, tc := range []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no token file", func(o *Options) { o.TokenFile = filepath.Join(dir, "none") }, "enrolment token"},
		{"no hub", func(o *Options) { o.Hub = "" }, "the hub's URL is needed"},
		{"wrong token", func(o *Options) {
			o.TokenFile = filepath.Join(dir, "wrong")
			os.WriteFile(o.TokenFile, []byte("mw_other"), 0o600)
		}, `enrol as "lan-b"`},
	} {
		o := Options{StatePath: filepath.Join(dir, tc.name, "relay.json"), Hub: srv.URL, Name: "lan-b", TokenFile: tokenFile}
		tc.mod(&o)
		if _, err := enrol(ctx, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if _, err := os.Stat(o.StatePath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a state was written: %v", tc.name, err)
		}
	}
}

// enrolStore is a hub's pairing store that also enrols relays with one
// token.
type enrolStore struct {
	uplink.MemoryStore
	token    string
	enrolled string
}

func (s *enrolStore) EnrolRelay(ctx context.Context, token, name string, now time.Time, p uplink.Peer) (*uplink.Peer, error) {
	if token != s.token {
		return nil, moonwake.Errorf(moonwake.EUnauthorized, "not an active relay enrolment token")
	}
	p.Machine, p.PairedAt = name, now
	s.AddPeer(p)
	s.enrolled = name
	return &p, nil
}
