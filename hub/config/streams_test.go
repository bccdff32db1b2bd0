package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEventStreams(t *testing.T) {
	cases := []struct {
		doc string
		env map[string]string
		max int
		err string
	}{
		{doc: "", max: DefaultEventStreams},
		{doc: "event_streams: {max: 1000}\n", max: 1000},
		{doc: "event_streams: {max: 1000}\n", env: map[string]string{"MOONWAKE_EVENT_STREAMS_MAX": "2000"}, max: 2000},
		{doc: "event_streams: {max: 0}\n", max: DefaultEventStreams},
		{doc: "event_streams: {max: -1}\n", err: "event_streams.max -1: want between 1 and 10000"},
		{doc: "event_streams: {max: 10001}\n", err: "event_streams.max 10001: want between 1 and 10000"},
		{doc: "", env: map[string]string{"MOONWAKE_EVENT_STREAMS_MAX": "many"}, err: `MOONWAKE_EVENT_STREAMS_MAX="many": not an integer`},
		{doc: "event_streams: {per_token: 9}\n", err: "field per_token not found"},
	}
	for _, tc := range cases {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, func(k string) string { return tc.env[k] })
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q %v: %v, want an error with %q", tc.doc, tc.env, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%q %v: %v", tc.doc, tc.env, err)
		case tc.err == "" && c.EventStreams.Max != tc.max:
			t.Errorf("%q %v: max %d, want %d", tc.doc, tc.env, c.EventStreams.Max, tc.max)
		}
	}
}
