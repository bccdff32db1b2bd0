package config

import (
	"fmt"
	"strconv"
)

// EventStreams bounds the API's event streams (GET /api/v1/events). Each
// open stream holds a goroutine, a connection's buffers and a queue of
// events, about 30 KiB in all (docs/performance.md), so the cap is a
// bound on memory and on what one careless or hostile client can hold.
type EventStreams struct {
	// Max is how many may be open at once over all tokens (default 256).
	// Each token may hold 8 and each client address 16, whatever Max.
	Max int `yaml:"max"`
}

// DefaultEventStreams is the default of event_streams.max.
const DefaultEventStreams = 256

// MaxEventStreams is the highest event_streams.max accepted.
const MaxEventStreams = 10000

func (e *EventStreams) applyEnv(getenv func(string) string) error {
	if v := getenv("MOONWAKE_EVENT_STREAMS_MAX"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("MOONWAKE_EVENT_STREAMS_MAX=%q: not an integer", v)
		}
		e.Max = n
	}
	return nil
}

func (e *EventStreams) validate() error {
	if e.Max == 0 {
		e.Max = DefaultEventStreams
	}
	if e.Max < 1 || e.Max > MaxEventStreams {
		return fmt.Errorf("event_streams.max %d: want between 1 and %d", e.Max, MaxEventStreams)
	}
	return nil
}
