package probe

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/moonwake/moonwake"
)

// TCP connects to addr ("host:port") and reports what came back, within
// timeout. A connection that opens is closed at once with a reset, so the
// prober leaves no TIME_WAIT behind and the peer no half-open socket.
func TCP(ctx context.Context, addr string, timeout time.Duration) moonwake.TCPResult {
	return tcpProbe(ctx, nil, addr, timeout)
}

func tcpProbe(ctx context.Context, enter func(func() error) error, addr string, timeout time.Duration) moonwake.TCPResult {
	r := moonwake.TCPResult{}
	if _, port, err := net.SplitHostPort(addr); err == nil {
		r.Port, _ = strconv.Atoi(port)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	start := time.Now()
	var c net.Conn
	err := inNamespace(enter, func() error {
		var err error
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	r.RTT = time.Since(start)
	if err == nil {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
		r.Outcome = moonwake.OutcomeOpen
		return r
	}
	r.Outcome, r.Error = classify(ctx, err)
	if r.Outcome != moonwake.OutcomeRefused {
		r.RTT = 0
	}
	return r
}

// classify turns a socket error into an outcome. ctx is the probe's own
// context, with its deadline.
func classify(ctx context.Context, err error) (moonwake.Outcome, string) {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return moonwake.OutcomeRefused, ""
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		// On a LAN: ARP got no answer. Beyond: a router said so.
		return moonwake.OutcomeUnreachable, "host unreachable"
	case errors.Is(ctx.Err(), context.DeadlineExceeded),
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return moonwake.OutcomeTimeout, ""
	}
	// No route, a local firewall, a cancelled context, a bad address: this
	// side could not probe, which says nothing about the machine.
	return moonwake.OutcomeError, errText(err)
}

// errText is err's text without the address prefix net.OpError repeats.
func errText(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// inNamespace runs f through enter, or as is when enter is nil.
func inNamespace(enter func(func() error) error, f func() error) error {
	if enter == nil {
		return f()
	}
	return enter(f)
}
