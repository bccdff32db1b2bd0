package uplink

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/moonwake/moonwake"
)

// Defaults for the timing fields of Server and Client.
const (
	DefaultPingInterval     = 10 * time.Second
	DefaultPingTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultResultTimeout    = 15 * time.Second
	DefaultReportInterval   = 15 * time.Second
	DefaultRequestTimeout   = 30 * time.Second
	maxRequests             = 2 // a peer's requests being handled at once
	writeTimeout            = 10 * time.Second
)

var (
	errServerClosed = errors.New("the hub is shutting down")
	errReplaced     = errors.New("replaced by a newer link from the same peer")
	errDropped      = errors.New("dropped by the hub")
)

// Server is the hub's side of the link. Set the fields, mount it on Path
// (GET), and Close it before the HTTP server shuts down: uplinks are hijacked
// connections, which http.Server.Shutdown neither waits for nor closes.
//
// The callbacks are called from the goroutine that reads the peer's uplink,
// so they must return quickly; for one peer they are called in order.
// OnConnect is called each time a session becomes the peer's current one,
// also when it replaces an older session; OnDisconnect when the peer has no
// session left.
type Server struct {
	Keys   KeyStore
	HubKey ed25519.PrivateKey

	OnConnect    func(p Peer)
	OnDisconnect func(p Peer, err error)
	OnReport     func(p Peer, r Report)
	OnOutcome    func(p Peer, r Result) // a command was carried out, or failed
	OnNotice     func(p Peer, n Notice) // the peer saw something (a relay's magic packet)
	// OnRequest answers a peer's request. Unlike the other callbacks it
	// runs on a goroutine of its own and may take its time (it may send
	// the peer a command and wait for its result); ctx ends with the
	// session. nil: every request is refused.
	OnRequest func(ctx context.Context, p Peer, r Request) Result

	Logger           *slog.Logger  // nil: discard
	PingInterval     time.Duration // 0: DefaultPingInterval
	PingTimeout      time.Duration // 0: DefaultPingTimeout
	HandshakeTimeout time.Duration // 0: DefaultHandshakeTimeout
	ResultTimeout    time.Duration // Send's wait when its ctx has no deadline; 0: DefaultResultTimeout

	once     sync.Once
	base     context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
	evMu     sync.Mutex // orders connect and disconnect callbacks
	mu       sync.Mutex
	closed   bool
	sessions map[string]*serverSession // by peer id
}

type serverSession struct {
	peer   Peer
	conn   *websocket.Conn
	keys   keys
	ctx    context.Context
	cancel context.CancelCauseFunc

	wmu sync.Mutex // orders writes, so sequence numbers go out in order
	seq uint64     // last frame sent

	last uint64 // last peer frame accepted; the reader's alone

	pmu     sync.Mutex
	pending map[string]chan Result

	requests chan struct{}  // a slot per request being handled
	work     sync.WaitGroup // OnRequest calls in flight
}

func (s *Server) init() {
	s.once.Do(func() {
		s.base, s.stop = context.WithCancel(context.Background())
		s.sessions = map[string]*serverSession{}
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// ServeHTTP upgrades the request to an uplink, authenticates the peer and
// serves the session until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "the hub is shutting down", Code: moonwake.EUnavailable})
		return
	}
	defer s.wg.Done()
	if s.Keys == nil || len(s.HubKey) != ed25519.PrivateKeySize {
		s.Logger.Error("uplink server without a key store or hub key")
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error", Code: moonwake.EInternal})
		return
	}

	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		s.Logger.Debug("uplink upgrade failed", "addr", r.RemoteAddr, "error", err)
		return
	}
	defer c.CloseNow()
	if c.Subprotocol() != Subprotocol {
		c.Close(websocket.StatusPolicyViolation, "subprotocol "+Subprotocol+" required")
		return
	}
	c.SetReadLimit(MaxFrame)

	// The request context lives as long as this handler; the server's
	// ends every session at Close.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	defer context.AfterFunc(s.base, func() { cancel(errServerClosed) })()

	ss, err := s.handshake(ctx, c)
	if err != nil {
		s.Logger.Info("uplink refused", "addr", r.RemoteAddr, "error", err)
		return
	}
	ss.ctx, ss.cancel = ctx, cancel
	s.serve(ss, r.RemoteAddr)
}

