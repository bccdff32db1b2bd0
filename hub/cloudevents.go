package hub

import (
	"net/url"

	"github.com/moonwake/moonwake/hub/cloudevents"
)

// openCloudEvents prepares the CloudEvents sender when events.sink (or
// K_SINK) names a sink; nil when none does. Serve runs it.
func (h *Hub) openCloudEvents() (*cloudevents.Sender, error) {
	c := h.cfg.Events
	if !c.Enabled() {
		return nil, nil
	}
	s, err := cloudevents.New(cloudevents.Options{
		Sink: c.Sink, HubID: mqttHubID(h.remote.Fingerprint()), Events: h.events,
		Retries: c.Retries, RetryMax: c.RetryMax, Queue: c.Queue, Extensions: c.Extensions,
		Logger: h.log,
	})
	if err != nil {
		return nil, err
	}
	h.log.Info("sending CloudEvents", "sink", redactURL(c.Sink))
	return s, nil
}

// redactURL is u for the log: without a password or a query, either of
// which may hold a secret.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}
