//go:build !windows

package agent

import "time"

// sysQueryTimeout bounds the programs IdleTime and UserSession run.
const sysQueryTimeout = 10 * time.Second
