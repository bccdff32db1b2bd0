package uplink

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Protocol constants.
const (
	// Version is the protocol version carried in every frame.
	Version = 1
	// Subprotocol is the WebSocket subprotocol both sides ask for.
	Subprotocol = "moonwake.link.v1"
	// Path is the hub route that upgrades to a link.
	Path = "/api/v1/link"
	// MaxFrame bounds one frame; nothing the uplink carries is large.
	MaxFrame = 64 << 10
)

// Purposes: what kind of peer an uplink or a pairing is for. A key paired for
// one purpose cannot open an uplink for another.
const (
	PurposeAgent = "agent"
	PurposeRelay = "relay"
)

// Frame types.
const (
	typeHello     = "hello"
	typeChallenge = "challenge"
	typeAuth      = "auth"
	typeWelcome   = "welcome"
	typeError     = "error"
	typeCommand   = "command" // hub → peer
	typeResult    = "result"  // peer → hub: the answer to a command
	typeOutcome   = "outcome" // peer → hub: how carrying a command out ended
	typeReport    = "report"  // peer → hub: periodic measurements
	typeNotice    = "notice"  // peer → hub: something it saw, such as a relay's magic packet from outside
	typeRequest   = "request" // peer → hub: an agent asks for a power action on its own machine
	typeReply     = "reply"   // hub → peer: the answer to a request
)

const (
	nonceSize   = 32
	sessionSize = 16
)

// Command is what the hub asks a peer to do.
type Command struct {
	ID   string          `json:"id"`             // chosen by the hub (an action id); answers name it
	Name string          `json:"name"`           // "shutdown", "reboot", "sleep", "hibernate"; a relay's "wake", "probe"
	Args json.RawMessage `json:"args,omitempty"` // command-specific: what a relay wakes or probes
}

// Result is a peer's answer to a command. For a power command it is sent
// before the command takes effect: OK means accepted, not done.
type Result struct {
	CommandID string `json:"command_id"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`  // why it was refused, or how it failed
	Detail    string `json:"detail,omitempty"` // what was or will be done, in words
	// Data is a command's answer for programs, such as a relay's probe
	// evidence; nil for power commands.
	Data json.RawMessage `json:"data,omitempty"`
}

// Report is what a peer measures and sends periodically. Fields it could
// not measure are left out; Errors says why.
type Report struct {
	At            time.Time `json:"at"`
	IdleSeconds   *float64  `json:"idle_seconds,omitempty"`   // since the last user input
	UserSession   *bool     `json:"user_session,omitempty"`   // a user is logged in
	UptimeSeconds *float64  `json:"uptime_seconds,omitempty"` // since boot
	Hostname      string    `json:"hostname,omitempty"`
	OS            string    `json:"os,omitempty"`
	Arch          string    `json:"arch,omitempty"`
	Software      string    `json:"software,omitempty"` // the peer's version
	// Networks are the subnets a relay serves, as CIDR prefixes
	// ("192.168.1.0/24"); agents leave it out.
	Networks []string `json:"networks,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// Notice is something a peer saw and tells the hub of, unasked: a relay's
// magic packet that arrived from outside on its passthrough port, an
// agent's countdown cancelled at the PC.
type Notice struct {
	Kind string `json:"kind"`           // NoticeMagic, NoticeCancel
	From string `json:"from,omitempty"` // the source address it came from
	Data []byte `json:"data,omitempty"` // what arrived (at most MaxNoticeData bytes)
	// Action and How are a cancel's: the action whose countdown the
	// person at the PC cancelled, and how (CancelInput …).
	Action string `json:"action,omitempty"`
	How    string `json:"how,omitempty"`
}

// NoticeMagic is a UDP datagram that a relay's passthrough received: the
// hub decides whether it wakes a registered machine.
const NoticeMagic = "magic"

// MaxNoticeData bounds a notice's data: more than any magic packet.
const MaxNoticeData = 512

// Request is what a peer asks the hub to do, for a program on its own
// machine: an agent's "sleep this PC" from a Sunshine app. The hub carries
// it out as any other verified action on the peer's machine, never on
// another one.
type Request struct {
	ID   string `json:"id"`   // chosen by the peer; the reply names it
	Name string `json:"name"` // "shutdown", "reboot", "sleep", "hibernate"
	// From and App say who asked on the machine, for the audit log:
	// From is RequestFromSunshine, App the title of the app launched.
	From string `json:"from"`
	App  string `json:"app,omitempty"`
}

// RequestFromSunshine is the From of a request made by a Sunshine app.
const RequestFromSunshine = "sunshine"

// MaxRequestApp bounds a request's App.
const MaxRequestApp = 64

// frame is one message on the wire. Which fields are set depends on Type;
// decodeFrame checks that.
type frame struct {
	V        int             `json:"v"`
	Type     string          `json:"type"`
	Purpose  string          `json:"purpose,omitempty"`
	Peer     string          `json:"peer,omitempty"`
	Nonce    []byte          `json:"nonce,omitempty"`
	Session  []byte          `json:"session,omitempty"`
	Seq      uint64          `json:"seq,omitempty"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	Sig      []byte          `json:"sig,omitempty"`
	Error    string          `json:"error,omitempty"`
	Software string          `json:"software,omitempty"`
}

var peerIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidPeerID reports whether s can be a peer id.
func ValidPeerID(s string) bool { return peerIDRE.MatchString(s) }

func validPurpose(s string) bool { return s == PurposeAgent || s == PurposeRelay }

// errProtocol marks a frame that breaks the protocol.
var errProtocol = errors.New("protocol violation")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, args...))
}

