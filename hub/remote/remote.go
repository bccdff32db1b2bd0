// Package remote is how the hub reaches into machines and LANs: their
// agents and the relays over the uplink (pairing, enrolment, commands and
// orders, and what they report), and the machines' Sunshine hosts (pairing
// as a Moonlight client, and the "Shutdown" app). Commander routes a power
// command to the one that can carry it out; Relays routes wakes and probes
// to the relay that serves a machine's LAN.
package remote

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/internal/ratelimit"
	"github.com/moonwake/moonwake/uplink"
)

// Options configure the hub's remote side.
type Options struct {
	Peers      *sqlite.PeerService
	Relays     *sqlite.RelayStore
	Tokens     moonwake.TokenService // checks relay enrolment tokens
	Key        ed25519.PrivateKey    // the hub's identity, which peers pin
	PairingTTL time.Duration         // of pairing codes; 0: uplink's default
	// TLSFingerprint is the hub's self-signed certificate's, given with
	// each pairing code for the peer to pin; empty without one.
	TLSFingerprint string
	Logger         *slog.Logger
	Now            func() time.Time // nil: time.Now
}

// Remote serves the uplink that agents and relays dial, and the pairing
// route, and hands each peer's news to Agents or Relays.
type Remote struct {
	Agents *Agents
	Relays *Relays

	server *uplink.Server
	pair   *uplink.Pairer
	tokens moonwake.TokenService
}

// New returns the hub's remote side, with the agents and relays paired in
// the store.
func New(ctx context.Context, o Options) (*Remote, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	fp := uplink.Fingerprint(o.Key.Public().(ed25519.PublicKey))
	r := &Remote{tokens: o.Tokens}
	r.server = &uplink.Server{
		Keys: o.Peers, HubKey: o.Key, Logger: o.Logger,
		OnConnect: r.onConnect, OnDisconnect: r.onDisconnect, OnReport: r.onReport, OnOutcome: r.onOutcome,
		OnNotice: r.onNotice, OnRequest: r.onRequest,
	}
	r.Agents = &Agents{peers: o.Peers, server: r.server, ttl: o.PairingTTL, now: o.Now, fingerprint: fp, tlsFingerprint: o.TLSFingerprint, agents: map[string]*agent{}}
	r.Relays = &Relays{store: o.Relays, peers: o.Peers, server: r.server, ttl: o.PairingTTL, now: o.Now, fingerprint: fp,
		tlsFingerprint: o.TLSFingerprint, log: o.Logger, relays: map[string]*relayState{}, magicSlots: make(chan struct{}, maxMagicInFlight),
		notices: ratelimit.New(noticesPerMinute, noticeBurst, 1024)}
	r.pair = &uplink.Pairer{Store: pairings{o.Peers, r}, HubKey: o.Key, Logger: o.Logger, Now: o.Now}
	if err := r.Agents.load(ctx); err != nil {
		return nil, err
	}
	if err := r.Relays.load(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Uplink is the uplink route, served at GET /api/v1/link.
func (r *Remote) Uplink() http.Handler { return r.server }

// Pair redeems pairing codes and relay enrolment tokens, served at POST
// /api/v1/agents/pair.
func (r *Remote) Pair() http.Handler { return r.pair }

// Fingerprint is the fingerprint of the hub's public key, shown with each
// pairing code so that the peer can check it pairs with this hub.
func (r *Remote) Fingerprint() string { return r.Agents.fingerprint }

// Close ends every uplink, and waits for the relays' magic packets being
// handled.
func (r *Remote) Close() error {
	err := r.server.Close()
	r.Relays.handling.Wait()
	return err
}

func (r *Remote) onConnect(p uplink.Peer) {
	switch p.Purpose {
	case uplink.PurposeAgent:
		r.Agents.onConnect(p)
	case uplink.PurposeRelay:
		r.Relays.onConnect(p)
	}
}

func (r *Remote) onDisconnect(p uplink.Peer, err error) {
	switch p.Purpose {
	case uplink.PurposeAgent:
		r.Agents.onDisconnect(p, err)
	case uplink.PurposeRelay:
		r.Relays.onDisconnect(p, err)
	}
}

func (r *Remote) onReport(p uplink.Peer, rep uplink.Report) {
	switch p.Purpose {
	case uplink.PurposeAgent:
		r.Agents.onReport(p, rep)
	case uplink.PurposeRelay:
		r.Relays.onReport(p, rep)
	}
}

func (r *Remote) onNotice(p uplink.Peer, n uplink.Notice) {
	switch p.Purpose {
	case uplink.PurposeRelay:
		r.Relays.onNotice(p, n)
	case uplink.PurposeAgent:
		r.Agents.onNotice(p, n)
	}
}

func (r *Remote) onRequest(ctx context.Context, p uplink.Peer, req uplink.Request) uplink.Result {
	if p.Purpose != uplink.PurposeAgent {
		return uplink.Result{Error: "only agents make requests"}
	}
	return r.Agents.onRequest(ctx, p, req)
}

func (r *Remote) onOutcome(p uplink.Peer, res uplink.Result) {
	if p.Purpose == uplink.PurposeAgent {
		r.Agents.onOutcome(p, res)
	}
}

// pairings wraps the peer store so that a new pairing replaces the
// machine's agent, or the relay's key, at once; and enrols relays by token.
type pairings struct {
	*sqlite.PeerService
	r *Remote
}

// RedeemPairing implements uplink.PairingStore.
func (p pairings) RedeemPairing(ctx context.Context, codeHash string, now time.Time, peer uplink.Peer) (*uplink.Peer, error) {
	got, err := p.PeerService.RedeemPairing(ctx, codeHash, now, peer)
	if err != nil {
		return nil, err
	}
	p.replaced(got)
	return got, nil
}

// EnrolRelay implements uplink.TokenEnroller: only an active relay
// enrolment token enrols, and nothing else does.
func (p pairings) EnrolRelay(ctx context.Context, token, name string, now time.Time, peer uplink.Peer) (*uplink.Peer, error) {
	t, err := p.r.tokens.Authenticate(ctx, token)
	if err != nil || !t.RelayEnrol {
		p.r.Relays.log.Warn("relay enrolment refused: not an active relay enrolment token", "relay", name)
		return nil, moonwake.Errorf(moonwake.EUnauthorized, "not an active relay enrolment token")
	}
	got, err := p.r.Relays.store.EnrolRelay(ctx, name, peer)
	if err != nil {
		return nil, err
	}
	p.replaced(got)
	p.r.Relays.log.Info("relay enrolled", "relay", name, "token", t.Name)
	return got, nil
}

func (p pairings) replaced(got *uplink.Peer) {
	switch got.Purpose {
	case uplink.PurposeAgent:
		p.r.Agents.replaced(got)
	case uplink.PurposeRelay:
		p.r.Relays.replaced(got)
	}
}
