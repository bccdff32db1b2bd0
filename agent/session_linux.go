//go:build linux

package agent

import "context"

func userSession() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sysQueryTimeout)
	defer cancel()
	return linuxUserSession(ctx, sysOutput)
}
