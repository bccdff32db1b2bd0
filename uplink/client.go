package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/moonwake/moonwake"
)

// Defaults for the reconnection backoff.
const (
	DefaultMinBackoff = 1 * time.Second
	DefaultMaxBackoff = 60 * time.Second
)

// ErrHubKey is the error of a session whose hub did not prove it holds the
// private key of the hub key pinned at pairing: another server, maybe an
// impostor on the LAN. The client goes on trying: the real hub may come
// back.
var ErrHubKey = errors.New("the hub's signature does not match the pinned hub key")

// Then is what a Handler returns to carry a command out after its result
// has been sent. ctx is the client's Run context, not the session's: a
// shutdown must not be cut short because the uplink went down first.
type Then func(ctx context.Context) error

// Handler decides on a command and returns the result to send. When it
// also returns a Then, the client calls it once the result is on the wire,
// and sends its error as an outcome. A Handler must not block: it decides,
// Then acts.
type Handler func(ctx context.Context, cmd Command) (Result, Then)

// Client is a peer's side of the uplink: it dials the hub, authenticates,
// answers commands and sends reports, and reconnects with backoff whenever
// the uplink ends.
type Client struct {
	HubURL  string             // http(s)://host[:port][/prefix] of the hub
	ID      string             // the peer id from pairing
	Purpose string             // PurposeAgent (default) or PurposeRelay
	Key     ed25519.PrivateKey // the peer's own key
	HubKey  ed25519.PublicKey  // pinned at pairing

	Handle         Handler                          // nil: every command is refused
	Report         func(ctx context.Context) Report // nil: no reports
	ReportInterval time.Duration                    // 0: DefaultReportInterval
	OnState        func(up bool, err error)         // optional: each time the uplink goes up or down
	HTTPClient     *http.Client                     // nil: http.DefaultClient
	Software       string                           // the peer's version, sent in hello and User-Agent
	Logger         *slog.Logger                     // nil: discard

	PingInterval     time.Duration // 0: DefaultPingInterval
	PingTimeout      time.Duration // 0: DefaultPingTimeout
	HandshakeTimeout time.Duration // 0: DefaultHandshakeTimeout
	MinBackoff       time.Duration // 0: DefaultMinBackoff
	MaxBackoff       time.Duration // 0: DefaultMaxBackoff

	mu   sync.Mutex
	cur  *clientSession
	work sync.WaitGroup // Then calls in flight
}

type clientSession struct {
	c    *Client
	conn *websocket.Conn
	keys keys
	wmu  sync.Mutex
	seq  uint64 // last frame sent
	last uint64 // last frame accepted; the reader's alone

	done    <-chan struct{} // closed when the session ends
	pmu     sync.Mutex
	pending map[string]chan Result // requests waiting for their reply
}