// refuse tells the other side that the handshake failed, in words that
// reveal nothing, and closes the connection.
func refuse(c *websocket.Conn, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	writeFrame(ctx, c, &frame{Type: typeError, Error: why})
	c.Close(websocket.StatusPolicyViolation, why)
}

func readFrame(ctx context.Context, c *websocket.Conn) (*frame, error) {
	typ, b, err := c.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, protoErr("binary frame")
	}
	return decodeFrame(b)
}

func writeFrame(ctx context.Context, c *websocket.Conn, f *frame) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, encodeFrame(f))
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// handshake authenticates the peer and itself; see the package doc.
func (s *Server) handshake(ctx context.Context, c *websocket.Conn) (*serverSession, error) {
	ctx, cancel := context.WithTimeout(ctx, or(s.HandshakeTimeout, DefaultHandshakeTimeout))
	defer cancel()
	const failed = "authentication failed"
	hello, err := readFrame(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("read hello: %w", err)
	}
	if hello.Type != typeHello {
		refuse(c, "protocol violation")
		return nil, protoErr("%s frame instead of hello", hello.Type)
	}
	peer, err := s.Keys.LookupPeer(ctx, hello.Peer)
	if err != nil {
		if moonwake.ErrorCode(err) == moonwake.ENotFound {
			refuse(c, failed)
			return nil, fmt.Errorf("unknown peer %s", hello.Peer)
		}
		refuse(c, "hub unavailable")
		return nil, fmt.Errorf("look up peer %s: %w", hello.Peer, err)
	}
	if peer.Purpose != hello.Purpose || len(peer.PublicKey) != ed25519.PublicKeySize {
		refuse(c, failed)
		return nil, fmt.Errorf("peer %s is paired as %s, asked for a %s link", peer.ID, peer.Purpose, hello.Purpose)
	}
	ss := &serverSession{
		peer: *peer, conn: c, pending: map[string]chan Result{}, requests: make(chan struct{}, maxRequests),
		keys: keys{
			purpose: peer.Purpose, peer: peer.ID, peerPub: peer.PublicKey,
			hubPub: s.HubKey.Public().(ed25519.PublicKey),
			nonceP: hello.Nonce, nonceH: random(nonceSize), session: random(sessionSize),
		},
	}
	err = writeFrame(ctx, c, &frame{
		Type: typeChallenge, Nonce: ss.keys.nonceH, Session: ss.keys.session,
		Sig: ed25519.Sign(s.HubKey, ss.keys.handshakeInput("hub-challenge")),
	})
	if err != nil {
		return nil, fmt.Errorf("write challenge: %w", err)
	}
	auth, err := readFrame(ctx, c)
	switch {
	case err != nil:
		return nil, fmt.Errorf("read auth of %s: %w", peer.ID, err)
	case auth.Type == typeError:
		// The peer could not verify us: another hub key than it pinned.
		return nil, fmt.Errorf("peer %s refused the hub's signature (%.100s): was it paired with another hub?", peer.ID, auth.Error)
	case auth.Type != typeAuth:
		refuse(c, "protocol violation")
		return nil, protoErr("%s frame instead of auth", auth.Type)
	case !ed25519.Verify(peer.PublicKey, ss.keys.handshakeInput("peer-auth"), auth.Sig):
		refuse(c, failed)
		return nil, fmt.Errorf("peer %s: bad signature", peer.ID)
	}
	if err := writeFrame(ctx, c, &frame{Type: typeWelcome, Session: ss.keys.session}); err != nil {
		return nil, fmt.Errorf("write welcome: %w", err)
	}
	return ss, nil
}

// serve runs an authenticated session until it ends.
func (s *Server) serve(ss *serverSession, addr string) {
	if !s.register(ss, addr) {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.pingLoop(ss) })
	err := s.readLoop(ss)
	if errors.Is(err, errProtocol) {
		s.Logger.Warn("uplink protocol violation; closing", "peer", ss.peer.ID, "machine", ss.peer.Machine, "error", err)
		ss.conn.Close(websocket.StatusPolicyViolation, "protocol violation")
	}
	if cause := context.Cause(ss.ctx); cause != nil {
		err = cause
	}
	ss.cancel(err)
	ss.conn.CloseNow()
	wg.Wait()
	ss.work.Wait()
	s.unregister(ss, err)
}

