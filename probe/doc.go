// Package probe gathers the evidence of a machine's power state (see
// moonwake.Evidence) and watches many machines at once.
//
//   - TCP connects to the machine's ports. A connect that succeeds, and a
//     reset from a closed port, both mean a host is up at the address.
//   - ICMP echo, through a raw socket when the process may open one
//     (root, CAP_NET_RAW), else through a Linux "ping" datagram socket
//     (when the process's group is in net.ipv4.ping_group_range), else
//     not at all; the result says which.
//   - The kernel's neighbour table, read after the other probes (which make
//     the kernel resolve the address), checks that the address still
//     belongs to the machine's MAC: DHCP may have given it to another
//     device. It only works for hosts on the same link; for others the
//     identity stays unknown. Concurrent rounds share the table's cached
//     routes and its reads (NeighbourTable): at fleet scale a round costs
//     one netlink exchange, or none for a machine not on the link.
//   - Sunshine's unpaired /serverinfo says whether an app runs.
//
// A Prober does one round of these for a Target, concurrently and with a
// bound on the sockets open at once. A Watcher probes many targets for
// ever, slowly at rest and quickly during a transition, from one goroutine
// that owns a timer heap, and reports each change of derived state.
//
// Probes open their sockets through an Enter function when one is given:
// tests pass a testlan host's Do, so every socket lives in that host's
// network namespace and no probe reaches the machine's real network.
package probe
