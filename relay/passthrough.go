package relay

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/moonwake/moonwake/internal/ratelimit"
	"github.com/moonwake/moonwake/uplink"
	"github.com/moonwake/moonwake/wol"
)

// Limits of the relay's passthrough: a press of Moonlight's button sends a
// burst of a few dozen packets; a source that sends more is cut off here,
// before the uplink, and the hub applies its own limits again.
const (
	passthroughPerMinute = 20 * 60
	passthroughBurst     = 40
	passthroughSources   = 4096
)

// notifier tells the hub of something the relay saw.
type notifier interface {
	Notify(ctx context.Context, n uplink.Notice) error
}

// passthrough listens for magic packets from outside (Moonlight's "Wake
// PC" button from 4G, through a port-forward to this relay) and hands the
// well-formed ones to the hub, which wakes the registered machine they
// name, through this relay, as it would any wake.
type passthrough struct {
	r       *Relay
	hub     notifier
	sources *ratelimit.Keyed
}

// listen opens the passthrough's sockets; serve reads them.
func (pt *passthrough) listen(addrs []string) ([]net.PacketConn, error) {
	var conns []net.PacketConn
	for _, a := range addrs {
		c, err := net.ListenPacket("udp", a)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// serve reads c until it is closed, forwarding what passes.
func (pt *passthrough) serve(ctx context.Context, c net.PacketConn) {
	buf := make([]byte, uplink.MaxNoticeData)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			time.Sleep(100 * time.Millisecond) // a socket error that repeats must not spin
			continue
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		pt.handle(ctx, ua.AddrPort().Addr().Unmap(), buf[:n])
	}
}

// handle forwards one datagram to the hub if it is a magic packet from
// elsewhere than this host, within the source's budget.
func (pt *passthrough) handle(ctx context.Context, src netip.Addr, b []byte) {
	if ok, _ := pt.sources.Allow(ratelimit.AddrKey(src.String()), time.Now()); !ok {
		return
	}
	if pt.local(src) {
		return // its own wakes, broadcast on the port it listens on
	}
	var p wol.Packet
	if p.UnmarshalBinary(b) != nil {
		return
	}
	err := pt.hub.Notify(ctx, uplink.Notice{Kind: uplink.NoticeMagic, From: src.String(), Data: append([]byte(nil), b...)})
	if err != nil {
		pt.r.log.Debug("passthrough: could not tell the hub of a magic packet", "mac", p.Target.String(), "from", src.String(), "error", err)
		return
	}
	// Debug only: anyone on the internet can send these, from any source.
	pt.r.log.Debug("passthrough: magic packet from outside sent to the hub", "mac", p.Target.String(), "from", src.String())
}

// local reports whether a is one of this host's addresses.
func (pt *passthrough) local(a netip.Addr) bool {
	ifs, err := pt.r.ifs()
	if err != nil {
		return false
	}
	for _, i := range ifs {
		for _, p := range i.Prefixes {
			if p.Addr().Unmap() == a {
				return true
			}
		}
	}
	return a.IsLoopback()
}
