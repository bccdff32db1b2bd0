package moonwake

import (
	"context"
	"time"
)

// Suggestion is a device a LAN's neighbour table shows, offered when a
// machine is added: its address, its MAC's maker, the names it answers to,
// and who saw it (the hub, relays). A device that is a machine already
// names it.
type Suggestion struct {
	IP     string   `json:"ip"`
	MAC    string   `json:"mac"`
	Vendor string   `json:"vendor,omitempty"` // the card's maker (IEEE registry); "" when unknown
	Names  []string `json:"names,omitempty"`  // reverse DNS and mDNS names, without the final dot
	// Name is a machine name made from the first of Names; "" for none.
	Name string `json:"name,omitempty"`
	// Hub says the hub's own neighbour table holds it; Relays name the
	// relays whose tables do.
	Hub    bool     `json:"hub"`
	Relays []string `json:"relays,omitempty"`
	// Machine is the registered machine with this MAC; "" for none.
	Machine string `json:"machine,omitempty"`
}

// DiscoveryRelay is what one relay said when asked for its neighbours.
type DiscoveryRelay struct {
	Name string `json:"name"`
	// Sweep says the relay may sweep its subnet (discovery sweep enabled
	// in its configuration).
	Sweep bool `json:"sweep"`
	// Networks are the subnets it may sweep, as it serves them.
	Networks []string `json:"networks,omitempty"`
	// Error says why it did not answer; "" when it did.
	Error string `json:"error,omitempty"`
}

// Discovery is the answer to "what is on the LANs": the suggestions, hub's
// first then by address, and the relays that were asked.
type Discovery struct {
	Suggestions []Suggestion     `json:"suggestions"`
	Relays      []DiscoveryRelay `json:"relays"`
	// HubError says why the hub's own table could not be read; "" when it
	// was.
	HubError string `json:"hub_error,omitempty"`
}

// Sweep is a relay's ARP sweep of one subnet as it started: the addresses
// it will ask, about Rate a second, for about Duration.
type Sweep struct {
	Relay     string        `json:"relay"`
	Network   string        `json:"network"`
	Addresses int           `json:"addresses"`
	Rate      int           `json:"rate"` // addresses a second
	Duration  time.Duration `json:"duration_ns"`
}

// DiscoveryService finds devices that could be added as machines;
// hub/discover implements it.
type DiscoveryService interface {
	// Discover lists the devices in the neighbour tables of the hub and of
	// every online relay, with names and makers, within a couple of
	// seconds. A relay that does not answer is named in Relays with its
	// error; the call fails only when nothing could be asked at all.
	Discover(ctx context.Context) (*Discovery, error)
	// Sweep asks the relay called name to sweep network (a subnet it
	// serves, at most a /22; "" for its only IPv4 subnet), so that the
	// devices on it show in its neighbour table. It returns when the sweep
	// starts. EInvalid for a network it does not serve or one too wide,
	// EForbidden when sweeping is not enabled on the relay, EConflict when
	// it is sweeping already, ENotFound for an unknown relay,
	// EUnavailable for one that is offline.
	Sweep(ctx context.Context, name, network string) (*Sweep, error)
}