// Run keeps the uplink up until ctx ends, then waits for commands being
// carried out and returns nil. It returns an error at once only when the
// client is misconfigured.
func (c *Client) Run(ctx context.Context) error {
	if c.Purpose == "" {
		c.Purpose = PurposeAgent
	}
	switch {
	case !ValidPeerID(c.ID):
		return moonwake.Errorf(moonwake.EInvalid, "uplink client: bad peer id %q", c.ID)
	case !validPurpose(c.Purpose):
		return moonwake.Errorf(moonwake.EInvalid, "uplink client: unknown purpose %q", c.Purpose)
	case len(c.Key) != ed25519.PrivateKeySize || len(c.HubKey) != ed25519.PublicKeySize:
		return moonwake.Errorf(moonwake.EInvalid, "uplink client: keys missing; pair first")
	}
	u, err := endpoint(c.HubURL, Path)
	if err != nil {
		return err
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	defer c.work.Wait()
	attempt := 0
	for {
		up, err := c.session(ctx, u)
		if ctx.Err() != nil {
			return nil
		}
		if up {
			attempt = 0
		}
		wait := backoff(attempt, or(c.MinBackoff, DefaultMinBackoff), or(c.MaxBackoff, DefaultMaxBackoff), rand.Float64())
		attempt++
		if errors.Is(err, ErrHubKey) {
			c.Logger.Error("uplink: the server is not the paired hub; not trusting it", "hub", c.HubURL, "retry_in", wait)
		} else {
			c.Logger.Warn("uplink down", "hub", c.HubURL, "error", err, "retry_in", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff returns the wait before reconnection attempt n (from 0):
// doubling from lo up to hi, with "equal jitter" (a random point r in the
// upper half), so that peers cut off by one hub restart do not all come
// back at the same instant.
func backoff(n int, lo, hi time.Duration, r float64) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + time.Duration(r*float64(d/2))
}

// session runs one uplink session to its end. up tells whether the
// handshake succeeded.
func (c *Client) session(ctx context.Context, u string) (up bool, err error) {
	hctx, cancel := context.WithTimeout(ctx, or(c.HandshakeTimeout, DefaultHandshakeTimeout))
	defer cancel()
	h := http.Header{}
	h.Set("User-Agent", "moonwake-"+c.Purpose+"/"+c.Software)
	conn, _, err := websocket.Dial(hctx, u, &websocket.DialOptions{
		HTTPClient: c.HTTPClient, HTTPHeader: h, Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	defer conn.CloseNow()
	if conn.Subprotocol() != Subprotocol {
		conn.Close(websocket.StatusPolicyViolation, "subprotocol "+Subprotocol+" required")
		return false, fmt.Errorf("the server does not speak %s", Subprotocol)
	}
	conn.SetReadLimit(MaxFrame)

	cs := &clientSession{c: c, conn: conn, pending: map[string]chan Result{}, keys: keys{
		purpose: c.Purpose, peer: c.ID, peerPub: c.Key.Public().(ed25519.PublicKey), hubPub: c.HubKey,
		nonceP: random(nonceSize),
	}}
	if err := writeFrame(hctx, conn, &frame{Type: typeHello, Purpose: c.Purpose, Peer: c.ID, Nonce: cs.keys.nonceP, Software: c.Software}); err != nil {
		return false, fmt.Errorf("write hello: %w", err)
	}
	f, err := readFrame(hctx, conn)
	switch {
	case err != nil:
		return false, fmt.Errorf("read challenge: %w", err)
	case f.Type == typeError:
		return false, fmt.Errorf("the hub refused the link: %.100s", f.Error)
	case f.Type != typeChallenge:
		return false, protoErr("%s frame instead of challenge", f.Type)
	}
	cs.keys.nonceH, cs.keys.session = f.Nonce, f.Session
	if !ed25519.Verify(c.HubKey, cs.keys.handshakeInput("hub-challenge"), f.Sig) {
		refuse(conn, "authentication failed")
		return false, ErrHubKey
	}
	if err := writeFrame(hctx, conn, &frame{Type: typeAuth, Sig: ed25519.Sign(c.Key, cs.keys.handshakeInput("peer-auth"))}); err != nil {
		return false, fmt.Errorf("write auth: %w", err)
	}
	f, err = readFrame(hctx, conn)
	switch {
	case err != nil:
		return false, fmt.Errorf("read welcome: %w", err)
	case f.Type == typeError:
		return false, fmt.Errorf("the hub refused the link: %.100s", f.Error)
	case f.Type != typeWelcome || !bytes.Equal(f.Session, cs.keys.session):
		return false, protoErr("%s frame instead of welcome", f.Type)
	}

	c.Logger.Info("uplink up", "hub", c.HubURL, "peer", c.ID)
	sctx, scancel := context.WithCancelCause(ctx)
	cs.done = sctx.Done()
	c.setCurrent(cs, nil)
	var wg sync.WaitGroup
	wg.Go(func() { cs.pingLoop(sctx, scancel) })
	if c.Report != nil {
		wg.Go(func() { cs.reportLoop(sctx, scancel) })
	}
	err = cs.readLoop(ctx, sctx, &wg)
	if errors.Is(err, errProtocol) {
		c.Logger.Warn("uplink protocol violation; closing", "error", err)
		conn.Close(websocket.StatusPolicyViolation, "protocol violation")
	}
	if cause := context.Cause(sctx); cause != nil {
		err = cause
	}
	scancel(err)
	conn.CloseNow()
	wg.Wait()
	c.setCurrent(nil, err)
	return true, err
}

func (c *Client) setCurrent(cs *clientSession, err error) {
	c.mu.Lock()
	c.cur = cs
	c.mu.Unlock()
	if c.OnState != nil {
		c.OnState(cs != nil, err)
	}
}

func (cs *clientSession) pingLoop(ctx context.Context, stop context.CancelCauseFunc) {
	t := time.NewTicker(or(cs.c.PingInterval, DefaultPingInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, or(cs.c.PingTimeout, DefaultPingTimeout))
		err := cs.conn.Ping(pctx)
		cancel()
		if err != nil {
			stop(fmt.Errorf("no answer to ping: %w", err))
			return
		}
	}
}

func (cs *clientSession) reportLoop(ctx context.Context, stop context.CancelCauseFunc) {
	t := time.NewTicker(or(cs.c.ReportInterval, DefaultReportInterval))
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, writeTimeout)
		r := cs.c.Report(rctx)
		cancel()
		if r.At.IsZero() {
			r.At = time.Now().UTC()
		}
		if err := cs.send(ctx, typeReport, r); err != nil {
			stop(fmt.Errorf("send report: %w", err))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readLoop reads commands and replies until the session ends. runCtx
// outlives the session: Then calls get it.
func (cs *clientSession) readLoop(runCtx, ctx context.Context, wg *sync.WaitGroup) error {
	for {
		f, err := readFrame(ctx, cs.conn)
		if err != nil {
			return err
		}
		if err := cs.keys.open(f, cs.keys.hubPub, cs.last, typeCommand, typeReply); err != nil {
			return err
		}
		cs.last = f.Seq
		if f.Type == typeReply {
			var r Result
			if err := decodePayload(f.Payload, &r); err != nil {
				return err
			}
			cs.pmu.Lock()
			ch := cs.pending[r.CommandID]
			delete(cs.pending, r.CommandID)
			cs.pmu.Unlock()
			if ch != nil {
				ch <- r
			}
			continue
		}
		var cmd Command
		if err := decodePayload(f.Payload, &cmd); err != nil {
			return err
		}
		wg.Go(func() { cs.handle(runCtx, ctx, cmd) })
	}
}

// handle answers one authenticated command, then carries it out.
func (cs *clientSession) handle(runCtx, ctx context.Context, cmd Command) {
	c := cs.c
	log := c.Logger.With("command", cmd.Name, "id", cmd.ID)
	r := Result{OK: false, Error: "this peer carries out no commands"}
	var then Then
	if c.Handle != nil {
		r, then = c.Handle(ctx, cmd)
	}
	r.CommandID = cmd.ID
	if err := cs.send(ctx, typeResult, r); err != nil {
		// Not acknowledged, so not carried out: the hub will say the
		// command failed, and may retry.
		log.Warn("command received but its result could not be sent; not carrying it out", "error", err)
		return
	}
	log.Info("command answered", "ok", r.OK, "error", r.Error)
	if then == nil || !r.OK {
		return
	}
	c.work.Go(func() {
		err := then(runCtx)
		o := Result{CommandID: cmd.ID, OK: err == nil, Detail: r.Detail}
		if err != nil {
			o.Error = err.Error()
			log.Error("command failed", "error", err)
		} else {
			log.Info("command carried out")
		}
		c.mu.Lock()
		cur := c.cur
		c.mu.Unlock()
		if cur == nil {
			return
		}
		if err := cur.send(runCtx, typeOutcome, o); err != nil {
			log.Warn("could not report the outcome", "error", err)
		}
	})
}

// Notify tells the hub of n on the current session. EUnavailable when the
// uplink is down: a notice is not queued, since what it tells is news only
// now.
func (c *Client) Notify(ctx context.Context, n Notice) error {
	if len(n.Data) > MaxNoticeData {
		return moonwake.Errorf(moonwake.EInvalid, "a notice holds at most %d bytes", MaxNoticeData)
	}
	if !validNotice(n) {
		return moonwake.Errorf(moonwake.EInvalid, "a malformed %.16s notice", n.Kind)
	}
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	if cur == nil {
		return moonwake.Errorf(moonwake.EUnavailable, "the uplink to the hub is down")
	}
	return cur.send(ctx, typeNotice, n)
}

// Request asks the hub for req on the current session and waits for its
// reply, until ctx ends or, if ctx has no deadline, for
// DefaultRequestTimeout. An empty req.ID is filled with a random one.
// Errors: EUnavailable when the uplink is down, breaks or no reply comes in
// time (then the hub may have acted on it). A refusal is no error: it is
// the reply's Error.
func (c *Client) Request(ctx context.Context, req Request) (Result, error) {
	if req.ID == "" {
		req.ID = randomText(10)
	}
	if len(req.App) > MaxRequestApp {
		return Result{}, moonwake.Errorf(moonwake.EInvalid, "an app's title holds at most %d bytes", MaxRequestApp)
	}
	c.mu.Lock()
	cs := c.cur
	c.mu.Unlock()
	if cs == nil {
		return Result{}, moonwake.Errorf(moonwake.EUnavailable, "the uplink to the hub is down")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultRequestTimeout)
		defer cancel()
	}
	ch := make(chan Result, 1)
	cs.pmu.Lock()
	if _, dup := cs.pending[req.ID]; dup {
		cs.pmu.Unlock()
		return Result{}, moonwake.Errorf(moonwake.EConflict, "request %s is already waiting", req.ID)
	}
	cs.pending[req.ID] = ch
	cs.pmu.Unlock()
	defer func() {
		cs.pmu.Lock()
		delete(cs.pending, req.ID)
		cs.pmu.Unlock()
	}()
	if err := cs.send(ctx, typeRequest, req); err != nil {
		return Result{}, moonwake.Errorf(moonwake.EUnavailable, "send the request to the hub: %v", err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-cs.done:
		return Result{}, moonwake.Errorf(moonwake.EUnavailable, "the uplink to the hub ended before it answered; the hub may have acted on it")
	case <-ctx.Done():
		return Result{}, moonwake.Errorf(moonwake.EUnavailable, "the hub did not answer in time; it may have acted on it")
	}
}

// send signs and writes one message frame of this session.
func (cs *clientSession) send(ctx context.Context, typ string, v any) error {
	cs.wmu.Lock()
	defer cs.wmu.Unlock()
	f, err := cs.keys.seal(cs.c.Key, typ, cs.seq+1, v)
	if err != nil {
		return err
	}
	cs.seq++
	return writeFrame(ctx, cs.conn, f)
}
