//go:build !linux

package agent

import (
	"errors"
	"io"
)

// NotifyChildArg is the argument that makes moonwake-agent the notifier's
// child on Linux; elsewhere RunNotifier refuses.
const NotifyChildArg = "notify-session"

// RunNotifier is the Linux notifier's child; it has no work here.
func RunNotifier(in io.Reader, out io.Writer) error {
	return errors.New("notify-session: only on Linux")
}
