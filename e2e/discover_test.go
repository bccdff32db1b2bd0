//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/moonwake/moonwake/internal/mdnstest"
	"github.com/moonwake/moonwake/internal/testlan"
)

// wireSuggestion and wireDiscovery are GET /api/v1/discover's answer.
type wireSuggestion struct {
	IP      string   `json:"ip"`
	MAC     string   `json:"mac"`
	Vendor  string   `json:"vendor"`
	Names   []string `json:"names"`
	Name    string   `json:"name"`
	Hub     bool     `json:"hub"`
	Relays  []string `json:"relays"`
	Machine string   `json:"machine"`
}

type wireDiscovery struct {
	Suggestions []wireSuggestion `json:"suggestions"`
	Relays      []struct {
		Name     string   `json:"name"`
		Sweep    bool     `json:"sweep"`
		Networks []string `json:"networks"`
		Error    string   `json:"error"`
	} `json:"relays"`
	HubError string `json:"hub_error"`
}

func (d wireDiscovery) find(mac net.HardwareAddr) (wireSuggestion, bool) {
	for _, s := range d.Suggestions {
		if s.MAC == mac.String() {
			return s, true
		}
	}
	return wireSuggestion{}, false
}

// msiMAC is a MAC whose maker the IEEE registry knows (d8:bb:c1, Micro-Star).
var msiMAC = net.HardwareAddr{0xd8, 0xbb, 0xc1, 0x00, 0x00, 0x42}

