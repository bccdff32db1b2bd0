package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Events sends what happens (power-state changes, actions started,
// succeeded and failed) as CloudEvents to a sink over HTTP.
type Events struct {
	// Sink is the URL the CloudEvents are POSTed to. Empty: K_SINK, which
	// a Knative SinkBinding injects; neither: no events are sent.
	Sink string `yaml:"sink"`
	// Retries is how many times a delivery the sink refused or did not
	// answer is tried again, with backoff (default 5; 0 keeps the default,
	// -1 never retries).
	Retries int `yaml:"retries"`
	// RetryMax is the longest wait between two tries (default 30s).
	RetryMax time.Duration `yaml:"retry_max"`
	// Queue is how many events wait for the sink at most (default 1000);
	// past it the oldest are dropped, counted and logged.
	Queue int `yaml:"queue"`
	// Extensions are CloudEvents extension attributes added to every
	// event, such as a cluster's name; a SinkBinding's ceOverrides
	// (K_CE_OVERRIDES) add to them.
	Extensions map[string]string `yaml:"extensions"`
}

// Default bounds of CloudEvents delivery.
const (
	DefaultEventRetries  = 5
	DefaultEventRetryMax = 30 * time.Second
	DefaultEventQueue    = 1000
)

// Enabled reports whether events go to a sink.
func (e Events) Enabled() bool { return e.Sink != "" }

func (e *Events) applyEnv(getenv func(string) string) error {
	if v := getenv("MOONWAKE_EVENTS_SINK"); v != "" {
		e.Sink = v
	}
	if e.Sink == "" {
		e.Sink = getenv("K_SINK") // a Knative SinkBinding's
	}
	if v := getenv("K_CE_OVERRIDES"); v != "" {
		// {"extensions": {"name": "value"}}, from the SinkBinding's
		// spec.ceOverrides.
		var o struct {
			Extensions map[string]string `json:"extensions"`
		}
		if err := json.Unmarshal([]byte(v), &o); err != nil {
			return fmt.Errorf("K_CE_OVERRIDES: want {\"extensions\": {\"name\": \"value\"}}: %v", err)
		}
		if len(o.Extensions) > 0 && e.Extensions == nil {
			e.Extensions = map[string]string{}
		}
		maps.Copy(e.Extensions, o.Extensions)
	}
	if v := getenv("MOONWAKE_EVENTS_RETRIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("MOONWAKE_EVENTS_RETRIES=%q: not an integer", v)
		}
		e.Retries = n
	}
	return nil
}

// validate checks the sink and fills in the default bounds.
func (e *Events) validate() error {
	if e.Sink != "" {
		u, err := url.Parse(e.Sink)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("events.sink %q: want an http or https URL, such as http://broker-ingress.knative-eventing.svc.cluster.local/home/default", e.Sink)
		}
	}
	switch {
	case e.Retries == 0:
		e.Retries = DefaultEventRetries
	case e.Retries < -1 || e.Retries > 100:
		return fmt.Errorf("events.retries %d: want -1 (never), 0 (default %d) or up to 100", e.Retries, DefaultEventRetries)
	}
	if e.RetryMax == 0 {
		e.RetryMax = DefaultEventRetryMax
	} else if e.RetryMax < 10*time.Millisecond || e.RetryMax > time.Hour {
		return fmt.Errorf("events.retry_max %s: want between 10ms and 1h", e.RetryMax)
	}
	for name := range e.Extensions {
		if !validExtension(name) {
			return fmt.Errorf("events.extensions: %q: want 1 to 20 characters a-z, 0-9, not a CloudEvents attribute nor moonwake's own", name)
		}
	}
	if e.Queue == 0 {
		e.Queue = DefaultEventQueue
	} else if e.Queue < 1 || e.Queue > 100000 {
		return fmt.Errorf("events.queue %d: want between 1 and 100000", e.Queue)
	}
	return nil
}

// validExtension reports whether name may be an extension attribute the
// hub adds: a-z and 0-9 (the spec's rule), at most 20 characters (its
// advice), and neither a context attribute nor one the hub sets.
func validExtension(name string) bool {
	if len(name) == 0 || len(name) > 20 || strings.HasPrefix(name, "moonwake") {
		return false
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	switch name {
	case "id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time", "data", "data_base64":
		return false
	}
	return true
}
