package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEvents(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		env  map[string]string
		want Events
		err  string
	}{
		{name: "off", want: Events{Retries: DefaultEventRetries, RetryMax: DefaultEventRetryMax, Queue: DefaultEventQueue}},
		{name: "file", doc: "events: {sink: 'http://broker.local/home/default', retries: 2, retry_max: 5s, queue: 50}\n",
			want: Events{Sink: "http://broker.local/home/default", Retries: 2, RetryMax: 5 * time.Second, Queue: 50}},
		{name: "K_SINK from a SinkBinding", env: map[string]string{"K_SINK": "http://broker-ingress.knative-eventing.svc.cluster.local/moonwake/default"},
			want: Events{Sink: "http://broker-ingress.knative-eventing.svc.cluster.local/moonwake/default", Retries: DefaultEventRetries, RetryMax: DefaultEventRetryMax, Queue: DefaultEventQueue}},
		{name: "the file's sink wins over K_SINK", doc: "events: {sink: 'https://a.example'}\n", env: map[string]string{"K_SINK": "http://b.example"},
			want: Events{Sink: "https://a.example", Retries: DefaultEventRetries, RetryMax: DefaultEventRetryMax, Queue: DefaultEventQueue}},
		{name: "MOONWAKE_EVENTS_SINK wins over both", doc: "events: {sink: 'https://a.example'}\n", env: map[string]string{"K_SINK": "http://b.example", "MOONWAKE_EVENTS_SINK": "http://c.example", "MOONWAKE_EVENTS_RETRIES": "-1"},
			want: Events{Sink: "http://c.example", Retries: -1, RetryMax: DefaultEventRetryMax, Queue: DefaultEventQueue}},
		{name: "not a URL", doc: "events: {sink: 'broker:80'}\n", err: "events.sink"},
		{name: "retries", doc: "events: {sink: 'http://a', retries: 1000}\n", err: "events.retries"},
		{name: "retry_max", doc: "events: {sink: 'http://a', retry_max: 1ms}\n", err: "events.retry_max"},
		{name: "queue", doc: "events: {sink: 'http://a', queue: -3}\n", err: "events.queue"},
		{name: "retries in the environment", env: map[string]string{"MOONWAKE_EVENTS_RETRIES": "many"}, err: "MOONWAKE_EVENTS_RETRIES"},
		{name: "typo", doc: "events: {snk: 'http://a'}\n", err: "snk"},
		{name: "extensions and K_CE_OVERRIDES", doc: "events: {sink: 'http://a', extensions: {cluster: home, site: attic}}\n",
			env:  map[string]string{"K_CE_OVERRIDES": `{"extensions":{"site":"cellar","ns":"moonwake"}}`},
			want: Events{Sink: "http://a", Retries: DefaultEventRetries, RetryMax: DefaultEventRetryMax, Queue: DefaultEventQueue, Extensions: map[string]string{"cluster": "home", "site": "cellar", "ns": "moonwake"}}},
		{name: "bad K_CE_OVERRIDES", env: map[string]string{"K_CE_OVERRIDES": `{"extensions":["x"]}`}, err: "K_CE_OVERRIDES"},
		{name: "reserved extension", doc: "events: {extensions: {subject: pc}}\n", err: "events.extensions"},
		{name: "moonwake's extension", doc: "events: {extensions: {moonwakeseq: '1'}}\n", err: "events.extensions"},
		{name: "extension name", doc: "events: {extensions: {My-Ext: x}}\n", err: "events.extensions"},
	}
	for _, tc := range cases {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, func(k string) string { return tc.env[k] })
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error about %s", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(c.Events, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, c.Events, tc.want)
		}
	}
}
