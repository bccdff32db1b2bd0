package main

import (
	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake/client"
	"github.com/moonwake/moonwake/internal/hubtls"
)

// hubFlags are the flags of commands that talk to a hub's API.
type hubFlags struct {
	hub, token, tlsFingerprint string
}

func (f *hubFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.hub, "hub", "", "hub `URL`, like https://wake.example.org (or MOONWAKE_HUB)")
	cmd.Flags().StringVar(&f.token, "token", "", "API token (or MOONWAKE_TOKEN; prefer the variable: flags show in ps)")
	cmd.Flags().StringVar(&f.tlsFingerprint, "tls-fingerprint", "", "trust the hub's self-signed TLS certificate with this `fingerprint` (or MOONWAKE_HUB_TLS_FINGERPRINT)")
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
	c, err := client.New(u, tok)
	if err != nil {
		return nil, err
	}
	fp := f.tlsFingerprint
	if fp == "" {
		fp = e.getenv("MOONWAKE_HUB_TLS_FINGERPRINT")
	}
	if fp != "" {
		hc, err := hubtls.PinnedClient(fp)
		if err != nil {
			return nil, usagef("%v", err)
		}
		c.HTTP = hc
	}
	return c, nil
}

// tlsPin is the pairing command's pin of the hub's self-signed
// certificate, when it has one.
func tlsPin(fp string) string {
	if fp == "" {
		return ""
	}
	return " --tls-fingerprint " + fp
}
