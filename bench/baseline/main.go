// Command baseline is the yardstick for bench/run.sh: a bare Go HTTP
// handler that only sends a magic packet, with no authentication, no
// storage and no logging. The hub's wake route is measured against it.
// With -packets 0 it sends nothing: docs/performance.md uses that to show
// what sharing CPUs with the load generator does to a handler's p99.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve on")
	target := flag.String("target", "127.0.0.1:9", "where to send the packet")
	packets := flag.Int("packets", 1, "packets to send per request")
	flag.Parse()
	dst, err := net.ResolveUDPAddr("udp4", *target)
	if err != nil {
		log.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		log.Fatal(err)
	}
	pkt := make([]byte, 102)
	for i := 0; i < 6; i++ {
		pkt[i] = 0xff
	}
	for i := 6; i < 102; i += 6 {
		copy(pkt[i:], []byte{0x02, 0x77, 0, 0, 0, 1})
	}
	http.HandleFunc("/wake", func(w http.ResponseWriter, r *http.Request) {
		for range *packets {
			if _, err := conn.WriteToUDP(pkt, dst); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("sent\n"))
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