func (s *Server) register(ss *serverSession, addr string) bool {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	old := s.sessions[ss.peer.ID]
	s.sessions[ss.peer.ID] = ss
	s.mu.Unlock()
	if old != nil {
		old.cancel(errReplaced)
	}
	s.Logger.Info("uplink up", "peer", ss.peer.ID, "machine", ss.peer.Machine, "addr", addr)
	if s.OnConnect != nil {
		s.OnConnect(ss.peer)
	}
	return true
}

func (s *Server) unregister(ss *serverSession, err error) {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	s.mu.Lock()
	current := s.sessions[ss.peer.ID] == ss
	if current {
		delete(s.sessions, ss.peer.ID)
	}
	s.mu.Unlock()
	s.Logger.Info("uplink down", "peer", ss.peer.ID, "machine", ss.peer.Machine, "error", err)
	if current && s.OnDisconnect != nil {
		s.OnDisconnect(ss.peer, err)
	}
}

func (s *Server) pingLoop(ss *serverSession) {
	t := time.NewTicker(or(s.PingInterval, DefaultPingInterval))
	defer t.Stop()
	for {
		select {
		case <-ss.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(ss.ctx, or(s.PingTimeout, DefaultPingTimeout))
		err := ss.conn.Ping(ctx)
		cancel()
		if err != nil {
			ss.cancel(fmt.Errorf("no answer to ping: %w", err))
			return
		}
	}
}

func (s *Server) readLoop(ss *serverSession) error {
	for {
		f, err := readFrame(ss.ctx, ss.conn)
		if err != nil {
			return err
		}
		if err := ss.keys.open(f, ss.peer.PublicKey, ss.last, typeResult, typeOutcome, typeReport, typeNotice, typeRequest); err != nil {
			return err
		}
		ss.last = f.Seq
		switch f.Type {
		case typeResult:
			var r Result
			if err := decodePayload(f.Payload, &r); err != nil {
				return err
			}
			ss.pmu.Lock()
			ch := ss.pending[r.CommandID]
			delete(ss.pending, r.CommandID)
			ss.pmu.Unlock()
			if ch == nil {
				s.Logger.Info("late or unknown result", "peer", ss.peer.ID, "command", r.CommandID)
				continue
			}
			ch <- r
		case typeOutcome:
			var r Result
			if err := decodePayload(f.Payload, &r); err != nil {
				return err
			}
			if s.OnOutcome != nil {
				s.OnOutcome(ss.peer, r)
			}
		case typeReport:
			var r Report
			if err := decodePayload(f.Payload, &r); err != nil {
				return err
			}
			if s.OnReport != nil {
				s.OnReport(ss.peer, r)
			}
		case typeNotice:
			var n Notice
			if err := decodePayload(f.Payload, &n); err != nil {
				return err
			}
			if !validNotice(n) {
				return protoErr("notice too large or malformed")
			}
			if s.OnNotice != nil {
				s.OnNotice(ss.peer, n)
			}
		case typeRequest:
			var r Request
			if err := decodePayload(f.Payload, &r); err != nil {
				return err
			}
			if r.ID == "" || len(r.ID) > 64 || len(r.Name) > 32 || len(r.From) > 32 || len(r.App) > MaxRequestApp {
				return protoErr("malformed request")
			}
			s.request(ss, r)
		}
	}
}

// request answers r on a goroutine of its own, so that the read loop goes
// on: OnRequest may send the peer a command and wait for its result. A
// peer asking more than maxRequests things at once is told to wait, from
// the read loop itself: a peer that floods requests and reads no answer
// holds up only its own session, never the hub's memory.
func (s *Server) request(ss *serverSession, r Request) {
	select {
	case ss.requests <- struct{}{}:
	default:
		s.reply(ss, Result{CommandID: r.ID, Error: "the hub is busy with this machine's other requests; try again"})
		return
	}
	ss.work.Go(func() {
		defer func() { <-ss.requests }()
		res := Result{Error: "the hub takes no requests"}
		if s.OnRequest != nil {
			res = s.OnRequest(ss.ctx, ss.peer, r)
		}
		res.CommandID = r.ID
		s.reply(ss, res)
	})
}

func (s *Server) reply(ss *serverSession, res Result) {
	if err := ss.write(ss.ctx, s.HubKey, typeReply, res); err != nil {
		s.Logger.Info("could not reply to a request", "peer", ss.peer.ID, "request", res.CommandID, "error", err)
	}
}

// Send sends cmd to the peer with that id and waits for its signed result,
// until ctx ends or, if ctx has no deadline, for ResultTimeout. An empty
// cmd.ID is filled with a random one. Errors: EInvalid without a name,
// EConflict when a command with the same id is waiting, EUnavailable when
// the peer is not connected, the uplink breaks or no result comes in time (in
// the last two cases the command may have been carried out).
func (s *Server) Send(ctx context.Context, peerID string, cmd Command) (Result, error) {
	s.init()
	if cmd.Name == "" {
		return Result{}, moonwake.Errorf(moonwake.EInvalid, "a command needs a name")
	}
	if cmd.ID == "" {
		cmd.ID = randomText(10)
	}
	s.mu.Lock()
	ss := s.sessions[peerID]
	s.mu.Unlock()
	if ss == nil {
		return Result{}, moonwake.Errorf(moonwake.EUnavailable, "%s is not connected", peerID)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, or(s.ResultTimeout, DefaultResultTimeout))
		defer cancel()
	}
	ch := make(chan Result, 1)
	ss.pmu.Lock()
	if _, dup := ss.pending[cmd.ID]; dup {
		ss.pmu.Unlock()
		return Result{}, moonwake.Errorf(moonwake.EConflict, "command %s is already waiting for %s", cmd.ID, peerID)
	}
	ss.pending[cmd.ID] = ch
	ss.pmu.Unlock()
	defer func() {
		ss.pmu.Lock()
		delete(ss.pending, cmd.ID)
		ss.pmu.Unlock()
	}()

	if err := ss.write(ctx, s.HubKey, typeCommand, cmd); err != nil {
		ss.cancel(fmt.Errorf("write command: %w", err))
		return Result{}, moonwake.Errorf(moonwake.EUnavailable, "send %s to %s: the link broke", cmd.Name, peerID)
	}
	s.Logger.Info("command sent", "peer", peerID, "machine", ss.peer.Machine, "command", cmd.Name, "id", cmd.ID)
	select {
	case r := <-ch:
		return r, nil
	case <-ss.ctx.Done():
		return Result{}, moonwake.Errorf(moonwake.EUnavailable, "the link to %s ended before it answered %s; it may have been carried out", peerID, cmd.Name)
	case <-ctx.Done():
		return Result{}, moonwake.Errorf(moonwake.EUnavailable, "%s did not answer %s in time; it may have been carried out", peerID, cmd.Name)
	}
}

