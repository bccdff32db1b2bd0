// Package lan is what a host (the hub, a relay) can learn of the devices on
// the LANs it sits on, for "Add machine": the entries of its neighbour table
// worth suggesting, their names (reverse DNS, and a one-shot mDNS query for
// the reverse name, which a PC running Avahi or Bonjour answers), and a
// bounded sweep that makes the kernel resolve every address of one subnet,
// so that devices it never talked to show in the table.
//
// Everything here is bounded: a count of devices, a time for names, a rate
// and a size for a sweep. The mDNS codec is pure and fuzzed; the I/O around
// it is thin.
package lan
