package lan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"
)

// MDNSGroup is where mDNS queries go (RFC 6762): 224.0.0.251, port 5353.
var MDNSGroup = netip.AddrPortFrom(netip.AddrFrom4([4]byte{224, 0, 0, 251}), 5353)

// Bounds on what an mDNS answer may say: a few records, short names.
const (
	maxMDNSRecords = 16
	maxNameLen     = 100 // a name longer than this is nobody's PC
)

// ReverseName is the PTR name of an IPv4 address: 10.1.168.192.in-addr.arpa.
// for 192.168.1.10. ok is false for an address that is not IPv4.
func ReverseName(a netip.Addr) (name string, ok bool) {
	a = a.Unmap()
	if !a.Is4() {
		return "", false
	}
	b := a.As4()
	return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", b[3], b[2], b[1], b[0]), true
}

// unicastResponse is the top bit of a question's class in mDNS: "answer me
// directly" (RFC 6762 §5.4, the QU bit).
const unicastResponse = 1 << 15

// MDNSQuery encodes a one-shot mDNS query (ID 0, as RFC 6762 asks) for the
// PTR record of each address's reverse name, with the unicast-response bit
// set. IPv6 addresses are skipped; none left is an error.
func MDNSQuery(addrs ...netip.Addr) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	n := 0
	for _, a := range addrs {
		rn, ok := ReverseName(a)
		if !ok {
			continue
		}
		name, err := dnsmessage.NewName(rn)
		if err != nil {
			return nil, err
		}
		if err := b.Question(dnsmessage.Question{Name: name, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET | unicastResponse}); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, errors.New("mdns: no IPv4 address to ask for")
	}
	return b.Finish()
}

// PTR is a pointer record from an answer: Name (a reverse name, lower
// case, with its final dot) points to Target (without its final dot).
type PTR struct {
	Name   string
	Target string
}

// ParseMDNSResponse decodes an mDNS response and returns its PTR records
// of class IN, from the answer and additional sections, at most 16. A
// message that is not a response, or does not parse, is an error; a
// record whose target is not a plausible host name is skipped.
func ParseMDNSResponse(msg []byte) ([]PTR, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	if !h.Response || h.RCode != dnsmessage.RCodeSuccess {
		return nil, errors.New("mdns: not a successful response")
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	var out []PTR
	seen := 0
	read := func(next func() (dnsmessage.ResourceHeader, error), skip func() error) error {
		for seen < maxMDNSRecords {
			rh, err := next()
			if errors.Is(err, dnsmessage.ErrSectionDone) {
				return nil
			}
			if err != nil {
				return err
			}
			seen++
			// The top bit of an answer's class is mDNS's cache-flush bit.
			if rh.Type != dnsmessage.TypePTR || rh.Class&^unicastResponse != dnsmessage.ClassINET {
				if err := skip(); err != nil {
					return err
				}
				continue
			}
			r, err := p.PTRResource()
			if err != nil {
				return err
			}
			target := strings.TrimSuffix(r.PTR.String(), ".")
			if !plausibleHost(target) {
				continue
			}
			out = append(out, PTR{Name: strings.ToLower(rh.Name.String()), Target: target})
		}
		return nil
	}
	if err := read(p.AnswerHeader, p.SkipAnswer); err != nil {
		return out, fmt.Errorf("mdns: %w", err)
	}
	if err := p.SkipAllAuthorities(); err != nil {
		return out, nil // the answers were read; the rest is a bonus
	}
	if err := read(p.AdditionalHeader, p.SkipAdditional); err != nil {
		return out, nil
	}
	return out, nil
}

// plausibleHost reports whether s can be shown as a host's name: not empty,
// not too long, printable ASCII labels without spaces.
func plausibleHost(s string) bool {
	if s == "" || len(s) > maxNameLen || strings.Contains(s, "..") {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '\\' || c == '"' || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// LookupMDNS asks the LAN behind the interface with index ifindex, with one
// multicast query, for the names of addrs (IPv4 only), and gathers the
// answers until ctx ends. Responders answer the query's source port
// directly (RFC 6762 §6.7), so one ephemeral socket hears them. A name
// is taken only for an address that was asked for.
func LookupMDNS(ctx context.Context, ifindex int, addrs []netip.Addr) (map[netip.Addr]string, error) {
	want := map[string]netip.Addr{}
	for _, a := range addrs {
		if rn, ok := ReverseName(a); ok {
			want[rn] = a.Unmap()
		}
	}
	out := map[netip.Addr]string{}
	if len(want) == 0 {
		return out, nil
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	defer conn.Close()
	pc := ipv4.NewPacketConn(conn)
	if ifindex > 0 {
		ifi, err := net.InterfaceByIndex(ifindex)
		if err != nil {
			return nil, fmt.Errorf("mdns: interface %d: %w", ifindex, err)
		}
		if err := pc.SetMulticastInterface(ifi); err != nil {
			return nil, fmt.Errorf("mdns: interface %s: %w", ifi.Name, err)
		}
	}
	// Link-local: a router must not forward it (RFC 6762 §11 asks 255).
	_ = pc.SetMulticastTTL(255)
	_ = pc.SetMulticastLoopback(false)
	// A datagram holds about 60 questions of 30 bytes each; ask in parts.
	for i := 0; i < len(addrs); i += 32 {
		q, err := MDNSQuery(addrs[i:min(i+32, len(addrs))]...)
		if err != nil {
			continue // only IPv6 in this part
		}
		if _, err := conn.WriteToUDPAddrPort(q, MDNSGroup); err != nil {
			return nil, fmt.Errorf("mdns: send: %w", err)
		}
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Second)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	conn.SetReadDeadline(deadline)
	buf := make([]byte, 9000)
	for len(out) < len(want) {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			break // the deadline: what came in time is the answer
		}
		if from.Port() != MDNSGroup.Port() {
			// Every mDNS response comes from port 5353 (RFC 6762 §6):
			// anything else that finds the socket's port is not one.
			continue
		}
		ptrs, _ := ParseMDNSResponse(buf[:n])
		for _, r := range ptrs {
			if a, ok := want[r.Name]; ok {
				if _, dup := out[a]; !dup {
					out[a] = r.Target
				}
			}
		}
	}
	return out, nil
}
