// Package e2e runs moonwake's binaries and third-party tools (tshark,
// etherwake, wakeonlan) against each other on LANs of network namespaces
// built with internal/testlan: nothing here sends a packet outside
// namespaces the tests create. The tests are Linux-only, need root and skip
// without it; CI runs them as root. The package has no code of its own.
package e2e
