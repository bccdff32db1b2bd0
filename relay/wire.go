// Package relay is the moonwake relay (`moonwake relay`): a small process
// on a LAN that the hub cannot reach itself (the hub's pod sits on a
// cluster's pod network; a home has several LANs). It dials the hub over
// the uplink, as an agent does, reports the networks it serves, and carries
// out the hub's orders for the machines on them: it sends their magic
// packets from its own LAN, and runs the LAN-side probes (TCP, ICMP, the
// neighbour table with the MAC check, Sunshine's /serverinfo), whose
// evidence it returns to the hub, which alone derives the state. For "Add
// machine" it lists the devices in its neighbour table, named from its LAN,
// and sweeps one of its subnets when its owner allows it.
package relay

import (
	"encoding/json"
	"net"
	"net/netip"
	"unicode/utf8"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/probe"
)

// Commands the hub sends a relay over the uplink.
const (
	CommandWake  = "wake"  // Args: WakeOrder; Data: WakeReport
	CommandProbe = "probe" // Args: ProbeOrder; Data: moonwake.Evidence
)

// WakeOrder asks a relay to wake a machine: what it needs to plan the
// packets from its own interfaces. The SecureOn password travels inside the
// signed uplink only; over plain HTTP the uplink is signed but not
// encrypted, as the magic packet on the LAN is not either.
type WakeOrder struct {
	Machine   string `json:"machine"`
	MAC       string `json:"mac"`
	Password  string `json:"password,omitempty"`
	Host      string `json:"host,omitempty"`
	Interface string `json:"interface,omitempty"`
	Broadcast string `json:"broadcast,omitempty"`
	Port      int    `json:"port,omitempty"`
	Count     int    `json:"count"` // packets per target, 1 to 20
}

// NewWakeOrder returns the order that wakes m with count packets per
// target.
func NewWakeOrder(m *moonwake.Machine, count int) WakeOrder {
	return WakeOrder{Machine: m.Name, MAC: m.MAC, Password: m.Password, Host: m.Host,
		Interface: m.Interface, Broadcast: m.Broadcast, Port: m.Port, Count: count}
}

// machine is the order as the machine it wakes.
func (o WakeOrder) machine() *moonwake.Machine {
	return &moonwake.Machine{Name: o.Machine, MAC: o.MAC, Password: o.Password, Host: o.Host,
		Interface: o.Interface, Broadcast: o.Broadcast, Port: o.Port}
}

// WakeReport is what a relay did for a WakeOrder: a step per target,
// as the hub records them in the action, and how many packets went out.
type WakeReport struct {
	Steps []moonwake.Step `json:"steps"`
	Sent  int             `json:"sent"`
}

// ProbeOrder asks a relay for one round of evidence about a machine.
type ProbeOrder struct {
	Machine      string `json:"machine"`
	Host         string `json:"host"`
	MAC          string `json:"mac,omitempty"` // expected in the neighbour table; "" skips the check
	Ports        []int  `json:"ports,omitempty"`
	ICMP         bool   `json:"icmp,omitempty"`
	SunshinePort int    `json:"sunshine_port,omitempty"`
	SunshineID   string `json:"sunshine_id,omitempty"`
}

// NewProbeOrder returns the order for one round of probes of t.
func NewProbeOrder(t probe.Target) ProbeOrder {
	o := ProbeOrder{Machine: t.Name, Host: t.Host, Ports: t.Ports, ICMP: t.ICMP,
		SunshinePort: t.SunshinePort, SunshineID: t.SunshineID}
	if t.MAC != nil {
		o.MAC = t.MAC.String()
	}
	return o
}