// decodeFrame parses and checks one frame: the version, a known type, and
// the fields that type needs, with their sizes. It checks no signature.
func decodeFrame(b []byte) (*frame, error) {
	if len(b) > MaxFrame {
		return nil, protoErr("frame of %d bytes, more than %d", len(b), MaxFrame)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var f frame
	if err := dec.Decode(&f); err != nil {
		return nil, protoErr("malformed frame")
	}
	if dec.More() {
		return nil, protoErr("more than one JSON value in a frame")
	}
	if f.V != Version {
		return nil, protoErr("version %d, want %d", f.V, Version)
	}
	need := func(ok bool, what string) error {
		if !ok {
			return protoErr("%s frame: %s", f.Type, what)
		}
		return nil
	}
	var err error
	switch f.Type {
	case typeHello:
		err = errors.Join(
			need(validPurpose(f.Purpose), "unknown purpose"),
			need(ValidPeerID(f.Peer), "bad peer id"),
			need(len(f.Nonce) == nonceSize, "nonce must be 32 bytes"),
			need(len(f.Software) <= 64, "software too long"))
	case typeChallenge:
		err = errors.Join(
			need(len(f.Nonce) == nonceSize, "nonce must be 32 bytes"),
			need(len(f.Session) == sessionSize, "session must be 16 bytes"),
			need(len(f.Sig) == ed25519.SignatureSize, "bad signature size"))
	case typeAuth:
		err = need(len(f.Sig) == ed25519.SignatureSize, "bad signature size")
	case typeWelcome:
		err = need(len(f.Session) == sessionSize, "session must be 16 bytes")
	case typeError:
		err = need(len(f.Error) <= 200, "error text too long")
	case typeCommand, typeResult, typeOutcome, typeReport, typeNotice, typeRequest, typeReply:
		err = errors.Join(
			need(len(f.Session) == sessionSize, "session must be 16 bytes"),
			need(f.Seq > 0, "sequence number must be positive"),
			need(isObject(f.Payload), "payload must be a JSON object"),
			need(len(f.Sig) == ed25519.SignatureSize, "bad signature size"))
	default:
		return nil, protoErr("unknown frame type %.32q", f.Type)
	}
	if err != nil {
		return nil, err
	}
	return &f, nil
}

func isObject(p json.RawMessage) bool {
	p = bytes.TrimLeft(p, " \t\r\n")
	return len(p) > 1 && p[0] == '{'
}

// encodeFrame marshals f. A frame holds nothing that cannot be marshalled.
// The payload keeps its bytes (a signature covers them): HTML escaping is
// off, and a payload from json.Marshal has no whitespace to compact.
func encodeFrame(f *frame) []byte {
	f.V = Version
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		panic("uplink: marshal frame: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// keys are the facts a session's signatures are bound to.
type keys struct {
	purpose string
	peer    string
	peerPub ed25519.PublicKey
	hubPub  ed25519.PublicKey
	nonceP  []byte // the peer's nonce
	nonceH  []byte // the hub's nonce
	session []byte
}

const sigDomain = "moonwake-link-v1\x00"

func appendLP(b, p []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

// handshakeInput is what the hub (label "hub-challenge") and the peer
// (label "peer-auth") sign to open a session.
func (k *keys) handshakeInput(label string) []byte {
	b := []byte(sigDomain + label + "\x00")
	for _, p := range [][]byte{[]byte(k.purpose), []byte(k.peer), k.peerPub, k.hubPub, k.nonceP, k.nonceH, k.session} {
		b = appendLP(b, p)
	}
	return b
}

// messageInput is what the sender of a message frame signs.
func (k *keys) messageInput(typ string, seq uint64, payload []byte) []byte {
	b := make([]byte, 0, 256+len(payload))
	b = append(b, sigDomain+"msg:"+typ+"\x00"...)
	for _, p := range [][]byte{[]byte(k.purpose), []byte(k.peer), k.session, k.nonceP, k.nonceH, binary.BigEndian.AppendUint64(nil, seq)} {
		b = appendLP(b, p)
	}
	return appendLP(b, payload)
}

// seal builds a signed message frame.
func (k *keys) seal(priv ed25519.PrivateKey, typ string, seq uint64, v any) (*frame, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", typ, err)
	}
	return &frame{
		Type: typ, Session: k.session, Seq: seq, Payload: payload,
		Sig: ed25519.Sign(priv, k.messageInput(typ, seq, payload)),
	}, nil
}

// open checks a message frame from the other side: one of the types
// allowed, this session, a sequence number after last, and a signature by
// pub. It returns a protocol error otherwise.
func (k *keys) open(f *frame, pub ed25519.PublicKey, last uint64, allowed ...string) error {
	ok := false
	for _, t := range allowed {
		ok = ok || f.Type == t
	}
	if !ok {
		return protoErr("unexpected %s frame", f.Type)
	}
	if !bytes.Equal(f.Session, k.session) {
		return protoErr("%s frame for another session", f.Type)
	}
	if f.Seq <= last {
		return protoErr("%s frame with sequence number %d, not after %d (replay?)", f.Type, f.Seq, last)
	}
	if !ed25519.Verify(pub, k.messageInput(f.Type, f.Seq, f.Payload), f.Sig) {
		return protoErr("%s frame with a bad signature", f.Type)
	}
	return nil
}

// decodePayload reads a frame's payload into v. Unknown fields are
// ignored, so a newer sender can add some within a protocol version.
func decodePayload(p json.RawMessage, v any) error {
	if err := json.Unmarshal(p, v); err != nil {
		return protoErr("malformed payload")
	}
	return nil
}
