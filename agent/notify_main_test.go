package agent

import (
	"fmt"
	"os"
	"testing"
)

// notifyChildEnv makes the test binary the notifier's child, as
// "moonwake-agent notify-session" is in the agent's own binary.
const notifyChildEnv = "MOONWAKE_TEST_NOTIFY_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(notifyChildEnv) == "1" {
		if err := RunNotifier(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
