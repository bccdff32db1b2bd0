package hub

import "context"

// openMQTT prepares the MQTT bridge to Home Assistant, when one is
// configured.
func (h *Hub) openMQTT(ctx context.Context) error { return nil }

// runMQTT starts the bridge, which runs until ctx ends.
func (h *Hub) runMQTT(ctx context.Context) {}

// closeMQTT disconnects the bridge, saying offline first.
func (h *Hub) closeMQTT() error { return nil }
