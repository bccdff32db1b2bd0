package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/moonwake/moonwake"
)

// ceSink is a real HTTP server that collects the CloudEvents the hub
// sends, read with sdk-go.
type ceSink struct {
	*httptest.Server
	mu  sync.Mutex
	got []*event.Event
}

func newCESink(t *testing.T) *ceSink {
	s := &ceSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			t.Errorf("the hub sent something that is not a CloudEvent: %v", err)
			w.WriteHeader(400)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, ev)
		s.mu.Unlock()
		w.WriteHeader(202)
	}))
	t.Cleanup(s.Close)
	return s
}

// waitFor returns the first event with that type and moonwakeaction, or
// fails the test after a generous time.
func (s *ceSink) waitFor(t *testing.T, typ, action string) *event.Event {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s.mu.Lock()
		for _, ev := range s.got {
			if ev.Type() == typ && ev.Extensions()["moonwakeaction"] == action {
				s.mu.Unlock()
				return ev
			}
		}
		s.mu.Unlock()
	}
	t.Fatalf("the sink never got %s of %s", typ, action)
	return nil
}

// ceRequest is a CloudEvent for the hub: binary mode unless structured.
type ceRequest struct {
	typ, subject, id, source string
	structured               bool
}

// post sends c to the hub's CloudEvents route with the token in the URL
// (query) or in the Authorization header (bearer).
func (th *testHub) postEvent(c ceRequest, query, bearer string) answer {
	th.t.Helper()
	ev := event.New()
	ev.SetType(c.typ)
	ev.SetSubject(c.subject)
	ev.SetID(c.id)
	ev.SetSource(c.source)
	url := th.URL + "/api/v1/cloudevents"
	if query != "" {
		url += "?token=" + query
	}
	var req *http.Request
	var err error
	if c.structured {
		b, merr := json.Marshal(ev)
		if merr != nil {
			th.t.Fatal(merr)
		}
		req, err = http.NewRequest("POST", url, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/cloudevents+json")
	} else {
		req, err = cehttp.NewHTTPRequestFromEvent(context.Background(), url, ev)
	}
	if err != nil {
		th.t.Fatal(err)
	}
	return th.send(req, bearer)
}

func (th *testHub) send(req *http.Request, bearer string) answer {
	th.t.Helper()
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		th.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

// ceToken creates a CloudEvents token through the API.
func (th *testHub) ceToken(name string, machines, actions []string) string {
	th.t.Helper()
	var nt struct {
		Token  moonwake.Token
		Secret string
	}
	th.must(201, "POST", "/api/v1/tokens", th.Admin, map[string]any{"name": name, "machines": machines, "actions": actions, "cloudevents": true}).decode(th.t, &nt)
	if !nt.Token.CloudEvents || nt.Token.Scope() != "cloudevents: "+strings.Join(actions, ", ")+" on "+strings.Join(machines, ", ") {
		th.t.Fatalf("token %+v", nt.Token)
	}
	return nt.Secret
}

// countActions returns how many actions the audit log holds.
func (th *testHub) countActions() int {
	th.t.Helper()
	var list struct{ Actions []moonwake.Action }
	th.must(200, "GET", "/api/v1/actions", th.Admin, nil).decode(th.t, &list)
	return len(list.Actions)
}

// A CloudEvent asking for an action runs it as the route of that action
// would, once per source and id, and tells the sink about it.
func TestCloudEventsInAndOut(t *testing.T) {
	sink := newCESink(t)
	cfg := newConfig(t)
	cfg.Events.Sink = sink.URL
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:41", r, nil)
	th.addMachine("nas", "aa:bb:cc:dd:ee:42", r, nil)
	trigger := th.ceToken("trigger", []string{"pc"}, []string{"shutdown", "wake"})

	// A Trigger's delivery, binary mode, the token in the subscriber URL.
	wake := ceRequest{typ: "dev.moonwake.machine.wake.requested", subject: "pc", id: "e-1", source: "/apis/v1/namespaces/home/pingsources/morning"}
	a := th.postEvent(wake, trigger, "")
	if a.Status != 202 {
		t.Fatalf("wake event: %d %s", a.Status, a.Body)
	}
	var act moonwake.Action
	a.decode(t, &act)
	if act.Kind != moonwake.ActionWake || act.Machine != "pc" || act.Actor.Kind != "cloudevent" ||
		!strings.Contains(act.Actor.Name, "e-1") || !strings.Contains(act.Actor.Name, wake.source) || act.Actor.TokenID == "" {
		t.Fatalf("action %+v", act)
	}
	wantPacket(t, r.next(5*time.Second), "aa:bb:cc:dd:ee:41", "")
	th.waitDone(act.ID)
	// The last burst may still be on its way out: wait for quiet.
	for r.next(500*time.Millisecond) != nil {
	}
	n := th.countActions()

	// Delivered again: the same action, nothing sent.
	again := th.postEvent(wake, trigger, "")
	var dup moonwake.Action
	again.decode(t, &dup)
	if again.Status != 200 || dup.ID != act.ID || again.Header.Get("Moonwake-Duplicate") != "true" {
		t.Fatalf("redelivery: %d %s", again.Status, again.Body)
	}
	if p := r.next(300 * time.Millisecond); p != nil {
		t.Fatal("a redelivered event sent a packet")
	}
	if th.countActions() != n {
		t.Fatal("a redelivered event recorded an action")
	}

	// Structured mode, another id, an ordinary token in the header.
	phone := th.token("phone", []string{"pc"}, []string{"wake"}, false)
	wake2 := wake
	wake2.id, wake2.structured = "e-2", true
	a = th.postEvent(wake2, "", phone)
	if a.Status != 202 {
		t.Fatalf("structured wake event: %d %s", a.Status, a.Body)
	}
	var act2 moonwake.Action
	a.decode(t, &act2)
	if act2.ID == act.ID {
		t.Fatal("another event joined the first action")
	}
	th.waitDone(act2.ID)
	r.drain()

	// A shutdown the hub cannot do (no agent) fails, is recorded once,
	// and a redelivery answers with the failed action.
	down := ceRequest{typ: "dev.moonwake.machine.shutdown.requested", subject: "pc", id: "e-3", source: "/trigger"}
	a = th.postEvent(down, trigger, "")
	var failed struct {
		Code   string
		Action moonwake.Action
	}
	a.decode(t, &failed)
	if a.Status != 503 || failed.Action.Status != moonwake.StatusFailed {
		t.Fatalf("shutdown event: %d %s", a.Status, a.Body)
	}
	n = th.countActions()
	a = th.postEvent(down, trigger, "")
	a.decode(t, &dup)
	if a.Status != 200 || dup.ID != failed.Action.ID || th.countActions() != n {
		t.Fatalf("redelivered shutdown: %d %s", a.Status, a.Body)
	}

	// Refused, and nothing done.
	for _, c := range []struct {
		name  string
		ev    ceRequest
		token string
		want  int
		says  string
	}{
		{"unknown type", ceRequest{typ: "dev.moonwake.machine.explode.requested", subject: "pc", id: "x-1", source: "/t"}, trigger, 400, "the hub acts on"},
		{"another family", ceRequest{typ: "com.example.object.created", subject: "pc", id: "x-2", source: "/t"}, trigger, 400, "the hub acts on"},
		{"no subject", ceRequest{typ: wake.typ, id: "x-3", source: "/t"}, trigger, 400, "subject"},
		{"subject not a name", ceRequest{typ: wake.typ, subject: "../pc", id: "x-4", source: "/t"}, trigger, 400, "not a machine name"},
		{"out of scope", ceRequest{typ: wake.typ, subject: "nas", id: "x-5", source: "/t"}, trigger, 403, "may not wake"},
		{"action out of scope", ceRequest{typ: "dev.moonwake.machine.reboot.requested", subject: "pc", id: "x-6", source: "/t"}, trigger, 403, "may not reboot"},
		{"an admin token in the URL", ceRequest{typ: wake.typ, subject: "pc", id: "x-7", source: "/t"}, th.Admin, 403, "may not be given in the URL"},
	} {
		a := th.postEvent(c.ev, c.token, "")
		var e struct{ Error, Code string }
		if a.Status != c.want || json.Unmarshal(a.Body, &e) != nil || !strings.Contains(e.Error, c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.name, a.Status, a.Body, c.want, c.says)
		}
	}
	for _, c := range []struct {
		name, contentType, body string
		header                  map[string]string
	}{
		{"plain JSON", "application/json", `{"type":"dev.moonwake.machine.wake.requested"}`, nil},
		{"broken structured", "application/cloudevents+json", `{"specversion":"1.0",`, nil},
		{"structured without id", "application/cloudevents+json", `{"specversion":"1.0","type":"dev.moonwake.machine.wake.requested","source":"/t","subject":"pc"}`, nil},
		{"binary without source", "", "", map[string]string{"Ce-Specversion": "1.0", "Ce-Type": wake.typ, "Ce-Id": "y", "Ce-Subject": "pc"}},
		{"batch", "application/cloudevents-batch+json", `[]`, nil},
		{"unknown spec version", "", "", map[string]string{"Ce-Specversion": "0.1", "Ce-Type": wake.typ, "Ce-Id": "y", "Ce-Source": "/t", "Ce-Subject": "pc"}},
	} {
		req, _ := http.NewRequest("POST", th.URL+"/api/v1/cloudevents?token="+trigger, strings.NewReader(c.body))
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		a := th.send(req, "")
		var e struct{ Error, Code string }
		if a.Status != 400 || json.Unmarshal(a.Body, &e) != nil || e.Code != "invalid" || e.Error == "" {
			t.Errorf("%s: %d %s, want 400", c.name, a.Status, a.Body)
		}
	}
	if a := th.postEvent(ceRequest{typ: wake.typ, subject: "ghost", id: "x-8", source: "/t"}, "", th.Admin); a.Status != 404 {
		t.Errorf("no such machine: %d %s, want 404", a.Status, a.Body)
	}
	if th.countActions() != n {
		t.Fatal("a refused event recorded an action")
	}
	if p := r.next(200 * time.Millisecond); p != nil {
		t.Fatal("a refused event sent a packet")
	}

	// Out: the sink heard of the actions, with the ids the API uses.
	started := sink.waitFor(t, "dev.moonwake.action.started", act.ID)
	ended := sink.waitFor(t, "dev.moonwake.action.succeeded", act.ID)
	sink.waitFor(t, "dev.moonwake.action.failed", failed.Action.ID)
	for _, ev := range []*event.Event{started, ended} {
		if ev.Subject() != "pc" || !strings.HasPrefix(ev.Source(), "moonwake://") || !strings.HasSuffix(ev.Source(), "/machines/pc") {
			t.Errorf("%s: subject %q source %q", ev.Type(), ev.Subject(), ev.Source())
		}
		var got moonwake.Action
		if err := json.Unmarshal(ev.Data(), &got); err != nil || got.ID != act.ID {
			t.Errorf("%s: data %s", ev.Type(), ev.Data())
		}
	}
}

// A CloudEvents token works on its route only; a token in that route's URL
// must be a CloudEvents token.
func TestCloudEventsToken(t *testing.T) {
	th := startHub(t, newConfig(t))
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:43", r, nil)
	th.addMachine("other", "aa:bb:cc:dd:ee:44", r, nil)
	trigger := th.ceToken("trigger", []string{"pc"}, []string{"wake"})
	for _, rt := range routes {
		if rt.path == "/api/v1/cloudevents" {
			continue
		}
		a := th.do(rt.method, rt.path, trigger, rt.body)
		var e struct{ Error, Code string }
		if a.Status != 403 || json.Unmarshal(a.Body, &e) != nil || !strings.Contains(e.Error, "CloudEvents token") {
			t.Errorf("%s %s with a CloudEvents token: %d %s, want 403", rt.method, rt.path, a.Status, a.Body)
		}
	}
	if a := th.do("GET", "/wake?mac=aa:bb:cc:dd:ee:43&token="+trigger, "", nil); a.Status != 403 {
		t.Errorf("GET /wake?token= with a CloudEvents token: %d %s", a.Status, a.Body)
	}
	if r.next(200*time.Millisecond) != nil {
		t.Fatal("a CloudEvents token sent a packet off its route")
	}
	wake := ceRequest{typ: "dev.moonwake.machine.wake.requested", subject: "pc", id: "1", source: "/t"}
	scoped := th.token("phone", []string{"pc"}, []string{"wake"}, false)
	for _, c := range []struct {
		name, query, bearer string
		want                int
	}{
		{"no token", "", "", 401},
		{"wrong token in the URL", "mw_nope", "", 401},
		{"scoped token in the URL", scoped, "", 403},
		{"admin token in the URL", th.Admin, "", 403},
		{"extra parameter", trigger + "&wait=true", "", 400},
	} {
		if a := th.postEvent(wake, c.query, c.bearer); a.Status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, a.Status, a.Body, c.want)
		}
	}
	if r.next(200*time.Millisecond) != nil {
		t.Fatal("a refused event sent a packet")
	}
	// Admin-only creation, and no mixing of kinds.
	for _, in := range []map[string]any{
		{"name": "c2", "cloudevents": true, "admin": true},
		{"name": "c3", "cloudevents": true, "relay_enrol": true},
	} {
		if a := th.do("POST", "/api/v1/tokens", th.Admin, in); a.Status != 400 {
			t.Errorf("create %v: %d %s, want 400", in, a.Status, a.Body)
		}
	}
	if a := th.do("POST", "/api/v1/tokens", scoped, map[string]any{"name": "c4", "cloudevents": true}); a.Status != 403 {
		t.Errorf("a scoped token made a CloudEvents token: %d", a.Status)
	}
	// The bearer token of the same kind works too.
	if a := th.postEvent(wake, "", trigger); a.Status != 202 {
		t.Fatalf("CloudEvents token in the header: %d %s", a.Status, a.Body)
	}
}
