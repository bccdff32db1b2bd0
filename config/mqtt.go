package config

// MQTT configures the bridge to Home Assistant over an MQTT broker.
type MQTT struct{}

func (m *MQTT) applyEnv(getenv func(string) string) error { return nil }

func (m *MQTT) validate() error { return nil }
