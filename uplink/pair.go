package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
)

// PairPath is the hub route where a peer redeems a pairing code.
const PairPath = "/api/v1/agents/pair"

// CodeTTL is how long a pairing code is valid by default.
const CodeTTL = 10 * time.Minute

// codeLen is the length of a pairing code in base32 characters: 60 bits,
// far beyond guessing within its lifetime through a rate-limited route.
const codeLen = 12

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// errBadCode is the one answer to every wrong, expired or used code, so the
// answer tells an attacker nothing.
var errBadCode = moonwake.Errorf(moonwake.EUnauthorized, "the pairing code is wrong, expired or already used; ask the hub for a new one")

// Pairing is a pending pairing as the hub stores it: never the code, only
// its hash.
type Pairing struct {
	CodeHash  string    `json:"-"`
	Machine   string    `json:"machine"`
	Purpose   string    `json:"purpose"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NewPairing returns a new one-time code, formatted for people
// ("ABCD-EFGH-JKLM"), and the pending pairing to store for it. The code is
// shown once and not kept. A ttl of 0 means CodeTTL.
func NewPairing(machine, purpose string, now time.Time, ttl time.Duration) (string, Pairing) {
	if ttl <= 0 {
		ttl = CodeTTL
	}
	b := make([]byte, 8)
	rand.Read(b)
	raw := codeEncoding.EncodeToString(b)[:codeLen]
	code := raw[0:4] + "-" + raw[4:8] + "-" + raw[8:12]
	return code, Pairing{
		CodeHash: hashNormalized(raw), Machine: machine, Purpose: purpose,
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
}

// HashCode returns the hash under which the pairing for code is stored. It
// accepts the code in any case, with or without dashes and spaces. The error
// (EInvalid) does not repeat the code.
func HashCode(code string) (string, error) {
	raw := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	if len(raw) != codeLen {
		return "", moonwake.Errorf(moonwake.EInvalid, "a pairing code has %d letters and digits", codeLen)
	}
	for _, c := range raw {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return "", moonwake.Errorf(moonwake.EInvalid, "a pairing code has only the letters A-Z and the digits 2-7")
		}
	}
	return hashNormalized(raw), nil
}

func hashNormalized(raw string) string {
	h := sha256.Sum256([]byte("moonwake pairing code\x00" + raw))
	return hex.EncodeToString(h[:])
}

// PairRequest is what a peer POSTs to PairPath.
type PairRequest struct {
	V    int    `json:"v"`
	Code string `json:"code,omitempty"`
	// Token, instead of a code, enrols a relay with an enrolment token
	// (reusable and revocable, for pods that are re-created), under Name.
	Token     string            `json:"token,omitempty"`
	Name      string            `json:"name,omitempty"`
	Purpose   string            `json:"purpose"` // PurposeAgent or PurposeRelay
	PublicKey ed25519.PublicKey `json:"public_key"`
	Hostname  string            `json:"hostname,omitempty"` // for people, not trusted
	OS        string            `json:"os,omitempty"`
	Software  string            `json:"software,omitempty"`
}

// PairResponse is the hub's answer to a good PairRequest.
type PairResponse struct {
	V            int               `json:"v"`
	ID           string            `json:"id"` // the peer id, for every uplink session
	Purpose      string            `json:"purpose"`
	Machine      string            `json:"machine"`
	HubPublicKey ed25519.PublicKey `json:"hub_public_key"` // for the peer to pin
}

// errorBody is the JSON of an error answer, the same as the hub API's.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// TokenEnroller is a PairingStore that also enrols relays by token.
type TokenEnroller interface {
	// EnrolRelay checks token, a relay enrolment token, and registers p
	// as the relay called name, replacing the key that relay had; the
	// stored peer is returned. EUnauthorized for a token that is not an
	// active enrolment token; EInvalid for a bad name.
	EnrolRelay(ctx context.Context, token, name string, now time.Time, p Peer) (*Peer, error)
}

// Pairer is the hub's side of pairing.
type Pairer struct {
	Store  PairingStore
	HubKey ed25519.PrivateKey
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// Pair redeems req's code and registers req's public key. Errors: EInvalid
// for a malformed request, EUnauthorized for a wrong, expired or used code.
func (p *Pairer) Pair(ctx context.Context, req PairRequest) (*PairResponse, error) {
	if req.V != Version {
		return nil, moonwake.Errorf(moonwake.EInvalid, "protocol version %d, want %d", req.V, Version)
	}
	if !validPurpose(req.Purpose) {
		return nil, moonwake.Errorf(moonwake.EInvalid, "purpose must be %q or %q", PurposeAgent, PurposeRelay)
	}
	if len(req.PublicKey) != ed25519.PublicKeySize {
		return nil, moonwake.Errorf(moonwake.EInvalid, "public_key must be an Ed25519 public key (32 bytes, base64)")
	}
	if p.Store == nil || len(p.HubKey) != ed25519.PrivateKeySize {
		return nil, errors.New("pairer without a store or hub key")
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	peer := Peer{ID: NewPeerID(req.Purpose), Purpose: req.Purpose, PublicKey: req.PublicKey}
	var got *Peer
	if req.Code == "" && req.Token != "" {
		te, ok := p.Store.(TokenEnroller)
		if !ok || req.Purpose != PurposeRelay {
			return nil, moonwake.Errorf(moonwake.EInvalid, "only relays enrol with a token; pair with a code")
		}
		var err error
		if got, err = te.EnrolRelay(ctx, req.Token, req.Name, now().UTC(), peer); err != nil {
			return nil, err
		}
	} else {
		hash, err := HashCode(req.Code)
		if err != nil {
			return nil, err
		}
		if got, err = p.Store.RedeemPairing(ctx, hash, now().UTC(), peer); err != nil {
			return nil, err
		}
	}
	peer = *got
	return &PairResponse{
		V: Version, ID: peer.ID, Purpose: peer.Purpose, Machine: peer.Machine,
		HubPublicKey: p.HubKey.Public().(ed25519.PublicKey),
	}, nil
}

// ServeHTTP serves POST PairPath. The code is the credential: the route
// needs no token. Mount it behind a rate limit per client address.
func (p *Pairer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "use POST", Code: moonwake.EInvalid})
		return
	}
	var req PairRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "send a JSON pairing request", Code: moonwake.EInvalid})
		return
	}
	resp, err := p.Pair(r.Context(), req)
	if err != nil {
		code := moonwake.ErrorCode(err)
		status := http.StatusInternalServerError
		switch code {
		case moonwake.EInvalid:
			status = http.StatusBadRequest
		case moonwake.EUnauthorized:
			status = http.StatusUnauthorized
		default:
			log.Error("pairing", "error", err)
		}
		log.Info("pairing refused", "addr", r.RemoteAddr, "reason", code)
		writeJSON(w, status, errorBody{Error: moonwake.ErrorMessage(err), Code: code})
		return
	}
	log.Info("paired", "peer", resp.ID, "purpose", resp.Purpose, "machine", resp.Machine,
		"hostname", req.Hostname, "os", req.OS, "addr", r.RemoteAddr)
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// endpoint joins the hub's base URL (which may have a path prefix, behind
// an ingress) and a route.
func endpoint(hubURL, route string) (string, error) {
	u, err := url.Parse(hubURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", moonwake.Errorf(moonwake.EInvalid, "hub URL %q: want http(s)://host[:port][/path]", hubURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", moonwake.Errorf(moonwake.EInvalid, "hub URL: no user, query or fragment, please")
	}
	return u.JoinPath(route).String(), nil
}

// Pair redeems a pairing code at the hub at hubURL: the peer's side of
// pairing. req.V is set for the caller. hc nil means http.DefaultClient.
// Errors carry the hub's error code (EUnauthorized for a bad code); their
// text never contains the code.
func Pair(ctx context.Context, hc *http.Client, hubURL string, req PairRequest) (*PairResponse, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	u, err := endpoint(hubURL, PairPath)
	if err != nil {
		return nil, err
	}
	if req.Token == "" {
		if _, err := HashCode(req.Code); err != nil {
			return nil, err
		}
	}
	req.V = Version
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, moonwake.Errorf(moonwake.EUnavailable, "reach the hub: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, moonwake.Errorf(moonwake.EUnavailable, "read the hub's answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(b, &eb) == nil && eb.Code != "" && eb.Code != moonwake.EInternal {
			return nil, moonwake.Errorf(eb.Code, "hub: %s", eb.Error)
		}
		return nil, moonwake.Errorf(moonwake.EUnavailable, "hub answered %s", resp.Status)
	}
	var pr PairResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		return nil, moonwake.Errorf(moonwake.EUnavailable, "the hub's answer is not a pairing response")
	}
	if pr.V != Version || !ValidPeerID(pr.ID) || pr.Purpose != req.Purpose ||
		len(pr.HubPublicKey) != ed25519.PublicKeySize || !moonwake.ValidName(pr.Machine) && pr.Purpose == PurposeAgent {
		return nil, moonwake.Errorf(moonwake.EUnavailable, "the hub's pairing response is incomplete")
	}
	return &pr, nil
}

// String describes a pairing for people: who, for what, and the
// fingerprint of the hub key to compare with the hub's.
func (pr *PairResponse) String() string {
	return fmt.Sprintf("%s %s for machine %s, hub key %s", pr.Purpose, pr.ID, pr.Machine, Fingerprint(pr.HubPublicKey))
}