// write signs and writes one message frame of this session.
func (ss *serverSession) write(ctx context.Context, key ed25519.PrivateKey, typ string, v any) error {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	f, err := ss.keys.seal(key, typ, ss.seq+1, v)
	if err != nil {
		return err
	}
	ss.seq++
	return writeFrame(ctx, ss.conn, f)
}

// Check pings the peer with that id over its uplink and waits for the pong
// until ctx ends: an application-level proof, shorter than the periodic
// ping, that the peer is still there. A link whose peer lost its address
// (sleep, a power cut, a dead switch port) looks up until TCP gives up;
// Check says so within its caller's deadline. It does not end the uplink:
// the periodic ping still decides that. Errors: EUnavailable when the
// peer is not connected or did not answer in time.
func (s *Server) Check(ctx context.Context, peerID string) error {
	s.init()
	s.mu.Lock()
	ss := s.sessions[peerID]
	s.mu.Unlock()
	if ss == nil {
		return moonwake.Errorf(moonwake.EUnavailable, "%s is not connected", peerID)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(ss.ctx, cancel)()
	if err := ss.conn.Ping(ctx); err != nil {
		return moonwake.Errorf(moonwake.EUnavailable, "%s did not answer a link check: %v", peerID, err)
	}
	return nil
}

// Connected reports whether the peer with that id has an uplink up.
func (s *Server) Connected(peerID string) bool {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[peerID] != nil
}

// Drop ends the uplink of the peer with that id, if any: after it is
// unpaired, say. It reconnects only if the KeyStore still knows it.
func (s *Server) Drop(peerID string) {
	s.init()
	s.mu.Lock()
	ss := s.sessions[peerID]
	s.mu.Unlock()
	if ss != nil {
		ss.cancel(errDropped)
	}
}

// Close ends every uplink, refuses new ones, and waits for the sessions to
// end.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	return nil
}
