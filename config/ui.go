package config

// UI configures the web app served by the hub.
type UI struct{}

func (u *UI) applyEnv(getenv func(string) string) error { return nil }

func (u *UI) validate() error { return nil }
