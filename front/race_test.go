//go:build race

package front_test

// raceEnabled: the test binary has the race detector, so a plugin it
// loads must be built with it too.
const raceEnabled = true
