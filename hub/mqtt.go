package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/moonwake/moonwake/hub/hass"
)

// openMQTT prepares the MQTT bridge to Home Assistant, when one is
// configured. It does not connect: Serve starts it, and it keeps trying
// until the broker answers, so a broker that is down does not stop the hub.
func (h *Hub) openMQTT(ctx context.Context) error {
	c := h.cfg.MQTT
	if !c.Enabled() {
		return nil
	}
	tlsConfig, err := c.TLS()
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	h.mqtt, err = hass.New(hass.Options{
		Broker: c.Broker, Username: c.Username, Password: c.Password, ClientID: c.ClientID,
		HubID:       mqttHubID(h.agents.fingerprint),
		TopicPrefix: c.TopicPrefix, DiscoveryPrefix: c.DiscoveryPrefix, PublicURL: h.cfg.PublicURL,
		Scope: c.Scope(), TLS: tlsConfig,
		Machines: h.machines, Monitor: h.monitor, Power: h.power, Actions: h.actions, Events: h.events,
		Logger: h.log,
	})
	return err
}

// runMQTT starts the bridge, which runs until ctx ends.
func (h *Hub) runMQTT(ctx context.Context) {
	if h.mqtt == nil {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.mqtt.Run(ctx)
	}()
}

// closeMQTT disconnects the bridge, saying offline first.
func (h *Hub) closeMQTT() error {
	if h.mqtt == nil {
		return nil
	}
	return h.mqtt.Close()
}

// mqttHubID is the hub's identity on MQTT, from its key's fingerprint:
// stable as long as the data directory keeps the key, and different for
// every hub, so hubs sharing a broker keep their entities apart.
func mqttHubID(fingerprint string) string {
	sum := sha256.Sum256([]byte(fingerprint))
	return hex.EncodeToString(sum[:5])
}
