package mock

import (
	"context"

	"github.com/moonwake/moonwake"
)

var (
	_ moonwake.AgentPairer    = (*AgentPairer)(nil)
	_ moonwake.SunshinePairer = (*SunshinePairer)(nil)
)

// AgentPairer is a moonwake.AgentPairer.
type AgentPairer struct {
	NewAgentPairingFn func(ctx context.Context, machine string) (moonwake.AgentPairing, error)
}

// NewAgentPairing calls NewAgentPairingFn; it panics when it is nil.
func (p *AgentPairer) NewAgentPairing(ctx context.Context, machine string) (moonwake.AgentPairing, error) {
	if p.NewAgentPairingFn == nil {
		unexpected("AgentPairer.NewAgentPairing")
	}
	return p.NewAgentPairingFn(ctx, machine)
}

// SunshinePairer is a moonwake.SunshinePairer.
type SunshinePairer struct {
	PairSunshineFn     func(ctx context.Context, m *moonwake.Machine, pin string, port int) (moonwake.SunshinePairing, error)
	PairSunshineAutoFn func(ctx context.Context, m *moonwake.Machine, port int, web moonwake.SunshineWeb) (moonwake.SunshinePairing, error)
}

// PairSunshine calls PairSunshineFn; it panics when it is nil.
func (p *SunshinePairer) PairSunshine(ctx context.Context, m *moonwake.Machine, pin string, port int) (moonwake.SunshinePairing, error) {
	if p.PairSunshineFn == nil {
		unexpected("SunshinePairer.PairSunshine")
	}
	return p.PairSunshineFn(ctx, m, pin, port)
}

// PairSunshineAuto calls PairSunshineAutoFn; it panics when it is nil.
func (p *SunshinePairer) PairSunshineAuto(ctx context.Context, m *moonwake.Machine, port int, web moonwake.SunshineWeb) (moonwake.SunshinePairing, error) {
	if p.PairSunshineAutoFn == nil {
		unexpected("SunshinePairer.PairSunshineAuto")
	}
	return p.PairSunshineAutoFn(ctx, m, port, web)
}
