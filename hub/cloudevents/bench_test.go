package cloudevents_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/cloudevents"
	"github.com/moonwake/moonwake/hub/events"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// BenchmarkPublish measures what a subscribed Sender adds to the broker's
// Publish, which every action calls: with a sink that answers at once, and
// with one that never answers (the queue is full and drops).
func BenchmarkPublish(b *testing.B) {
	action := &moonwake.Action{ID: "act_1", Kind: moonwake.ActionWake, Machine: "pc", Status: moonwake.StatusRunning,
		CreatedAt: time.Now().UTC(), Steps: []moonwake.Step{{Kind: "send", Via: "udp", Target: "192.168.1.255:9"}}}
	for _, c := range []struct {
		name   string
		sender bool
		stuck  bool
	}{{"no sender", false, false}, {"sender, sink answers", true, false}, {"sender, sink stuck", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			db := sqlite.NewDB(b.TempDir() + "/db")
			if err := db.Open(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			br, err := events.NewBroker(context.Background(), sqlite.NewEventService(db), nil)
			if err != nil {
				b.Fatal(err)
			}
			release := make(chan struct{})
			sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c.stuck {
					<-release
				}
			}))
			defer sink.Close()
			defer close(release)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			if c.sender {
				s, err := cloudevents.New(cloudevents.Options{Sink: sink.URL, HubID: "bench", Events: br, Queue: 1000})
				if err != nil {
					b.Fatal(err)
				}
				go func() { s.Run(ctx); close(done) }()
			} else {
				close(done)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := br.Publish(moonwake.EventAction, "pc", action); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cancel()
			<-done
		})
	}
}
