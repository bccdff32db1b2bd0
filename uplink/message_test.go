package uplink

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// fixedKeys returns deterministic keys and a session, for tests and the
// fuzzer's seeds.
func fixedKeys() (hubKey, peerKey ed25519.PrivateKey, k keys) {
	hubKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	peerKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	k = keys{
		purpose: PurposeAgent, peer: "agent_test",
		peerPub: peerKey.Public().(ed25519.PublicKey), hubPub: hubKey.Public().(ed25519.PublicKey),
		nonceP: bytes.Repeat([]byte{3}, nonceSize), nonceH: bytes.Repeat([]byte{4}, nonceSize),
		session: bytes.Repeat([]byte{5}, sessionSize),
	}
	return
}

func TestDecodeFrame(t *testing.T) {
	b64 := func(n int) string {
		b, _ := json.Marshal(make([]byte, n))
		return string(b)
	}
	n32, s16, sig := b64(32), b64(16), b64(64)
	for _, tc := range []struct {
		in   string
		good bool
	}{
		{`{"v":1,"type":"hello","purpose":"agent","peer":"agent_x","nonce":` + n32 + `}`, true},
		{`{"v":1,"type":"hello","purpose":"agent","peer":"agent x","nonce":` + n32 + `}`, false},
		{`{"v":1,"type":"hello","purpose":"root","peer":"agent_x","nonce":` + n32 + `}`, false},
		{`{"v":1,"type":"hello","purpose":"agent","peer":"agent_x","nonce":` + s16 + `}`, false},
		{`{"v":2,"type":"hello","purpose":"agent","peer":"agent_x","nonce":` + n32 + `}`, false},
		{`{"type":"hello","purpose":"agent","peer":"agent_x","nonce":` + n32 + `}`, false},
		{`{"v":1,"type":"challenge","nonce":` + n32 + `,"session":` + s16 + `,"sig":` + sig + `}`, true},
		{`{"v":1,"type":"challenge","nonce":` + n32 + `,"session":` + s16 + `}`, false},
		{`{"v":1,"type":"auth","sig":` + sig + `}`, true},
		{`{"v":1,"type":"auth","sig":"not base64"}`, false},
		{`{"v":1,"type":"welcome","session":` + s16 + `}`, true},
		{`{"v":1,"type":"error","error":"authentication failed"}`, true},
		{`{"v":1,"type":"error","error":"` + strings.Repeat("x", 201) + `"}`, false},
		{`{"v":1,"type":"command","session":` + s16 + `,"seq":1,"payload":{"id":"a","name":"shutdown"},"sig":` + sig + `}`, true},
		{`{"v":1,"type":"command","session":` + s16 + `,"seq":0,"payload":{"id":"a"},"sig":` + sig + `}`, false},
		{`{"v":1,"type":"command","session":` + s16 + `,"seq":-1,"payload":{"id":"a"},"sig":` + sig + `}`, false},
		{`{"v":1,"type":"command","session":` + s16 + `,"seq":1,"payload":"shutdown","sig":` + sig + `}`, false},
		{`{"v":1,"type":"command","session":` + s16 + `,"seq":1,"sig":` + sig + `}`, false},
		{`{"v":1,"type":"report","session":` + s16 + `,"seq":7,"payload":{},"sig":` + sig + `}`, true},
		{`{"v":1,"type":"shell","payload":{}}`, false},
		{`{"v":1,"type":"auth","sig":` + sig + `} {}`, false},
		{`[]`, false},
		{``, false},
		{`{"v":1,"type":"report","session":` + s16 + `,"seq":7,"payload":{"x":"` + strings.Repeat("x", MaxFrame) + `"},"sig":` + sig + `}`, false},
	} {
		_, err := decodeFrame([]byte(tc.in))
		if (err == nil) != tc.good {
			t.Errorf("decodeFrame(%.120s) = %v, want good=%v", tc.in, err, tc.good)
		}
		if err != nil && !errors.Is(err, errProtocol) {
			t.Errorf("decodeFrame(%.120s): %v is not a protocol error", tc.in, err)
		}
	}
}

func TestSealOpen(t *testing.T) {
	hubKey, peerKey, k := fixedKeys()
	f, err := k.seal(hubKey, typeCommand, 5, Command{ID: "a<1>", Name: "shutdown"})
	if err != nil {
		t.Fatal(err)
	}
	// On the wire and back, the payload keeps its bytes.
	g, err := decodeFrame(encodeFrame(f))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.Payload, f.Payload) {
		t.Fatalf("payload %s became %s", f.Payload, g.Payload)
	}
	if err := k.open(g, k.hubPub, 4, typeCommand); err != nil {
		t.Fatalf("open a good frame: %v", err)
	}

	other := k
	other.session = bytes.Repeat([]byte{9}, sessionSize)
	otherNonce := k
	otherNonce.nonceP = bytes.Repeat([]byte{9}, nonceSize)
	otherPeer := k
	otherPeer.peer = "agent_other"
	for name, tc := range map[string]struct {
		k       keys
		f       func(*frame)
		pub     ed25519.PublicKey
		last    uint64
		allowed string
	}{
		"replayed (same seq)":   {k, nil, k.hubPub, 5, typeCommand},
		"replayed (older seq)":  {k, nil, k.hubPub, 9, typeCommand},
		"another session":       {other, nil, k.hubPub, 0, typeCommand},
		"session id rewritten":  {other, func(f *frame) { f.Session = other.session }, k.hubPub, 0, typeCommand},
		"other nonces":          {otherNonce, nil, k.hubPub, 0, typeCommand},
		"another peer":          {otherPeer, nil, k.hubPub, 0, typeCommand},
		"signed by the peer":    {k, nil, k.peerPub, 0, typeCommand},
		"seq raised":            {k, func(f *frame) { f.Seq = 6 }, k.hubPub, 5, typeCommand},
		"payload changed":       {k, func(f *frame) { f.Payload = bytes.Replace(f.Payload, []byte("shutdown"), []byte("reboot"), 1) }, k.hubPub, 0, typeCommand},
		"payload reformatted":   {k, func(f *frame) { f.Payload = append([]byte(" "), f.Payload...) }, k.hubPub, 0, typeCommand},
		"type changed":          {k, func(f *frame) { f.Type = typeResult }, k.hubPub, 0, typeResult},
		"type not allowed here": {k, nil, k.hubPub, 0, typeResult},
	} {
		g, _ := decodeFrame(encodeFrame(f))
		if tc.f != nil {
			tc.f(g)
		}
		if err := tc.k.open(g, tc.pub, tc.last, tc.allowed); !errors.Is(err, errProtocol) {
			t.Errorf("%s: open = %v, want a protocol violation", name, err)
		}
	}

	// The peer's signature on a result does not pass for a command, nor
	// the handshake signatures for each other.
	r, _ := k.seal(peerKey, typeResult, 1, Result{CommandID: "a", OK: true})
	r.Type = typeCommand
	if k.open(r, k.peerPub, 0, typeCommand) == nil {
		t.Error("a result passed as a command")
	}
	hs := ed25519.Sign(hubKey, k.handshakeInput("hub-challenge"))
	if ed25519.Verify(k.hubPub, k.handshakeInput("peer-auth"), hs) {
		t.Error("a hub signature passed as a peer's")
	}
}
