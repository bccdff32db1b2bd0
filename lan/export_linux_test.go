//go:build linux

package lan_test

import "net"

// hostIfindex is the index of the interface called name in the calling
// thread's namespace.
func hostIfindex(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}
