//go:build linux

// Command watchbench measures what watching many machines costs: it
// watches N targets on loopback addresses (127.1.0.0/16; a few with a
// listener on their port, the rest closed, so they answer with a reset at
// once) at the rest interval for a fixed time, and reports the CPU used
// (percent of one core), the resident memory and the rounds done. Every
// probe goes to loopback; nothing leaves the machine.
//
//	go run ./probe/watchbench -n 10000 -rest 5s -duration 20s
//
// The budget (issue 3): 10,000 machines at a 5-second rest interval in
// under 25% of one core and under 100 MiB.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/probe"
)

func main() {
	n := flag.Int("n", 10000, "targets to watch")
	open := flag.Int("open", 10, "targets with a listening port")
	rest := flag.Duration("rest", 5*time.Second, "rest interval")
	duration := flag.Duration("duration", 20*time.Second, "how long to run, warm-up included")
	warmup := flag.Duration("warmup", 5*time.Second, "time before measuring (first rounds are spread over the rest interval)")
	icmp := flag.Bool("icmp", false, "send ICMP echo too (needs root or ping_group_range)")
	neigh := flag.Bool("neigh", true, "check the neighbour table (a netlink round trip per round)")
	port := flag.Int("port", 47989, "TCP port probed")
	verbose := flag.Bool("v", false, "log every change to a state other than on")
	flag.Parse()
	if *n > 250*250 {
		log.Fatal("at most 62500 targets")
	}

	// Listeners on the first targets: accept and drop.
	for i := range *open {
		l, err := net.Listen("tcp", net.JoinHostPort(addr(i).String(), strconv.Itoa(*port)))
		if err != nil {
			log.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}

	prober := probe.NewProber(probe.ProberOptions{Timeout: time.Second})
	defer prober.Close()
	var rounds atomic.Int64
	var changes atomic.Int64
	states := map[moonwake.PowerState]int{}
	w := probe.NewWatcher(probe.WatchOptions{
		Probe: func(ctx context.Context, t probe.Target) moonwake.Evidence {
			rounds.Add(1)
			return prober.Probe(ctx, t)
		},
		Rest: *rest,
		OnChange: func(sc moonwake.StateChange) {
			changes.Add(1)
			states[sc.To]++
			if *verbose && sc.To != moonwake.StateOn {
				log.Printf("%s %s -> %s: %s %+v", sc.Machine, sc.From, sc.To, sc.Reason, sc.Evidence.TCP)
			}
		},
	})
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for i := range *n {
		t := probe.Target{Name: "m" + strconv.Itoa(i), Host: addr(i).String(), Ports: []int{*port}, ICMP: *icmp}
		if *neigh {
			t.MAC = mac
		}
		w.Watch(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			log.Print(err)
		}
	}()

	time.Sleep(*warmup)
	cpu0, wall0, rounds0 := cpuTime(), time.Now(), rounds.Load()
	<-done
	cpu1, wall1, rounds1 := cpuTime(), time.Now(), rounds.Load()
	wall := wall1.Sub(wall0)
	rss, hwm := memory()
	fmt.Printf("targets %d (open %d), rest %s, icmp %v, neighbour check %v, GOMAXPROCS %d\n",
		*n, *open, *rest, *icmp, *neigh, runtime.GOMAXPROCS(0))
	fmt.Printf("measured over %s after a %s warm-up\n", wall.Round(time.Millisecond), *warmup)
	fmt.Printf("rounds/s %.0f (expected %.0f)\n", float64(rounds1-rounds0)/wall.Seconds(), float64(*n)/rest.Seconds())
	fmt.Printf("cpu %.1f%% of one core\n", 100*(cpu1-cpu0).Seconds()/wall.Seconds())
	fmt.Printf("rss %.1f MiB, peak %.1f MiB\n", rss, hwm)
	fmt.Printf("state changes %d: %v\n", changes.Load(), states)
}

// addr is target i's loopback address: 127.1.x.y.
func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memory returns VmRSS and VmHWM in MiB.
func memory() (rss, hwm float64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}
