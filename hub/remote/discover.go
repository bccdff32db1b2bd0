package remote

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/relay"
)

// Timeouts of discovery orders: naming takes a relay about 1.5 s; a sweep
// answers as it starts.
const (
	relayNeighboursTimeout = 3 * time.Second
	relaySweepTimeout      = 5 * time.Second
)

// RelayNeighbours is what one relay said of its neighbour table.
type RelayNeighbours struct {
	Relay  string
	Report relay.NeighboursReport
	Err    error // why it did not answer
}

// Neighbours asks every relay whose uplink is up, all at once, for the
// devices in its neighbour table, named from its LAN when names is set.
// Relays that are offline are listed with their error.
func (rs *Relays) Neighbours(ctx context.Context, names bool) []RelayNeighbours {
	rs.mu.Lock()
	all := rs.ordered()
	out := make([]RelayNeighbours, len(all))
	var online []int
	for i, st := range all {
		out[i].Relay = st.info.Name
		if st.info.Connected {
			online = append(online, i)
		} else {
			out[i].Err = offline(st)
		}
	}
	rs.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, relayNeighboursTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, i := range online {
		wg.Go(func() {
			var raw json.RawMessage
			if err := rs.order(ctx, out[i].Relay, relay.CommandNeighbours, relay.NeighboursOrder{Names: names}, &raw); err != nil {
				out[i].Err = err
				return
			}
			rep, err := relay.ParseNeighboursReport(raw)
			if err != nil {
				out[i].Err = moonwake.Errorf(moonwake.EUnavailable, "relay %s answered neighbours with something else", out[i].Relay)
				return
			}
			out[i].Report = rep
		})
	}
	wg.Wait()
	return out
}

// Sweep asks the relay called name to sweep network ("" for its only
// IPv4 one) and returns the sweep as it starts. ENotFound for a relay the
// hub does not know, EUnavailable for one that is offline; the relay's own
// refusals keep their codes (EForbidden when sweeping is off there,
// EInvalid for a network it does not serve, EConflict while it sweeps).
func (rs *Relays) Sweep(ctx context.Context, name, network string) (*moonwake.Sweep, error) {
	rs.mu.Lock()
	st := rs.relays[name]
	var err error
	switch {
	case st == nil:
		err = moonwake.Errorf(moonwake.ENotFound, "no relay called %q", name)
	case !st.info.Connected:
		err = offline(st)
	}
	rs.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, relaySweepTimeout)
	defer cancel()
	var rep relay.SweepReport
	if err := rs.order(ctx, name, relay.CommandSweep, relay.SweepOrder{Network: network}, &rep); err != nil {
		return nil, err
	}
	if rep.Error != "" {
		code := rep.Code
		switch code {
		case moonwake.EInvalid, moonwake.EForbidden, moonwake.EConflict, moonwake.EUnavailable:
		default:
			code = moonwake.EUnavailable
		}
		return nil, moonwake.Errorf(code, "relay %s: %s", name, trim(rep.Error, maxStepText))
	}
	if rep.Addresses <= 0 || rep.Addresses > 1<<10 || rep.Rate <= 0 {
		return nil, moonwake.Errorf(moonwake.EUnavailable, "relay %s answered the sweep with something else", name)
	}
	rs.log.Info("relay sweeping a subnet", "relay", name, "network", rep.Network, "addresses", rep.Addresses)
	return &moonwake.Sweep{Relay: name, Network: trim(rep.Network, 64), Addresses: rep.Addresses, Rate: rep.Rate,
		Duration: time.Duration(rep.Addresses) * time.Second / time.Duration(rep.Rate)}, nil
}
