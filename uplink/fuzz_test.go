package uplink

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeFrame feeds arbitrary bytes to the decoder every frame from
// the network goes through. The seed corpus is in testdata/fuzz; the
// signed frames are added here because their signatures depend on keys.
func FuzzDecodeFrame(f *testing.F) {
	hubKey, peerKey, k := fixedKeys()
	for _, typ := range []string{typeCommand, typeResult, typeReport} {
		key := peerKey
		if typ == typeCommand {
			key = hubKey
		}
		fr, err := k.seal(key, typ, 3, Command{ID: "a1", Name: "shutdown"})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(encodeFrame(fr))
	}
	// An agent's cancel, and a countdown command.
	if fr, err := k.seal(peerKey, typeNotice, 3, Notice{Kind: NoticeCancel, Action: "act_1", How: CancelInput}); err == nil {
		f.Add(encodeFrame(fr))
	}
	if fr, err := k.seal(hubKey, typeCommand, 3, Command{ID: "act_1", Name: CmdCountdown,
		Args: json.RawMessage(`{"kind":"shutdown","until":"2026-12-04T22:00:00Z","by":"token phone"}`)}); err == nil {
		f.Add(encodeFrame(fr))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			if fr != nil {
				t.Fatal("a frame with an error")
			}
			return
		}
		// What is accepted encodes and decodes to the same frame.
		again, err := decodeFrame(encodeFrame(fr))
		if err != nil {
			t.Fatalf("re-encoded frame refused: %v", err)
		}
		if again.Type != fr.Type || again.Seq != fr.Seq || !bytes.Equal(again.Sig, fr.Sig) || !bytes.Equal(again.Session, fr.Session) {
			t.Fatalf("round trip changed the frame: %+v → %+v", fr, again)
		}
		var c1, c2 bytes.Buffer
		json.Compact(&c1, fr.Payload)
		json.Compact(&c2, again.Payload)
		if !bytes.Equal(c1.Bytes(), c2.Bytes()) {
			t.Fatalf("round trip changed the payload: %s → %s", fr.Payload, again.Payload)
		}
		// Only the three seeds carry a valid signature, and only where
		// their sequence number is new.
		for _, typ := range []string{typeCommand, typeResult, typeReport} {
			pub := k.peerPub
			if typ == typeCommand {
				pub = k.hubPub
			}
			if k.open(fr, pub, 3, typ) == nil {
				t.Fatalf("open accepted %s frame with seq %d after 3", fr.Type, fr.Seq)
			}
			if k.open(fr, pub, 2, typ) == nil && fr.Seq != 3 {
				t.Fatalf("open accepted a frame that was never signed: %s", b)
			}
		}
		var cmd Command
		decodePayload(fr.Payload, &cmd)
		var rep Report
		decodePayload(fr.Payload, &rep)
		var n Notice
		if decodePayload(fr.Payload, &n) == nil && validNotice(n) && n.Kind == NoticeCancel && (n.Action == "" || len(n.Action) > 64) {
			t.Fatalf("accepted a cancel notice out of bounds: %+v", n)
		}
		if cmd.Name == CmdCountdown {
			ParseCountdownArgs(cmd.Args)
		}
	})
}
