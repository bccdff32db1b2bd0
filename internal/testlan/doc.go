// Package testlan builds throwaway Ethernet LANs out of Linux network
// namespaces, so tests can send real magic packets, probes and frames
// without a single one reaching the machine's real network.
//
// A LAN is a Linux bridge living in a namespace of its own. Each host is
// another namespace with loopback up and one veth interface, "eth0", plugged
// into that bridge, with addresses chosen by the test (10.77.N.x/24 by
// default, N unique per LAN in a process). Nothing is created in the host's
// own namespace, so interface names cannot collide between tests running in
// parallel, and deleting the namespaces removes every link with them.
//
//	testlan.Require(t)
//	lan := testlan.New(t)
//	a, b := lan.AddHost("a"), lan.AddHost("b")
//	rx, err := b.ListenUDP(9)        // a socket inside b's namespace
//	out, err := a.Run(ctx, "wakeonlan", "-i", lan.Broadcast().String(), mac)
//	d, err := rx.Next(time.Second)
//
// Everything a LAN creates (namespaces, sockets, processes) is removed in
// t.Cleanup, even when the test fails. Namespaces left over by a test
// binary that was killed (a -timeout panic runs no cleanup) are named after
// the dead process's pid and deleted by the next New.
//
// The package needs Linux, root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and the
// iproute2 "ip" command; Require skips a test cleanly without them.
package testlan
