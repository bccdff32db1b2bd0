package uplink

import (
	"context"
	"strings"
	"testing"

	"github.com/moonwake/moonwake"
)

// TestRequestReply has the agent ask the hub for a power action; the hub,
// answering it, sends the agent a command and waits for its result (as
// the power service does): the reply comes after the command's result,
// on the same link, with nothing stuck.
func TestRequestReply(t *testing.T) {
	var got []Request
	var h *hub
	h = newHub(t, &MemoryStore{}, newKey(t), func(s *Server) {
		s.OnRequest = func(ctx context.Context, p Peer, r Request) Result {
			got = append(got, r)
			res, err := h.Send(ctx, p.ID, Command{ID: "act1", Name: r.Name})
			if err != nil || !res.OK {
				return Result{Error: "the agent did not take it"}
			}
			return Result{OK: true, Detail: p.Machine + ": " + res.Detail}
		}
	})
	id, key := h.addAgent(t)
	var e executor
	c := client(t, h.http.URL, id, key, pub(h.key), &e)

	// Down: said at once.
	if _, err := c.Request(t.Context(), Request{Name: "shutdown", From: RequestFromSunshine}); moonwake.ErrorCode(err) != moonwake.EUnavailable {
		t.Fatalf("Request with the link down: %v", err)
	}
	start(t, c)
	eventually(t, "the agent's link", func() bool { return h.Connected(id) && linked(c) })

	r, err := c.Request(t.Context(), Request{ID: "r1", Name: "shutdown", From: RequestFromSunshine, App: "Shut down PC"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.CommandID != "r1" || r.Detail != "pc: will shutdown" {
		t.Fatalf("reply %+v", r)
	}
	if len(got) != 1 || got[0].App != "Shut down PC" || got[0].From != RequestFromSunshine {
		t.Fatalf("the hub got %+v", got)
	}
	eventually(t, "the command carried out", func() bool { return len(e.executed()) == 1 })

	// A refusal is a reply, not an error.
	r, err = c.Request(t.Context(), Request{Name: "format-c", From: RequestFromSunshine})
	if err != nil || r.OK || r.Error == "" {
		t.Fatalf("refused request: %+v %v", r, err)
	}
	if _, err := c.Request(t.Context(), Request{Name: "sleep", App: strings.Repeat("x", MaxRequestApp+1)}); moonwake.ErrorCode(err) != moonwake.EInvalid {
		t.Fatalf("an overlong app title: %v", err)
	}
}

// TestRequestWithoutHandler: a hub that takes no requests says so.
func TestRequestWithoutHandler(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	id, key := h.addAgent(t)
	c := client(t, h.http.URL, id, key, pub(h.key), nil)
	start(t, c)
	eventually(t, "the agent's link", func() bool { return h.Connected(id) && linked(c) })
	r, err := c.Request(t.Context(), Request{Name: "sleep", From: RequestFromSunshine})
	if err != nil || r.OK || !strings.Contains(r.Error, "no requests") {
		t.Fatalf("reply %+v %v", r, err)
	}
}

// linked reports whether c has a session up, as its side sees it.
func linked(c *Client) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil
}