// TestDiscovery is "Add machine" on a home with two LANs: the hub's own,
// where a gaming PC answers reverse DNS (a tiny DNS server the hub's
// resolv.conf names) and mDNS, and a home LAN behind a relay, where an
// office PC answers mDNS and another PC has never talked to anyone. The
// hub suggests both LANs' devices, named and with makers, marks the one
// added already, and a sweep by the relay, where enabled, finds the silent
// PC without a packet leaving its subnet; where not enabled it is refused.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	l := &relayLAN{home: testlan.New(t), pod: testlan.New(t), token: testEnrolToken}
	hubHost := l.pod.AddHost("hub")
	gaming := l.pod.AddHost("gaming")
	office := l.home.AddHost("office")
	silent := l.home.AddHost("silent")
	if _, err := gaming.Run(t.Context(), "ip", "link", "set", testlan.Iface, "address", msiMAC.String()); err != nil {
		t.Fatal(err)
	}
	// The gaming PC answers its names: reverse DNS and mDNS; the office
	// PC, on the relay's LAN, mDNS.
	serveDNS(t, gaming, map[netip.Addr]string{gaming.Addr(): "gaming-pc.home.lan."})
	respondMDNS(t, gaming, "gaming-pc.local.")
	officeMDNS := respondMDNS(t, office, "office-pc.local.")
	resolvConf(t, hubHost, gaming.Addr())

	dir := t.TempDir()
	l.tokenFile = filepath.Join(dir, "enrol-token")
	if err := os.WriteFile(l.tokenFile, []byte(l.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Names on: every lookup stays in the test's namespaces, which reach
	// no other network.
	l.hp = startHub(t, hubHost, t.TempDir(), "MOONWAKE_RATE_LIMIT_BURST=100", "MOONWAKE_RELAY_ENROL_TOKEN_FILE="+l.tokenFile,
		"MOONWAKE_UI_REVERSE_DNS=on")
	relayA := l.home.AddHost("relaya")
	l.pod.Attach(relayA, "pod0", l.pod.CIDR(201))
	l.runRelay(t, relayA, "lan-a", l.tokenFile, "MOONWAKE_RELAY_DISCOVERY_SWEEP=true")
	relayB := l.home.AddHost("relayb")
	l.pod.Attach(relayB, "pod0", l.pod.CIDR(202))
	l.runRelay(t, relayB, "lan-b", l.tokenFile)
	l.waitRelay(t, "lan-a", "online", func(r wireRelay) bool { return r.Connected })
	l.waitRelay(t, "lan-b", "online", func(r wireRelay) bool { return r.Connected })
	// The hub has talked to the gaming PC, the relay to the office PC.
	if err := hubHost.Reach(gaming); err != nil {
		t.Fatal(err)
	}
	if err := relayA.Reach(office); err != nil {
		t.Fatal(err)
	}
	l.hp.addMachine(t, map[string]any{"name": "relay-b-host", "mac": relayB.MAC().String(), "host": relayB.Addr().String()})
	if err := relayB.Reach(relayA); err != nil { // so that relay lan-a's table holds a machine too
		t.Fatal(err)
	}

	discover := func(t *testing.T) wireDiscovery {
		t.Helper()
		var d wireDiscovery
		start := time.Now()
		l.hp.must(t, http.StatusOK, "GET", "/api/v1/discover", l.hp.admin, nil).decode(t, &d)
		if took := time.Since(start); took > 4*time.Second {
			t.Errorf("discovery took %s", took)
		}
		return d
	}

	t.Run("suggestions from the hub and the relay, named", func(t *testing.T) {
		start := time.Now()
		d := discover(t)
		t.Logf("discovery answered in %s: %d suggestions", time.Since(start).Round(time.Millisecond), len(d.Suggestions))
		g, ok := d.find(msiMAC)
		if !ok || g.IP != gaming.Addr().String() || !g.Hub || len(g.Relays) != 0 || !strings.HasPrefix(g.Vendor, "Micro-Star") ||
			!slices.Equal(g.Names, []string{"gaming-pc.home.lan", "gaming-pc.local"}) || g.Name != "gaming-pc" || g.Machine != "" {
			t.Errorf("the gaming PC: %+v (found %v)", g, ok)
		}
		o, ok := d.find(office.MAC())
		if !ok || o.IP != office.Addr().String() || o.Hub || !slices.Contains(o.Relays, "lan-a") || o.Vendor != "random address" ||
			!slices.Equal(o.Names, []string{"office-pc.local"}) || o.Name != "office-pc" {
			t.Errorf("the office PC: %+v (found %v)", o, ok)
		}
		if officeMDNS.Queries() == 0 {
			t.Error("no mDNS query reached the office PC from its relay")
		}
		if b, ok := d.find(relayB.MAC()); !ok || b.Machine != "relay-b-host" {
			t.Errorf("a machine already added: %+v (found %v)", b, ok)
		}
		if _, ok := d.find(silent.MAC()); ok {
			t.Error("a PC nobody talked to is suggested before any sweep")
		}
		sweeps := map[string]bool{}
		for _, r := range d.Relays {
			if r.Error != "" {
				t.Errorf("relay %s: %s", r.Name, r.Error)
			}
			sweeps[r.Name] = r.Sweep
		}
		if !sweeps["lan-a"] || sweeps["lan-b"] || len(sweeps) != 2 {
			t.Errorf("relays that may sweep: %v", sweeps)
		}
	})

	t.Run("refused sweeps", func(t *testing.T) {
		for _, tc := range []struct {
			relay, network string
			want           int
		}{
			{"lan-b", "", http.StatusForbidden},                       // not enabled there
			{"lan-a", l.pod.Prefix().String(), http.StatusBadRequest}, // a subnet it does not serve
			{"lan-a", "10.0.0.0/16", http.StatusBadRequest},
			{"ghost", "", http.StatusNotFound},
		} {
			a := l.hp.do(t, "POST", "/api/v1/relays/"+tc.relay+"/sweep", l.hp.admin, map[string]any{"network": tc.network})
			if a.status != tc.want {
				t.Errorf("sweep by %s of %q: %s, want %d", tc.relay, tc.network, a, tc.want)
			}
		}
	})

	t.Run("a sweep finds a silent PC and stays in its subnet", func(t *testing.T) {
		arp, err := l.home.Switch().ListenRaw("br0", 0x0806)
		if err != nil {
			t.Fatal(err)
		}
		podIP, err := l.pod.Switch().ListenRaw("br0", 0x0800)
		if err != nil {
			t.Fatal(err)
		}
		var sw struct {
			Network   string `json:"network"`
			Addresses int    `json:"addresses"`
			Rate      int    `json:"rate"`
		}
		l.hp.must(t, http.StatusAccepted, "POST", "/api/v1/relays/lan-a/sweep", l.hp.admin, nil).decode(t, &sw)
		if sw.Network != l.home.Prefix().String() || sw.Addresses != 254 || sw.Rate != 50 {
			t.Fatalf("sweep %+v", sw)
		}
		a := l.hp.do(t, "POST", "/api/v1/relays/lan-a/sweep", l.hp.admin, nil)
		if a.status != http.StatusConflict {
			t.Errorf("a second sweep while one runs: %s", a)
		}
		start := time.Now()
		var found wireSuggestion
		for {
			if s, ok := discover(t).find(silent.MAC()); ok {
				found = s
				break
			}
			if time.Since(start) > 15*time.Second {
				t.Fatal("the sweep did not find the silent PC in 15 s")
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Logf("the silent PC was suggested %.1f s after the sweep started", time.Since(start).Seconds())
		if found.IP != silent.Addr().String() || !slices.Contains(found.Relays, "lan-a") {
			t.Errorf("the silent PC: %+v", found)
		}
		// Let the sweep end (254 addresses at 50 a second), then count.
		time.Sleep(time.Until(start.Add(6 * time.Second)))
		inside, outside := map[netip.Addr]bool{}, 0
		for {
			d, err := arp.Next(100 * time.Millisecond)
			if err != nil {
				break
			}
			target, ok := arpRequestTarget(d.Data, relayA.MAC())
			if !ok {
				continue
			}
			if l.home.Prefix().Contains(target) {
				inside[target] = true
			} else {
				outside++
			}
		}
		udp9 := 0
		for {
			d, err := podIP.Next(100 * time.Millisecond)
			if err != nil {
				break
			}
			if f, err := parseUDPFrame(d.Data); err == nil && f.dstPort == 9 {
				udp9++
			}
		}
		t.Logf("ARP requests from the relay: %d addresses inside its subnet, %d outside; UDP port 9 on the other LAN: %d", len(inside), outside, udp9)
		if outside != 0 || udp9 != 0 {
			t.Errorf("the sweep left its subnet: %d ARP requests outside it, %d datagrams to port 9 on the pod network", outside, udp9)
		}
		if len(inside) < 240 {
			t.Errorf("the sweep asked only %d addresses of the subnet", len(inside))
		}
	})
}

// arpRequestTarget returns the address an ARP request from mac asks for.
func arpRequestTarget(frame []byte, mac net.HardwareAddr) (netip.Addr, bool) {
	f, err := testlan.ParseFrame(frame)
	if err != nil || f.EtherType != 0x0806 || len(f.Payload) < 28 || f.Src.String() != mac.String() {
		return netip.Addr{}, false
	}
	if op := uint16(f.Payload[6])<<8 | uint16(f.Payload[7]); op != 1 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(f.Payload[24:28])), true
}

// respondMDNS answers mDNS queries for h's reverse name with name, inside
// h's namespace, until the test ends.
func respondMDNS(t *testing.T, h *testlan.Host, name string) *mdnstest.Responder {
	t.Helper()
	var r *mdnstest.Responder
	if err := h.Do(func() error {
		var err error
		r, err = mdnstest.Listen(testlan.Iface, map[netip.Addr]string{h.Addr(): name})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// resolvConf makes the processes started in h's namespace ("ip netns
// exec" bind-mounts /etc/netns/NAME/resolv.conf) ask the DNS server at
// server, and removes the file when the test ends.
func resolvConf(t *testing.T, h *testlan.Host, server netip.Addr) {
	t.Helper()
	dir := filepath.Join("/etc/netns", h.Netns())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := fmt.Sprintf("nameserver %s\noptions timeout:1 attempts:1\n", server)
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// serveDNS answers PTR queries for names' addresses on UDP port 53 in h's
// namespace, as a home router's DNS server does for its DHCP leases, and
// "no such name" to anything else.
func serveDNS(t *testing.T, h *testlan.Host, names map[netip.Addr]string) {
	t.Helper()
	var conn *net.UDPConn
	if err := h.Do(func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 53})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	reverse := map[string]string{}
	for a, n := range names {
		b := a.As4()
		reverse[fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", b[3], b[2], b[1], b[0])] = n
	}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var q dnsmessage.Message
			if err != nil || q.Unpack(buf[:n]) != nil || len(q.Questions) != 1 {
				continue
			}
			ans := dnsmessage.Message{Header: dnsmessage.Header{ID: q.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError},
				Questions: q.Questions}
			if name, ok := reverse[strings.ToLower(q.Questions[0].Name.String())]; ok && q.Questions[0].Type == dnsmessage.TypePTR {
				ans.RCode = dnsmessage.RCodeSuccess
				ans.Answers = []dnsmessage.Resource{{
					Header: dnsmessage.ResourceHeader{Name: q.Questions[0].Name, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET, TTL: 60},
					Body:   &dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(name)},
				}}
			}
			if b, err := ans.Pack(); err == nil {
				conn.WriteToUDPAddrPort(b, from)
			}
		}
	}()
}

// TestBrowserAddFromSuggestion: on Add machine, a PC the hub has talked to
// is suggested with its mDNS name and its maker; a tap on Add fills in the
// form (no script: the link reloads it), and the machine is added.
func TestBrowserAddFromSuggestion(t *testing.T) {
	t.Parallel()
	needChromium(t)
	l := testlan.New(t)
	hubHost, gaming := l.AddHost("hub"), l.AddHost("gaming")
	if _, err := gaming.Run(t.Context(), "ip", "link", "set", testlan.Iface, "address", msiMAC.String()); err != nil {
		t.Fatal(err)
	}
	respondMDNS(t, gaming, "gaming-pc.local.")
	resolvConf(t, hubHost, gaming.Addr()) // no DNS server there: reverse DNS fails at once, inside the LAN
	hp := startHub(t, hubHost, t.TempDir(), "MOONWAKE_RATE_LIMIT_BURST=100", "MOONWAKE_UI_REVERSE_DNS=on")
	if err := hubHost.Reach(gaming); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, hubURL(t, hp))
	b.setup(hp.admin)
	b.open("/machines/new")
	row := `#suggestions tr[data-mac="` + msiMAC.String() + `"]`
	b.waitFor(row, browserTimeout)
	text := b.text(row)
	t.Logf("the suggestion: %q", text)
	for _, want := range []string{"gaming-pc.local", gaming.Addr().String(), msiMAC.String(), "Micro-Star", "the hub"} {
		if !strings.Contains(text, want) {
			t.Errorf("the suggestion does not show %q", want)
		}
	}
	b.click(row + ` a.suggestion`)
	b.waitJS("the form filled in", `new URLSearchParams(location.search).get("mac") === `+jsString(msiMAC.String()), browserTimeout)
	for field, want := range map[string]string{"name": "gaming-pc", "mac": msiMAC.String(), "host": gaming.Addr().String()} {
		if got := eval[string](b, `document.querySelector('form.machine-form [name=`+field+`]').value`); got != want {
			t.Errorf("field %s: %q, want %q", field, got, want)
		}
	}
	b.click(submitOf("form.machine-form"))
	b.waitJS("the new machine's page", `location.pathname === "/machines/gaming-pc"`, browserTimeout)
	var m struct{ MAC, Host string }
	hp.must(t, http.StatusOK, "GET", "/api/v1/machines/gaming-pc", hp.admin, nil).decode(t, &m)
	if m.MAC != msiMAC.String() || m.Host != gaming.Addr().String() {
		t.Errorf("added %+v", m)
	}
	// Added, it is marked so on the page, which fits a phone.
	b.phone(3)
	b.checkPhone("/machines/new", row+`[data-machine="gaming-pc"]`)
}
