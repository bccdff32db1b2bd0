package hub

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/httpapi"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/uplink"
)

// KeyFile is the hub's Ed25519 identity in the data directory. Agents pin
// its public key when they pair; losing it means pairing them again.
const KeyFile = "hub.key"

// loadOrCreateKey reads the hub's private key, creating it on first start.
func loadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("write hub key: %w", err)
		}
		return priv, nil
	} else if err != nil {
		return nil, fmt.Errorf("read hub key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("hub key %s may be read by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("hub key %s: not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("hub key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("hub key %s: not an Ed25519 key", path)
	}
	return priv, nil
}

// agents connects the power service, the API and the monitor to the
// machines' agents over the link.
type agents struct {
	peers *sqlite.PeerService
	link  *uplink.Server
	mon   *monitor
	ttl   time.Duration // of pairing codes
	now   func() time.Time
	// fingerprint of the hub's public key, shown with each pairing code so
	// the agent can check it is pairing with this hub.
	fingerprint string
	// outcome hears what agents say after carrying out a command.
	outcome func(machine, id string, ok bool, detail string)
}

// pairings wraps the peer store so that a redeemed pairing reaches the
// monitor at once.
type pairings struct {
	*sqlite.PeerService
	ag *agents
}

// RedeemPairing implements uplink.PairingStore.
func (p pairings) RedeemPairing(ctx context.Context, codeHash string, now time.Time, peer uplink.Peer) (*uplink.Peer, error) {
	got, err := p.PeerService.RedeemPairing(ctx, codeHash, now, peer)
	if err != nil {
		return nil, err
	}
	if got.Purpose == uplink.PurposeAgent {
		p.ag.replaced(got)
	}
	return got, nil
}

// replaced drops the link of the agent that a new pairing replaced (its key
// is gone from the store), and tells the monitor about the new one.
func (ag *agents) replaced(p *uplink.Peer) {
	ag.mon.mu.Lock()
	old := ag.mon.agentID[p.Machine]
	ag.mon.mu.Unlock()
	if old != "" && old != p.ID {
		ag.link.Drop(old)
	}
	ag.mon.setAgent(p.Machine, p.ID, func(a *moonwake.AgentEvidence) { *a = moonwake.AgentEvidence{} })
}

// loadPaired tells the monitor which machines have agents.
func (ag *agents) loadPaired(ctx context.Context, ms []*moonwake.Machine) {
	for _, m := range ms {
		if p, err := ag.peers.PeerForMachine(ctx, m.Name, uplink.PurposeAgent); err == nil {
			ag.mon.setAgent(m.Name, p.ID, func(a *moonwake.AgentEvidence) {})
		}
	}
}

// Paired implements power.Agents.
func (ag *agents) Paired(ctx context.Context, machine string) bool {
	_, err := ag.peers.PeerForMachine(ctx, machine, uplink.PurposeAgent)
	return err == nil
}

// Command implements power.Agents.
func (ag *agents) Command(ctx context.Context, machine, command, id string) (string, error) {
	p, err := ag.peers.PeerForMachine(ctx, machine, uplink.PurposeAgent)
	if err != nil {
		return "", moonwake.Errorf(moonwake.EUnavailable, "%s has no paired agent", machine)
	}
	if !ag.link.Connected(p.ID) {
		return "", moonwake.Errorf(moonwake.EUnavailable, "the agent of %s is not connected", machine)
	}
	res, err := ag.link.Send(ctx, p.ID, uplink.Command{ID: id, Name: command})
	if err != nil {
		return "", moonwake.Errorf(moonwake.EUnavailable, "the agent of %s did not answer: %v", machine, err)
	}
	if !res.OK {
		return "", moonwake.Errorf(moonwake.EInvalid, "the agent of %s refused: %s", machine, res.Error)
	}
	return res.Detail, nil
}

// NewPairing implements httpapi.Pairer.
func (ag *agents) NewPairing(ctx context.Context, machine string) (httpapi.Pairing, error) {
	code, p := uplink.NewPairing(machine, uplink.PurposeAgent, ag.now().UTC(), ag.ttl)
	if err := ag.peers.CreatePairing(ctx, p); err != nil {
		return httpapi.Pairing{}, err
	}
	return httpapi.Pairing{Machine: machine, Code: code, ExpiresAt: p.ExpiresAt, HubFingerprint: ag.fingerprint}, nil
}

// onConnect, onDisconnect and onReport are the link's callbacks.
func (ag *agents) onConnect(p uplink.Peer) {
	if p.Purpose == uplink.PurposeAgent {
		ag.mon.setAgent(p.Machine, p.ID, func(a *moonwake.AgentEvidence) { a.Connected = true })
	}
}

func (ag *agents) onDisconnect(p uplink.Peer, err error) {
	if p.Purpose == uplink.PurposeAgent {
		ag.mon.setAgent(p.Machine, p.ID, func(a *moonwake.AgentEvidence) { *a = moonwake.AgentEvidence{} })
	}
}

func (ag *agents) onOutcome(p uplink.Peer, r uplink.Result) {
	if ag.outcome != nil && p.Purpose == uplink.PurposeAgent {
		detail := r.Detail
		if !r.OK {
			detail = r.Error
		}
		ag.outcome(p.Machine, r.CommandID, r.OK, detail)
	}
}

func (ag *agents) onReport(p uplink.Peer, r uplink.Report) {
	if p.Purpose != uplink.PurposeAgent {
		return
	}
	toInt := func(f *float64) *int64 {
		if f == nil {
			return nil
		}
		n := int64(*f)
		return &n
	}
	ag.mon.setAgent(p.Machine, p.ID, func(a *moonwake.AgentEvidence) {
		a.Connected = true
		a.IdleSeconds = toInt(r.IdleSeconds)
		a.UserSession = r.UserSession
		a.UptimeSeconds = toInt(r.UptimeSeconds)
	})
}
