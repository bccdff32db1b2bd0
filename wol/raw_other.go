//go:build !linux

package wol

import "errors"

// SendRaw is only implemented on Linux; elsewhere use UDP.
func SendRaw(ifname string, payload []byte) error {
	return errors.New("raw Ethernet frames are only supported on Linux; use UDP")
}
