// The wake function for Fission's Go environment: a safe drop-in for the
// old GET /wake?mac=… function. Fission's builder compiles this directory
// into a plugin (go build -buildmode=plugin) and the environment calls
// Handler for every request to the function's route. front.go, the
// forwarding itself, is generated from the main module's front package.
package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Handler is the function's entry point: GET /wake?mac=…&token=… (or the
// token in an Authorization header), answered by the hub.
func Handler(w http.ResponseWriter, r *http.Request) {
	f, err := hubFront()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "the function is not configured: "+err.Error())
		return
	}
	f.Wake(w, r)
}

// current is the Front for the hub URL last read. The URL is read at
// every request, so that a change to the ConfigMap (which the kubelet
// updates in place) takes effect without a new pod; the Front, and its
// connections to the hub, last as long as the URL does.
var current struct {
	sync.Mutex
	url   string
	front *Front
}

func hubFront() (*Front, error) {
	u, err := hubURL()
	if err != nil {
		return nil, err
	}
	current.Lock()
	defer current.Unlock()
	if current.front == nil || current.url != u {
		f, err := New(u)
		if err != nil {
			return nil, err
		}
		current.url, current.front = u, f
	}
	return current.front, nil
}

// configFile is where Fission mounts the key hub of the ConfigMap
// moonwake-front that the function's spec names:
// /configs/<namespace>/<name>/<key>.
const configFile = "/configs/*/moonwake-front/hub"

// hubURL is MOONWAKE_HUB from the environment (Fission's per-function env
// in recent releases, or a test), or else the ConfigMap's key hub.
func hubURL() (string, error) {
	if u := os.Getenv("MOONWAKE_HUB"); u != "" {
		return u, nil
	}
	paths, _ := filepath.Glob(configFile) // the pattern is well-formed
	if len(paths) != 1 {
		return "", errors.New("no hub URL: set the key hub of the ConfigMap moonwake-front, which the function's spec mounts at " + configFile + ", or MOONWAKE_HUB")
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
