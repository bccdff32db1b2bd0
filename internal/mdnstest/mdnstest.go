// Package mdnstest is a tiny mDNS responder for tests: it answers PTR
// queries for the reverse names of the addresses it is given, as Avahi or
// Bonjour on a PC would, directly to the querier (RFC 6762 §6.7). Run it
// inside a test's network namespace, never on the host's network.
package mdnstest

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/net/dns/dnsmessage"
)

// Responder answers mDNS queries on its socket until it is closed.
type Responder struct {
	conn    *net.UDPConn
	names   map[netip.Addr]string
	queries atomic.Int64
	done    chan struct{}
}

// Listen joins 224.0.0.251:5353 on the interface called ifname and
// answers, for each address in names, its reverse PTR with the name (such
// as "gaming-pc.local."). Call it inside the namespace the responder
// belongs to; the socket stays there.
func Listen(ifname string, names map[netip.Addr]string) (*Responder, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		return nil, err
	}
	r := &Responder{conn: conn, names: names, done: make(chan struct{})}
	go r.serve()
	return r, nil
}

// Queries is how many queries arrived.
func (r *Responder) Queries() int { return int(r.queries.Load()) }

// Close stops the responder and waits for it.
func (r *Responder) Close() error {
	err := r.conn.Close()
	<-r.done
	return err
}

func (r *Responder) serve() {
	defer close(r.done)
	buf := make([]byte, 9000)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		r.queries.Add(1)
		if ans, ok := r.answer(buf[:n]); ok {
			r.conn.WriteToUDPAddrPort(ans, from)
		}
	}
}

// answer builds the reply to a query, false when it asks for nothing this
// responder knows.
func (r *Responder) answer(q []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil || h.Response {
		return nil, false
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return nil, false
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	b.EnableCompression()
	var answers []dnsmessage.Question
	for _, q := range qs {
		a, ok := reverseAddr(q.Name.String())
		if q.Type != dnsmessage.TypePTR || !ok || r.names[a] == "" {
			continue
		}
		answers = append(answers, q)
	}
	if len(answers) == 0 {
		return nil, false
	}
	// A legacy unicast reply repeats the questions (RFC 6762 §6.7).
	b.StartQuestions()
	for _, q := range answers {
		q.Class = dnsmessage.ClassINET
		b.Question(q)
	}
	b.StartAnswers()
	for _, q := range answers {
		a, _ := reverseAddr(q.Name.String())
		target, err := dnsmessage.NewName(r.names[a])
		if err != nil {
			continue
		}
		b.PTRResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 10},
			dnsmessage.PTRResource{PTR: target})
	}
	msg, err := b.Finish()
	return msg, err == nil
}

// reverseAddr is the IPv4 address a reverse name stands for.
func reverseAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(strings.TrimSuffix(strings.ToLower(name), "."), ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, s := range parts {
		v, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return netip.Addr{}, false
		}
		b[3-i] = byte(v)
	}
	return netip.AddrFrom4(b), true
}
