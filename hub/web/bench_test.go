package web

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/events"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// benchServer is a web app on real SQLite with n machines, half of them
// on, each with a finished wake in its history, and a signed-in session.
// It is served by calling its handler, so a benchmark measures the app,
// not a network.
type benchServer struct {
	srv     *Server
	h       http.Handler
	broker  *events.Broker
	machine string       // the name of a machine that is on
	cookie  *http.Cookie // the session
}

func newBenchServer(b *testing.B, n int) *benchServer {
	b.Helper()
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(b.TempDir(), "moonwake.db"))
	if err := db.Open(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	machines, tokens := sqlite.NewMachineService(db), sqlite.NewTokenService(db)
	actions := sqlite.NewActionService(db)
	broker, err := events.NewBroker(ctx, sqlite.NewEventService(db), nil)
	if err != nil {
		b.Fatal(err)
	}
	admin, err := tokens.CreateToken(ctx, &moonwake.Token{Name: "admin", Admin: true})
	if err != nil {
		b.Fatal(err)
	}
	monitor := newPowerStates()
	since := time.Now().Add(-time.Hour).UTC()
	actx := moonwake.WithActor(ctx, moonwake.Actor{Kind: "token", Name: "admin"})
	for i := range n {
		m := &moonwake.Machine{Name: fmt.Sprintf("pc-%02d", i), MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256),
			Host: fmt.Sprintf("10.0.%d.%d", i/200, i%200+2), Tags: []string{"gaming"}}
		if err := machines.CreateMachine(ctx, m); err != nil {
			b.Fatal(err)
		}
		st := moonwake.StateOff
		if i%2 == 0 {
			st = moonwake.StateOn
		}
		monitor.set(m.Name, moonwake.PowerInfo{State: st, Since: since, Reason: "tcp/22 open"})
		a := &moonwake.Action{Kind: moonwake.ActionWake, Machine: m.Name, MAC: m.MAC}
		if err := actions.CreateAction(actx, a); err != nil {
			b.Fatal(err)
		}
	}
	s := &Server{
		Machines: machines, Tokens: tokens, Actions: actions, Sessions: sqlite.NewSessionService(db, time.Hour),
		Power: newPowerRecorder(broker).service(), Events: broker, Monitor: monitor.monitor(),
		KeepAwake: newKeepAwakes().service(), SessionTTL: time.Hour,
		Policies: func(*moonwake.Machine) []string {
			return []string{"Wakes at 18:00 Mon–Fri (cron 0 18 * * 1-5, Europe/Paris)"}
		},
		heartbeat: time.Hour,
	}
	bs := &benchServer{srv: s, h: s.Handler(), broker: broker, machine: "pc-00"}
	b.Cleanup(s.CloseStreams)

	// Sign in as a browser does the first time: /setup with the admin token.
	form := url.Values{"token": {admin}, "password": {"correct horse battery"}, "confirm": {"correct horse battery"}}
	req := httptest.NewRequest(http.MethodPost, "/setup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	bs.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Value != "" {
			bs.cookie = c
		}
	}
	if rec.Code != http.StatusSeeOther || bs.cookie == nil {
		b.Fatalf("setup: %d, cookies %v\n%s", rec.Code, rec.Result().Cookies(), rec.Body)
	}
	return bs
}

// get serves GET path with the session and fails unless it is 200.
func (bs *benchServer) get(b *testing.B, path string) int {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.AddCookie(bs.cookie)
	rec := httptest.NewRecorder()
	bs.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d\n%s", path, rec.Code, rec.Body)
	}
	return rec.Body.Len()
}

// BenchmarkDashboard renders the dashboard (GET /) for a signed-in
// session, through the app's handler: session check, machine list, one
// state, last action and keep-awake look-up per machine, template.
func BenchmarkDashboard(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run("machines="+strconv.Itoa(n), func(b *testing.B) {
			bs := newBenchServer(b, n)
			b.ReportAllocs()
			var size int
			for b.Loop() {
				size = bs.get(b, "/")
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}

// BenchmarkMachinePage renders one machine's page (GET /machines/{name})
// for a signed-in session: its state, history, actions, keep-awake and
// policies.
func BenchmarkMachinePage(b *testing.B) {
	bs := newBenchServer(b, 50)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		size = bs.get(b, "/machines/"+bs.machine)
	}
	b.ReportMetric(float64(size), "bytes/page")
}

// BenchmarkEventsFanout publishes one event to N browsers holding GET
// /events open over loopback HTTP, and waits until every one has read it:
// ns/op is the time from publishing to the last delivery, and
// ns/delivery that divided by N.
func BenchmarkEventsFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			bs := newBenchServer(b, 1)
			ts := httptest.NewServer(bs.h)
			defer ts.Close()
			defer bs.srv.CloseStreams()
			got := make(chan int64, n)
			for range n {
				req, err := http.NewRequest(http.MethodGet, ts.URL+"/events", nil)
				if err != nil {
					b.Fatal(err)
				}
				req.AddCookie(bs.cookie)
				res, err := ts.Client().Do(req)
				if err != nil {
					b.Fatal(err)
				}
				if res.StatusCode != http.StatusOK {
					b.Fatalf("GET /events: %s", res.Status)
				}
				r := bufio.NewReader(res.Body)
				if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") {
					b.Fatalf("GET /events: first line %q, %v", line, err) // subscribed once it is written
				}
				go func() {
					defer res.Body.Close()
					for {
						line, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if id, ok := strings.CutPrefix(line, "id: "); ok {
							seq, _ := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
							got <- seq
						}
					}
				}()
			}
			sc := moonwake.StateChange{Machine: bs.machine, From: moonwake.StateOff, To: moonwake.StateOn, Reason: "tcp/22 open"}
			b.ReportAllocs()
			for b.Loop() {
				e, err := bs.broker.Publish(moonwake.EventState, bs.machine, &sc)
				if err != nil {
					b.Fatal(err)
				}
				for range n {
					if seq := <-got; seq != e.Seq {
						b.Fatalf("subscriber read event %d, want %d (fell behind?)", seq, e.Seq)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