// target is the order as the prober's target; EInvalid for a bad one.
func (o ProbeOrder) target() (probe.Target, error) {
	t := probe.Target{Name: o.Machine, Host: o.Host, Ports: o.Ports, ICMP: o.ICMP,
		SunshinePort: o.SunshinePort, SunshineID: o.SunshineID}
	if o.Host == "" || !moonwake.ValidName(o.Machine) {
		return t, moonwake.Errorf(moonwake.EInvalid, "a probe needs a machine name and a host")
	}
	if len(o.Ports) > 16 {
		return t, moonwake.Errorf(moonwake.EInvalid, "at most 16 ports a probe")
	}
	for _, p := range o.Ports {
		if p < 1 || p > 65535 {
			return t, moonwake.Errorf(moonwake.EInvalid, "port %d out of range", p)
		}
	}
	if o.SunshinePort < 0 || o.SunshinePort > 65535 {
		return t, moonwake.Errorf(moonwake.EInvalid, "sunshine port %d out of range", o.SunshinePort)
	}
	if o.MAC != "" {
		mac, err := net.ParseMAC(o.MAC)
		if err != nil {
			return t, moonwake.Errorf(moonwake.EInvalid, "mac: %v", err)
		}
		t.MAC = mac
	}
	return t, nil
}

// Commands of discovery ("Add machine"): the relay's neighbour table, and a
// sweep of one of its subnets.
const (
	CommandNeighbours = "neighbours" // Args: NeighboursOrder; Data: NeighboursReport
	CommandSweep      = "sweep"      // Args: SweepOrder; Data: SweepReport
)

// Bounds on a neighbours report, so that it fits in an uplink frame: a
// device count, two names each, and their length.
const (
	MaxNeighbours     = 100
	maxNeighbourNames = 2
	maxNeighbourName  = 100
)

// NeighboursOrder asks a relay for the devices in its neighbour table.
type NeighboursOrder struct {
	Names bool `json:"names"` // name them (reverse DNS, mDNS) within about 1.5 s
}

// NeighboursReport is a relay's neighbour table as devices worth
// suggesting, whether it may sweep, and which networks it serves.
type NeighboursReport struct {
	Devices  []NeighbourDevice `json:"devices"`
	Sweep    bool              `json:"sweep"`
	Networks []string          `json:"networks,omitempty"`
}

// NeighbourDevice is one device of a NeighboursReport.
type NeighbourDevice struct {
	IP    string   `json:"ip"`
	MAC   string   `json:"mac"`
	Names []string `json:"names,omitempty"`
}

// ParseNeighboursReport decodes a relay's report and keeps what may be
// believed of it: at most MaxNeighbours devices with an address and a
// unicast MAC, at most two names each, of a bounded length.
func ParseNeighboursReport(b []byte) (NeighboursReport, error) {
	var rep NeighboursReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return NeighboursReport{}, moonwake.Errorf(moonwake.EInvalid, "malformed neighbours report: %v", err)
	}
	out := NeighboursReport{Sweep: rep.Sweep, Devices: []NeighbourDevice{}}
	for _, n := range rep.Networks[:min(len(rep.Networks), 32)] {
		if p, err := netip.ParsePrefix(n); err == nil {
			out.Networks = append(out.Networks, p.Masked().String())
		}
	}
	for _, d := range rep.Devices {
		if len(out.Devices) == MaxNeighbours {
			break
		}
		ip, err := netip.ParseAddr(d.IP)
		if err != nil || ip.Zone() != "" {
			continue
		}
		mac, err := net.ParseMAC(d.MAC)
		if err != nil || len(mac) != 6 || mac[0]&1 != 0 {
			continue
		}
		nd := NeighbourDevice{IP: ip.Unmap().String(), MAC: mac.String()}
		for _, name := range d.Names {
			if len(nd.Names) == maxNeighbourNames {
				break
			}
			if name != "" && len(name) <= maxNeighbourName && utf8.ValidString(name) {
				nd.Names = append(nd.Names, name)
			}
		}
		out.Devices = append(out.Devices, nd)
	}
	return out, nil
}

// SweepOrder asks a relay to sweep one of its subnets; "" for its only
// IPv4 one.
type SweepOrder struct {
	Network string `json:"network,omitempty"`
}

// SweepReport is a relay's answer to a SweepOrder: the sweep as it
// starts, or why it does not (Code is a moonwake error code).
type SweepReport struct {
	Network   string `json:"network,omitempty"`
	Addresses int    `json:"addresses,omitempty"`
	Rate      int    `json:"rate,omitempty"`
	Error     string `json:"error,omitempty"`
	Code      string `json:"code,omitempty"`
}
