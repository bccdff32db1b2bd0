package main

import (
	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake/client"
)

// hubFlags are the flags of commands that talk to a hub's API.
type hubFlags struct {
	hub, token string
}

func (f *hubFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.hub, "hub", "", "hub `URL`, like https://wake.example.org (or MOONWAKE_HUB)")
	cmd.Flags().StringVar(&f.token, "token", "", "API token (or MOONWAKE_TOKEN; prefer the variable: flags show in ps)")
}

func (f *hubFlags) url(e *env) string {
	if f.hub != "" {
		return f.hub
	}
	return e.getenv("MOONWAKE_HUB")
}

func (f *hubFlags) client(e *env) (*client.Client, error) {
	tok := f.token
	if tok == "" {
		tok = e.getenv("MOONWAKE_TOKEN")
	}
	u := f.url(e)
	if u == "" {
		return nil, usagef("no hub: give --hub URL or set MOONWAKE_HUB")
	}
	return client.New(u, tok)
}
