//go:build darwin

package agent

import (
	"context"
	"fmt"
)

func userSession() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sysQueryTimeout)
	defer cancel()
	out, err := sysOutput(ctx, "/usr/bin/who")
	if err != nil {
		return false, fmt.Errorf("user session %w: %w", ErrUnavailable, err)
	}
	return parseWho(out) > 0, nil
}
