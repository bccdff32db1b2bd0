// Package uplink is the connection between the hub and the programs that act
// for it on a LAN: agents on target PCs now, relays later. The agent or relay
// (the peer) dials the hub, so it works behind NAT and through an HTTPS
// ingress, and keeps the uplink up with exponential backoff and jitter. The
// hub sends commands over it and gets signed results and periodic reports
// back.
//
// # Transport
//
// A WebSocket (subprotocol "moonwake.link.v1") on GET /api/v1/link of the
// hub's own HTTP(S) port. Reverse proxies such as Traefik or nginx pass
// WebSocket upgrades through, and the upgrade is an ordinary request until
// then, so the hub needs no second port. Every message is one JSON text
// frame of at most MaxFrame bytes with a version field "v" (1). Both sides
// ping every 10 s and close an uplink whose ping is not answered within 10 s, so
// a dead uplink is noticed within about 20 s. The hub can ask sooner
// (Server.Check, a ping with its own short deadline) without closing it.
//
// # Identity and pairing
//
// Every party has an Ed25519 key pair. The hub issues a one-time pairing
// code for a machine (NewPairing: 12 base32 characters, 60 bits, valid 10
// minutes, stored only as a SHA-256 hash, single use). The peer generates its
// key pair, and POSTs the code and its public key to /api/v1/agents/pair
// (Pair); the hub consumes the code, registers the public key under a new
// peer id, and answers with that id, the machine name and the hub's public
// key, which the peer pins. The private keys never leave their owners; after
// pairing nothing secret travels on the network. Whoever can intercept the
// pairing request itself (plain HTTP, active attacker) could substitute the
// hub key: pair over HTTPS, or compare Fingerprint of the hub key as shown
// on both sides.
//
// # Handshake
//
// Each uplink session starts with a mutual challenge-response:
//
//	peer → hub   hello     {purpose, peer id, nonce_p (32 random bytes)}
//	hub  → peer  challenge {session (16 random bytes), nonce_h (32), sig_h}
//	peer → hub   auth      {sig_p}
//	hub  → peer  welcome   {session}
//
// The transcript T is the length-prefixed concatenation of purpose, peer id,
// the peer's public key, the hub's public key, nonce_p, nonce_h and session.
// sig_h = Sign(hub key, "moonwake-link-v1\0hub-challenge\0" ‖ T), checked by
// the peer against the pinned hub key; sig_p = Sign(peer key,
// "moonwake-link-v1\0peer-auth\0" ‖ T), checked by the hub against the key
// its KeyStore has for that peer id. The labels differ, so neither signature
// can be reflected as the other; both nonces are fresh, so neither can be
// replayed into another session. A failure on either side ends the
// connection with an "error" frame that says no more than "authentication
// failed".
//
// # Messages
//
// After the handshake the hub sends "command" frames and the peer sends
// "result", "outcome" and "report" frames. Each carries the session id, a
// sequence number and a JSON payload, and is signed by its sender:
//
//	sig = Sign(key, "moonwake-link-v1\0msg:" ‖ type ‖ "\0" ‖
//	           lp(purpose) ‖ lp(peer id) ‖ lp(session) ‖ lp(nonce_p) ‖ lp(nonce_h) ‖
//	           lp(seq as 8 bytes big-endian) ‖ lp(payload bytes))
//
// where lp(x) is x preceded by its length as 4 bytes big-endian. Each
// direction numbers its frames from 1 and the receiver accepts only a
// sequence number greater than the last it accepted. A frame with another
// session id, a bad signature or an old sequence number ends the session
// without being acted on; so a captured command replayed into the same
// session (old seq) or into a new one (other nonces and session) does
// nothing.
//
// An agent may also send a "request": a power action on its own machine
// that a program on the PC asked for (a Sunshine app). The hub answers each
// with a "reply" frame, signed and numbered as its commands are, after it
// has started the action (which may mean sending the agent a command
// first).
//
// A command is acknowledged before it takes effect: the peer sends its
// result ("accepted, will run …" or the refusal), then carries the command
// out, then sends an "outcome" (best effort: a PC that powers off may not
// get it out).
package uplink
