//go:build !linux

package lan

// isTransient: elsewhere every send error stops the sweep.
func isTransient(err error) bool { return false }
