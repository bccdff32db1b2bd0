package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/moonwake/moonwake/hub/hass"
	"github.com/moonwake/moonwake/hub/httpapi"
)

// openMQTT prepares the MQTT bridge to Home Assistant, when one is
// configured; nil when none is. It does not connect: Serve starts it, and
// it keeps trying until the broker answers, so a broker that is down does
// not stop the hub.
func (h *Hub) openMQTT() (*hass.Bridge, error) {
	c := h.cfg.MQTT
	if !c.Enabled() {
		return nil, nil
	}
	tlsConfig, err := c.TLS()
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	b, err := hass.New(hass.Options{
		Broker: c.Broker, Username: c.Username, Password: c.Password, ClientID: c.ClientID,
		HubID:       mqttHubID(h.remote.Fingerprint()),
		TopicPrefix: c.TopicPrefix, DiscoveryPrefix: c.DiscoveryPrefix, PublicURL: h.cfg.PublicURL,
		Scope: c.Scope(), TLS: tlsConfig,
		Machines: h.machines, Monitor: h.monitor, Power: h.power, Actions: h.actions, Events: h.events,
		Groups: h.groups, GroupWakeStagger: httpapi.DefaultWakeStagger,
		Logger: h.log,
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// mqttHubID is the hub's identity on MQTT, from its key's fingerprint:
// stable as long as the data directory keeps the key, and different for
// every hub, so hubs sharing a broker keep their entities apart.
func mqttHubID(fingerprint string) string {
	sum := sha256.Sum256([]byte(fingerprint))
	return hex.EncodeToString(sum[:5])
}
