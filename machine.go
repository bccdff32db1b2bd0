package moonwake

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/moonwake/moonwake/sunshine"
	"github.com/moonwake/moonwake/wol"
)

// Where a machine was declared. A machine declared in the config file is
// owned by it: the API can read and wake it, but not change or delete it.
const (
	SourceAPI    = "api"
	SourceConfig = "config"
)

// Machine is a computer that moonwake can wake.
type Machine struct {
	Name      string   `json:"name"`
	MAC       string   `json:"mac"`                 // normalized: aa:bb:cc:dd:ee:ff
	Host      string   `json:"host,omitempty"`      // IP or DNS name, for unicast and probes
	Interface string   `json:"interface,omitempty"` // send on this interface's subnet broadcast
	Broadcast string   `json:"broadcast,omitempty"` // or to this address
	Port      int      `json:"port,omitempty"`      // UDP port; 0 means wol.DefaultPort
	Ports     []int    `json:"ports,omitempty"`     // TCP ports whose answer means "on"; empty: DefaultProbePorts
	Password  string   `json:"-"`                   // SecureOn password, normalized hex; never rendered
	Tags      []string `json:"tags"`
	// Relay names the relay that serves this machine: wakes and probes go
	// through it. Empty lets the machine's address decide: the relay whose
	// networks hold Host, else the hub itself.
	Relay string `json:"relay,omitempty"`
	// Notify says where this machine's failed actions are reported, besides
	// the hub's own target; nil for nowhere else.
	Notify *NotifyTarget `json:"notify,omitempty"`
	Source string        `json:"source"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// The checks of names, tags and host names are loops, not regular
// expressions: compiling the host name's took 0.6 ms of every start of
// every moonwake command.

// validID reports whether s is 1-63 characters a-z or 0-9, or, after the
// first, one of extra.
func validID(s, extra string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && strings.IndexByte(extra, c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// validHostname reports whether s is a DNS name: labels of 1-63 letters,
// digits and hyphens, which neither begin nor end with a hyphen, joined
// by dots, with an optional dot at the end.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// DefaultProbePorts are probed when a machine names none: Sunshine's HTTP
// port, which answers as soon as Sunshine runs.
var DefaultProbePorts = []int{sunshine.DefaultPort}

// ProbePorts returns the TCP ports that show whether m is on.
func (m *Machine) ProbePorts() []int {
	if len(m.Ports) == 0 {
		return DefaultProbePorts
	}
	return m.Ports
}

// ValidName reports whether s can name a machine: it appears in URLs, MQTT
// topics and Home Assistant entity ids, so it is kept to a-z, 0-9, '-', '_'.
func ValidName(s string) bool { return validID(s, "-_") }

// ValidTag reports whether s is a tag as Normalize keeps it: 1-63
// characters a-z, 0-9, '.', '-' or '_', starting with a letter or digit.
func ValidTag(s string) bool { return validID(s, "_.-") }

// Normalize checks m and rewrites its fields into their canonical forms. It
// returns an EInvalid error naming the first field that is wrong.
func (m *Machine) Normalize() error {
	m.Name = strings.TrimSpace(m.Name)
	if !ValidName(m.Name) {
		return Errorf(EInvalid, "name %q: use 1-63 characters a-z, 0-9, '-' or '_', starting with a letter or digit", m.Name)
	}
	mac, err := wol.ParseMAC(m.MAC)
	if err != nil {
		return Errorf(EInvalid, "mac: %v", err)
	}
	m.MAC = mac.String()
	m.Host = strings.TrimSpace(m.Host)
	if m.Host != "" {
		if _, err := netip.ParseAddr(m.Host); err != nil && !validHostname(m.Host) {
			return Errorf(EInvalid, "host %q: not an IP address or DNS name", m.Host)
		}
	}
	m.Interface = strings.TrimSpace(m.Interface)
	if m.Interface != "" && (len(m.Interface) > 15 || strings.ContainsAny(m.Interface, "/ \t\n\x00")) {
		return Errorf(EInvalid, "interface %q: not a network interface name", m.Interface)
	}
	m.Broadcast = strings.TrimSpace(m.Broadcast)
	if m.Broadcast != "" {
		a, err := netip.ParseAddr(m.Broadcast)
		if err != nil {
			return Errorf(EInvalid, "broadcast %q: not an IP address", m.Broadcast)
		}
		m.Broadcast = a.String()
	}
	m.Relay = strings.TrimSpace(m.Relay)
	if m.Relay != "" && !ValidName(m.Relay) {
		return Errorf(EInvalid, "relay %q: not a relay name; use 1-63 characters a-z, 0-9, '-' or '_', starting with a letter or digit", m.Relay)
	}
	if m.Port < 0 || m.Port > 65535 {
		return Errorf(EInvalid, "port %d: must be between 1 and 65535", m.Port)
	}
	if m.Notify != nil {
		if m.Notify.Empty() {
			m.Notify = nil
		} else if err := m.Notify.Validate(); err != nil {
			return err
		}
	}
	if len(m.Ports) > 16 {
		return Errorf(EInvalid, "ports: at most 16")
	}
	for _, p := range m.Ports {
		if p < 1 || p > 65535 {
			return Errorf(EInvalid, "ports: %d is not between 1 and 65535", p)
		}
	}
	slices.Sort(m.Ports)
	m.Ports = slices.Compact(m.Ports)
	if len(m.Ports) == 0 {
		m.Ports = nil
	}
	if m.Password != "" {
		pw, err := wol.ParsePassword(m.Password)
		if err != nil {
			return Errorf(EInvalid, "password: %v", err)
		}
		m.Password = net.HardwareAddr(pw).String()
	}
	tags := make([]string, 0, len(m.Tags))
	for _, t := range m.Tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if !ValidTag(t) {
			return Errorf(EInvalid, "tag %q: use 1-63 characters a-z, 0-9, '.', '-' or '_'", t)
		}
		tags = append(tags, t)
	}
	slices.Sort(tags)
	m.Tags = slices.Compact(tags)
	if m.Source == "" {
		m.Source = SourceAPI
	}
	return nil
}

// WakePort returns the UDP port to send magic packets to.
func (m *Machine) WakePort() int {
	if m.Port == 0 {
		return wol.DefaultPort
	}
	return m.Port
}

// NotifyTarget is where notifications go. The zero value sends nothing.
type NotifyTarget struct {
	Webhook   string `json:"webhook,omitempty" yaml:"webhook"`       // URL that receives a JSON POST of each message
	Secret    string `json:"secret,omitempty" yaml:"secret"`         // signs webhook bodies: X-Moonwake-Signature: sha256=HMAC(body)
	Ntfy      string `json:"ntfy,omitempty" yaml:"ntfy"`             // ntfy topic URL, like https://ntfy.sh/my-pc-alerts
	NtfyToken string `json:"ntfy_token,omitempty" yaml:"ntfy_token"` // ntfy access token, if the topic needs one
	OnSuccess bool   `json:"on_success,omitempty" yaml:"on_success"` // also notify successes (failures always are)
}

// Empty reports whether t sends nowhere.
func (t NotifyTarget) Empty() bool { return t.Webhook == "" && t.Ntfy == "" }

// Validate checks the URLs.
func (t NotifyTarget) Validate() error {
	for _, u := range []string{t.Webhook, t.Ntfy} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return Errorf(EInvalid, "notification URL %q: want http(s)://host/…", RedactURL(u))
		}
	}
	return nil
}

// Redacted returns t as it may be shown: no secrets, and URLs cut to their
// scheme and host, since webhook paths are often secrets themselves.
func (t NotifyTarget) Redacted() NotifyTarget {
	cut := func(s string) string {
		p, err := url.Parse(s)
		if s == "" || err != nil {
			return ""
		}
		return p.Scheme + "://" + p.Host + "/…"
	}
	return NotifyTarget{Webhook: cut(t.Webhook), Ntfy: cut(t.Ntfy), OnSuccess: t.OnSuccess}
}

// RedactURL drops credentials and the query from a URL, for messages.
func RedactURL(s string) string {
	p, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User = nil
	p.RawQuery = ""
	return p.String()
}

// MachineUpdate is a partial change to a machine: nil fields are left alone.
// An empty string clears an optional field.
type MachineUpdate struct {
	MAC       *string
	Host      *string
	Interface *string
	Broadcast *string
	Port      *int
	Ports     *[]int
	Password  *string
	Relay     *string
	Notify    **NotifyTarget // *nil clears it
	Tags      *[]string
}

// Apply returns a copy of m with u applied. The caller normalizes it.
func (u MachineUpdate) Apply(m Machine) Machine {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&m.MAC, u.MAC)
	set(&m.Host, u.Host)
	set(&m.Interface, u.Interface)
	set(&m.Broadcast, u.Broadcast)
	set(&m.Password, u.Password)
	set(&m.Relay, u.Relay)
	if u.Port != nil {
		m.Port = *u.Port
	}
	if u.Tags != nil {
		m.Tags = slices.Clone(*u.Tags)
	}
	if u.Ports != nil {
		m.Ports = slices.Clone(*u.Ports)
	}
	if u.Notify != nil {
		m.Notify = *u.Notify
	}
	return m
}

// MachineService stores machines. Implementations are safe for concurrent
// use; they return copies, so callers may modify what they get.
type MachineService interface {
	// FindMachine returns the machine called name, or ENotFound.
	FindMachine(ctx context.Context, name string) (*Machine, error)
	// FindMachineByMAC returns the machine with that normalized MAC, or ENotFound.
	FindMachineByMAC(ctx context.Context, mac string) (*Machine, error)
	// ListMachines returns all machines sorted by name.
	ListMachines(ctx context.Context) ([]*Machine, error)
	// CreateMachine normalizes and stores m. EInvalid, or EConflict when the
	// name or the MAC is taken.
	CreateMachine(ctx context.Context, m *Machine) error
	// UpdateMachine applies u to the machine called name. ENotFound,
	// EInvalid, or EConflict when the machine is declared in the config file
	// or the new MAC is taken.
	UpdateMachine(ctx context.Context, name string, u MachineUpdate) (*Machine, error)
	// DeleteMachine removes it. ENotFound, or EConflict for config machines.
	DeleteMachine(ctx context.Context, name string) error
	// SyncConfigMachines makes the set of config-declared machines equal to
	// ms: creates, updates, and deletes the ones no longer declared. A
	// machine in ms replaces an API machine of the same name (the config
	// file wins). It returns EInvalid or EConflict (duplicate MAC) without
	// changing anything.
	SyncConfigMachines(ctx context.Context, ms []*Machine) error
}
