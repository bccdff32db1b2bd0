//go:build linux

package lan_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/moonwake/moonwake/internal/mdnstest"
	"github.com/moonwake/moonwake/internal/testlan"
	"github.com/moonwake/moonwake/lan"
	"github.com/moonwake/moonwake/probe"
)

// TestLookupMDNS asks a LAN of namespaces for two PCs' names: one runs a
// responder, the other does not answer; the query leaves by the interface
// named, and one socket hears the direct answer.
func TestLookupMDNS(t *testing.T) {
	t.Parallel()
	l := testlan.New(t)
	hub, pc, quiet := l.AddHost("hub"), l.AddHost("pc"), l.AddHost("quiet")
	var r *mdnstest.Responder
	if err := pc.Do(func() error {
		var err error
		r, err = mdnstest.Listen("eth0", map[netip.Addr]string{pc.Addr(): "gaming-pc.local."})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got map[netip.Addr]string
	start := time.Now()
	err := hub.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ifindex, err := hostIfindex("eth0")
		if err != nil {
			return err
		}
		got, err = lan.LookupMDNS(ctx, ifindex, []netip.Addr{pc.Addr(), quiet.Addr()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got[pc.Addr()] != "gaming-pc.local" || len(got) != 1 {
		t.Errorf("names %v, want the pc's only", got)
	}
	t.Logf("mDNS: %d query, answered in under %s", r.Queries(), time.Since(start).Round(time.Millisecond))
}

// TestSweepFillsTheTable sweeps a /28 from one host: a PC it never talked
// to shows in its neighbour table afterwards, and no datagram goes to an
// address outside the subnet.
func TestSweepFillsTheTable(t *testing.T) {
	t.Parallel()
	l := testlan.New(t)
	relay := l.AddHost("relay", l.CIDR(1))
	pc := l.AddHost("pc", l.CIDR(9))
	outside := l.AddHost("outside", l.CIDR(77)) // on the LAN, outside the /28
	var rxs []*testlan.Receiver
	for _, h := range []*testlan.Host{pc, outside} {
		rx, err := h.ListenUDP(9)
		if err != nil {
			t.Fatal(err)
		}
		rxs = append(rxs, rx)
	}
	sub := netip.PrefixFrom(l.Prefix().Addr(), 28)
	addrs, err := lan.SweepAddrs(sub)
	if err != nil {
		t.Fatal(err)
	}
	var found []lan.Device
	err = relay.Do(func() error {
		u, err := lan.NewUDPProber()
		if err != nil {
			return err
		}
		defer u.Close()
		if _, err := lan.Sweep(context.Background(), addrs, 200, u.Send); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond) // the answers to the last ARP requests
		ns, err := probe.ListNeighbours(context.Background())
		if err != nil {
			return err
		}
		found = lan.Pick(ns, 100)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(found, func(d lan.Device) bool { return d.IP == pc.Addr() && d.MAC.String() == pc.MAC().String() }) {
		t.Errorf("the pc %s is not in the table after the sweep: %v", pc.Addr(), found)
	}
	if _, err := rxs[0].Next(time.Second); err != nil {
		t.Errorf("the pc got no datagram: %v", err)
	}
	if err := rxs[1].Quiet(300 * time.Millisecond); err != nil {
		t.Errorf("a host outside the subnet got a datagram: %v", err)
	}
}

// TestLookupMDNSOnlyFromResponders: a datagram that finds the query's
// port but does not come from mDNS's (5353, as RFC 6762 has every
// response come) names nobody.
func TestLookupMDNSOnlyFromResponders(t *testing.T) {
	t.Parallel()
	l := testlan.New(t)
	hub, pc := l.AddHost("hub"), l.AddHost("pc")
	// The pc hears the query on 5353 and answers from another port.
	var group, reply *net.UDPConn
	if err := pc.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		if group, err = net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}); err != nil {
			return err
		}
		reply, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	defer reply.Close()
	go func() {
		buf := make([]byte, 9000)
		n, from, err := group.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		if _, err := p.Start(buf[:n]); err != nil {
			return
		}
		q, err := p.Question()
		if err != nil {
			return
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{Response: true, Authoritative: true})
		b.StartAnswers()
		b.PTRResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 10},
			dnsmessage.PTRResource{PTR: dnsmessage.MustNewName("spoofed.local.")})
		if msg, err := b.Finish(); err == nil {
			reply.WriteToUDPAddrPort(msg, from)
		}
	}()
	var got map[netip.Addr]string
	err := hub.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		ifindex, err := hostIfindex("eth0")
		if err != nil {
			return err
		}
		got, err = lan.LookupMDNS(ctx, ifindex, []netip.Addr{pc.Addr()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("names %v from a port other than 5353", got)
	}
}
