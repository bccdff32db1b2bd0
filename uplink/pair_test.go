package uplink

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newPairing(t *testing.T, h *hub, now time.Time) string {
	t.Helper()
	code, p := NewPairing("pc", PurposeAgent, now, 0)
	if err := h.store.CreatePairing(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.CodeHash, strings.ReplaceAll(code, "-", "")) {
		t.Fatal("the stored pairing holds the code")
	}
	return code
}

func TestPairThenLink(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	code := newPairing(t, h, time.Now())
	key := newKey(t)
	// People type codes in any case, with spaces.
	typed := strings.ToLower(strings.ReplaceAll(code, "-", " "))
	resp, err := Pair(context.Background(), nil, h.http.URL, PairRequest{Code: typed, Purpose: PurposeAgent, PublicKey: pub(key), Hostname: "gaming-pc"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Machine != "pc" || !bytes.Equal(resp.HubPublicKey, pub(h.key)) || !ValidPeerID(resp.ID) || resp.Purpose != PurposeAgent {
		t.Fatalf("response = %+v", resp)
	}
	p, err := h.store.LookupPeer(context.Background(), resp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.PublicKey, pub(key)) || p.Machine != "pc" {
		t.Fatalf("stored peer = %+v", p)
	}
	if !strings.Contains(resp.String(), Fingerprint(pub(h.key))) {
		t.Errorf("String() = %q", resp.String())
	}

	// What was stored is enough for a link.
	var e executor
	start(t, client(t, h.http.URL, resp.ID, key, resp.HubPublicKey, &e))
	eventually(t, "the link", func() bool { return h.Connected(resp.ID) })
	if r, err := h.Send(context.Background(), resp.ID, Command{Name: "shutdown"}); err != nil || !r.OK {
		t.Fatalf("Send: %+v, %v", r, err)
	}

	// Pairing the machine again replaces the old agent.
	code2 := newPairing(t, h, time.Now())
	resp2, err := Pair(context.Background(), nil, h.http.URL, PairRequest{Code: code2, Purpose: PurposeAgent, PublicKey: pub(newKey(t))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.LookupPeer(context.Background(), resp.ID); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Errorf("the old agent is still registered: %v", err)
	}
	if _, err := h.store.LookupPeer(context.Background(), resp2.ID); err != nil {
		t.Error(err)
	}
}

func TestPairExpiredCode(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h.pairer.Now = clk.Now
	code := newPairing(t, h, clk.Now())
	clk.Add(CodeTTL)
	_, err := Pair(context.Background(), nil, h.http.URL, PairRequest{Code: code, Purpose: PurposeAgent, PublicKey: pub(newKey(t))})
	if moonwake.ErrorCode(err) != moonwake.EUnauthorized {
		t.Fatalf("Pair with an expired code: %v", err)
	}
	assertNoCode(t, err, code)

	// Just before expiry it works.
	code = newPairing(t, h, clk.Now())
	clk.Add(CodeTTL - time.Second)
	if _, err := Pair(context.Background(), nil, h.http.URL, PairRequest{Code: code, Purpose: PurposeAgent, PublicKey: pub(newKey(t))}); err != nil {
		t.Fatal(err)
	}
}

func TestPairReusedCode(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	code := newPairing(t, h, time.Now())
	if _, err := Pair(context.Background(), nil, h.http.URL, PairRequest{Code: code, Purpose: PurposeAgent, PublicKey: pub(newKey(t))}); err != nil {
		t.Fatal(err)
	}
	_, err := Pair(context.Background(), nil, h.http.URL, PairRequest{Code: code, Purpose: PurposeAgent, PublicKey: pub(newKey(t))})
	if moonwake.ErrorCode(err) != moonwake.EUnauthorized {
		t.Fatalf("Pair with a used code: %v", err)
	}
	assertNoCode(t, err, code)
}

func TestPairRefusals(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	code := newPairing(t, h, time.Now())
	for name, tc := range map[string]struct {
		req  PairRequest
		want string
	}{
		"wrong code":               {PairRequest{Code: "AAAA-BBBB-CCCC", Purpose: PurposeAgent, PublicKey: pub(newKey(t))}, moonwake.EUnauthorized},
		"short code":               {PairRequest{Code: "AAAA", Purpose: PurposeAgent, PublicKey: pub(newKey(t))}, moonwake.EInvalid},
		"not base32":               {PairRequest{Code: "AAAA-BBBB-CCC1", Purpose: PurposeAgent, PublicKey: pub(newKey(t))}, moonwake.EInvalid},
		"relay with an agent code": {PairRequest{Code: code, Purpose: PurposeRelay, PublicKey: pub(newKey(t))}, moonwake.EUnauthorized},
	} {
		_, err := Pair(context.Background(), nil, h.http.URL, tc.req)
		if moonwake.ErrorCode(err) != tc.want {
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
		assertNoCode(t, err, tc.req.Code)
	}
	// The hub checks what a client does not.
	for name, body := range map[string]string{
		"no key":      `{"v":1,"code":"AAAA-BBBB-CCCC","purpose":"agent"}`,
		"bad version": `{"v":2,"code":"AAAA-BBBB-CCCC","purpose":"agent","public_key":"` + strings.Repeat("A", 43) + `="}`,
		"not json":    `code=AAAA`,
	} {
		resp, err := http.Post(h.http.URL+PairPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s", name, resp.Status)
		}
	}
	resp, err := http.Get(h.http.URL + PairPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s", resp.Status)
	}
}

func assertNoCode(t *testing.T, err error, code string) {
	t.Helper()
	raw := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	if err != nil && len(raw) >= 4 && strings.Contains(strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(err.Error())), raw) {
		t.Errorf("error %q repeats the code", err)
	}
}

func TestNewPairingCodes(t *testing.T) {
	seen := map[string]bool{}
	now := time.Now()
	for range 100 {
		code, p := NewPairing("pc", PurposeAgent, now, 0)
		if len(code) != 14 || code[4] != '-' || code[9] != '-' {
			t.Fatalf("code %q", code)
		}
		h, err := HashCode(code)
		if err != nil || h != p.CodeHash {
			t.Fatalf("HashCode(%q) = %s, %v; stored %s", code, h, err, p.CodeHash)
		}
		if seen[code] {
			t.Fatalf("code %q twice", code)
		}
		seen[code] = true
		if !p.ExpiresAt.Equal(now.Add(CodeTTL)) {
			t.Fatalf("expires %v", p.ExpiresAt)
		}
	}
}
