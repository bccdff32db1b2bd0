package moonwake

import (
	"net/netip"

	"github.com/moonwake/moonwake/wol"
)

// PlanWake returns the magic packet that wakes m and the targets to send
// it to, given the interfaces of the host that sends it (the hub, or the
// relay on m's LAN): the subnet broadcast of m's interface or of every
// interface that is up, m's broadcast address, and m's own address as
// unicast. EInvalid for a bad MAC or SecureOn password; EUnavailable when
// there is nowhere to send it.
func PlanWake(m *Machine, ifs []wol.Iface) ([]wol.Target, []byte, error) {
	mac, err := wol.ParseMAC(m.MAC)
	if err != nil {
		return nil, nil, Errorf(EInvalid, "machine %s: %v", m.Name, err)
	}
	pkt := wol.Packet{Target: mac}
	if m.Password != "" {
		if pkt.Password, err = wol.ParsePassword(m.Password); err != nil {
			return nil, nil, Errorf(EInvalid, "machine %s: %v", m.Name, err)
		}
	}
	b, err := pkt.MarshalBinary()
	if err != nil {
		return nil, nil, Errorf(EInvalid, "machine %s: %v", m.Name, err)
	}
	o := wol.Options{Interface: m.Interface, Port: m.WakePort()}
	if m.Broadcast != "" {
		o.Broadcast, _ = netip.ParseAddr(m.Broadcast)
	}
	if a, err := netip.ParseAddr(m.Host); err == nil {
		o.Unicast = []netip.Addr{a}
	}
	targets, err := wol.Plan(o, ifs)
	if err != nil {
		return nil, nil, Errorf(EUnavailable, "cannot wake %s: %v", m.Name, err)
	}
	return targets, b, nil
}
