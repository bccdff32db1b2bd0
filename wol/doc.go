// Package wol encodes, decodes and sends Wake-on-LAN magic packets.
//
// A magic packet is six 0xFF bytes followed by the target's MAC address
// sixteen times (102 bytes), optionally followed by a 4- or 6-byte SecureOn
// password. A network card in wake mode scans every frame it sees for that
// pattern, whatever the protocol around it, so the packet can travel as the
// payload of a UDP datagram (port 9, "discard", by convention; 7 also works)
// or directly in an Ethernet frame with EtherType 0x0842.
//
// The sleeping machine has no IP address in anyone's neighbour table after a
// while, so the packet must be broadcast on the target's segment:
//
//   - The subnet-directed broadcast of the right interface (10.0.0.255 for
//     10.0.0.0/24) is the reliable choice. 255.255.255.255 leaves through
//     whichever interface the routing table picks on a multi-homed host, and
//     never leaves a container bridge, so this package never falls back on
//     it: Plan resolves an interface to its own broadcast addresses.
//   - Unicast to the target's IP works while a switch or router still knows
//     where it is, and is how a packet crosses a router.
//   - On IPv6 there is no broadcast: the all-nodes multicast group ff02::1 on
//     an interface reaches every host on that link.
//   - A raw Ethernet frame (Linux, CAP_NET_RAW) needs no IP configuration at
//     all, which is what etherwake sends.
package wol
