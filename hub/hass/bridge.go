// Package hass bridges a moonwake hub and Home Assistant over an MQTT
// broker: MQTT discovery makes every machine a Home Assistant device (a
// power switch, wake and shut-down buttons, power and streaming binary
// sensors, state and last-action sensors) and every tag a group device
// (groups.go), their state follows the hub's events, and commands from
// Home Assistant run verified actions, within a scope that is checked
// exactly as an API token's. Commands are events:
// a retained message on a command topic is never run; the bridge reports
// it on <prefix>/error and clears it (an empty retained payload on its
// topic).
package hass

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/time/rate"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/events"
)

// Defaults of Options.
const (
	DefaultTopicPrefix     = "moonwake"
	DefaultDiscoveryPrefix = "homeassistant"
	DefaultClientID        = "moonwake"
)

// DefaultActions are the actions MQTT commands may ask for when the scope
// names none.
var DefaultActions = []string{moonwake.ActionWake, moonwake.ActionShutdown}

// Options configure a Bridge.
type Options struct {
	Broker   string // tcp://, ssl://, ws:// or wss:// URL
	Username string
	Password string // never logged
	ClientID string // default DefaultClientID
	// HubID tells this hub from others on the same broker: it is part of
	// every node id, unique_id and device identifier the bridge publishes
	// (moonwake_<hub id>_<machine>), and the bridge clears stale discovery
	// payloads only when they carry it. 1 to 32 characters a-z, 0-9; keep
	// it stable, or Home Assistant sees new devices. Default: derived from
	// ClientID. The hub derives it from its identity key.
	HubID string
	// TopicPrefix roots the bridge's own topics: availability, state,
	// commands. Default DefaultTopicPrefix.
	TopicPrefix string
	// DiscoveryPrefix is Home Assistant's discovery prefix. Default
	// DefaultDiscoveryPrefix.
	DiscoveryPrefix string
	// PublicURL is where people reach the hub; devices link to their page
	// there. Empty: no link.
	PublicURL string
	// Scope is what commands over MQTT may do: Machines (empty: all) and
	// Actions (nil: DefaultActions), checked with Token.Allows like an API
	// token. Admin is ignored.
	Scope moonwake.Token
	// TLS configures ssl:// and wss:// brokers; nil: the system's roots.
	TLS *tls.Config

	Machines moonwake.MachineService
	Monitor  moonwake.Monitor
	Power    moonwake.PowerService
	Actions  moonwake.ActionService
	Events   *events.Broker
	Logger   *slog.Logger
	// Groups, when not nil, makes every tag a Home Assistant device whose
	// commands start group actions (see groups.go).
	Groups moonwake.GroupService
	// GroupWakeStagger is the time between two members' wakes in a group
	// action. Default DefaultGroupWakeStagger.
	GroupWakeStagger time.Duration

	// ReconnectInterval bounds the wait between connection attempts.
	// Default 30s; tests shorten it.
	ReconnectInterval time.Duration
	// RepublishInterval is the least time between two full republishes
	// asked for by Home Assistant's birth message (anyone on the broker
	// can send one): requests in between are coalesced into one, made when
	// the interval is up. Default 5s.
	RepublishInterval time.Duration
	// ScanWindow is how long the bridge collects retained discovery
	// payloads after a connect, to clear those of machines that no longer
	// exist. Default 2s.
	ScanWindow time.Duration
}

// Bridge is a running bridge. New, then Run until the context ends, then
// Close.
type Bridge struct {
	o      Options
	t      topics
	disc   discoveryInfo
	scope  moonwake.Token
	log    *slog.Logger
	client mqtt.Client

	connected chan struct{} // OnConnect's nudge: reconcile everything
	haOnline  chan struct{} // Home Assistant restarted: publish everything
	dirtyC    chan struct{} // events marked machines dirty
	cmds      chan message  // commands, in order, bounded
	stale     chan scanResult

	mu     sync.Mutex
	dirty  map[string]op               // by machine
	all    bool                        // every machine is dirty (the event stream lagged)
	last   map[string]*moonwake.Action // newest action by machine, from events
	cmdErr map[string]*commandError    // last refused command by machine
	// groupsDirty: the groups' members or states may have changed.
	groupsDirty bool
	groupActs   map[string]*moonwake.GroupAction // last group action over MQTT, by tag
	groupErr    map[string]*commandError         // last refused command by tag

	// Owned by Run's loop.
	published map[string]bool // machines whose discovery is out
	groups    map[string]*publishedGroup
	scanning  bool
	// retainedSeen are the command topics a retained command came on, to
	// warn once per topic; clearing are those whose retained message the
	// bridge cleared, by when, so the empty payload that comes back is not
	// taken for a command.
	retainedSeen map[string]bool
	clearing     map[string]time.Time
	otherHubs    map[string]bool // hubs found sharing our topic prefix, warned about
	wg           sync.WaitGroup

	// noisy and haLog limit log lines that anyone on the broker can cause.
	noisy, haLog *logLimiter

	closeOnce sync.Once
}

// logLimiter lets a kind of log line through a few times a minute, and
// counts those it holds back; the next line through says how many.
type logLimiter struct {
	lim        *rate.Limiter
	suppressed atomic.Int64
}

// Log lines anyone on the broker can cause: a burst of logBurst, then one
// every logEvery.
const (
	logBurst = 5
	logEvery = 20 * time.Second
)

func newLogLimiter() *logLimiter {
	return &logLimiter{lim: rate.NewLimiter(rate.Every(logEvery), logBurst)}
}

// log logs msg at level, or counts it when over the limit.
func (l *logLimiter) log(lg *slog.Logger, level slog.Level, msg string, args ...any) {
	if !l.lim.Allow() {
		l.suppressed.Add(1)
		return
	}
	if n := l.suppressed.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	lg.Log(context.Background(), level, msg, args...)
}

// op is what a machine needs published; a larger op includes the smaller.
type op int

const (
	opState     op = iota + 1 // its state document
	opDiscovery               // its discovery payloads, then its state
	opRemove                  // clear its discovery and state
)

// message is an MQTT message copied out of the client's callback.
type message struct {
	topic    string
	payload  []byte
	retained bool // the broker kept it: it was sent before we subscribed
}

// staleConfig is a retained discovery payload of a moonwake node: a
// machine's, or a group's.
type staleConfig struct {
	topic   string
	machine string
	group   string
}

// scanResult is what a scan of the retained discovery payloads found:
// this bridge's, and the ids of other hubs that use the same topic prefix.
type scanResult struct {
	found  []staleConfig
	others []string
}

// Bounds.
const (
	cmdQueue       = 32
	publishTimeout = 10 * time.Second
	commandTimeout = 30 * time.Second
	closeTimeout   = 2 * time.Second
	maxStale       = 4096
	// clearEcho is how long after clearing a retained command the empty
	// payload that comes back is ignored.
	clearEcho = 10 * time.Second
)

// New checks o and prepares a bridge; it does not connect yet.
func New(o Options) (*Bridge, error) {
	if o.Machines == nil || o.Monitor == nil || o.Power == nil || o.Actions == nil || o.Events == nil {
		return nil, errors.New("mqtt bridge: machines, monitor, power, actions and events are required")
	}
	u, err := url.Parse(o.Broker)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("mqtt bridge: broker %q: want a URL like tcp://host:1883", moonwake.RedactURL(o.Broker))
	}
	switch u.Scheme {
	case "tcp", "ssl", "ws", "wss", "mqtt", "mqtts", "tls":
	default:
		return nil, fmt.Errorf("mqtt bridge: broker %q: scheme must be tcp, ssl, ws or wss", moonwake.RedactURL(o.Broker))
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.HubID == "" {
		sum := sha256.Sum256([]byte(o.ClientID))
		o.HubID = hex.EncodeToString(sum[:5])
	}
	if !validHubID(o.HubID) {
		return nil, fmt.Errorf("mqtt bridge: hub id %q: want 1 to 32 characters a-z, 0-9", truncate(o.HubID, 40))
	}
	if o.TopicPrefix == "" {
		o.TopicPrefix = DefaultTopicPrefix
	}
	if o.DiscoveryPrefix == "" {
		o.DiscoveryPrefix = DefaultDiscoveryPrefix
	}
	for _, p := range []string{o.TopicPrefix, o.DiscoveryPrefix} {
		if err := CheckTopicPrefix(p); err != nil {
			return nil, fmt.Errorf("mqtt bridge: topic prefix %w", err)
		}
	}
	if o.ReconnectInterval <= 0 {
		o.ReconnectInterval = 30 * time.Second
	}
	if o.RepublishInterval <= 0 {
		o.RepublishInterval = 5 * time.Second
	}
	if o.ScanWindow <= 0 {
		o.ScanWindow = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.GroupWakeStagger <= 0 {
		o.GroupWakeStagger = DefaultGroupWakeStagger
	}
	scope := moonwake.Token{Name: "mqtt", Machines: slices.Clone(o.Scope.Machines), Actions: slices.Clone(o.Scope.Actions)}
	if scope.Actions == nil {
		scope.Actions = slices.Clone(DefaultActions)
	}
	if err := scope.Normalize(); err != nil {
		return nil, fmt.Errorf("mqtt bridge: command scope: %s", moonwake.ErrorMessage(err))
	}
	t := topics{prefix: o.TopicPrefix, discovery: o.DiscoveryPrefix, hub: o.HubID}
	b := &Bridge{
		o: o, t: t, scope: scope,
		disc:      discoveryInfo{topics: t, publicURL: strings.TrimSuffix(o.PublicURL, "/"), version: moonwake.Version},
		log:       o.Logger.With("component", "mqtt", "broker", moonwake.RedactURL(o.Broker)),
		connected: make(chan struct{}, 1), haOnline: make(chan struct{}, 1), dirtyC: make(chan struct{}, 1),
		cmds: make(chan message, cmdQueue), stale: make(chan scanResult, 1),
		dirty: map[string]op{}, last: map[string]*moonwake.Action{}, cmdErr: map[string]*commandError{},
		groupActs: map[string]*moonwake.GroupAction{}, groupErr: map[string]*commandError{},
		published: map[string]bool{}, groups: map[string]*publishedGroup{}, retainedSeen: map[string]bool{}, clearing: map[string]time.Time{},
		otherHubs: map[string]bool{}, noisy: newLogLimiter(), haLog: newLogLimiter(),
	}
	co := mqtt.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetCleanSession(true).
		SetStore(newByteStore()).
		SetKeepAlive(30*time.Second).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(publishTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(min(o.ReconnectInterval, 5*time.Second)).
		SetMaxReconnectInterval(o.ReconnectInterval).
		SetWill(t.status(), Offline, 1, true).
		SetOnConnectHandler(b.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			b.log.Info("mqtt connection lost; reconnecting", "error", err)
		}).
		SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
			b.log.Debug("mqtt reconnecting")
		})
	if o.TLS != nil {
		co.SetTLSConfig(o.TLS)
	}
	b.client = mqtt.NewClient(co)
	return b, nil
}

// validHubID reports whether id is 1 to 32 characters a-z, 0-9.
func validHubID(id string) bool {
	return id != "" && len(id) <= 32 && !strings.ContainsFunc(id, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9')
	})
}

// CheckTopicPrefix checks an MQTT topic prefix: one or more levels of at
// most 128 characters in all, no wildcards, no empty level (so no leading or
// trailing '/'), and not the broker's own $ topics.
func CheckTopicPrefix(p string) error {
	if p == "" || len(p) > 128 {
		return fmt.Errorf("%q: want 1 to 128 characters", p)
	}
	if strings.ContainsAny(p, "+#\x00") {
		return fmt.Errorf("%q: no MQTT wildcards (+, #)", p)
	}
	if strings.HasPrefix(p, "$") {
		return fmt.Errorf("%q: topics starting with $ are the broker's", p)
	}
	if slices.Contains(strings.Split(p, "/"), "") {
		return fmt.Errorf("%q: no empty level (leading, trailing or double '/')", p)
	}
	return nil
}

// onConnect runs on every (re)connect: it subscribes again (the session is
// clean), says online, and asks Run to publish everything.
func (b *Bridge) onConnect(c mqtt.Client) {
	b.log.Info("mqtt connected", "client_id", b.o.ClientID, "prefix", b.t.prefix, "discovery_prefix", b.t.discovery)
	// paho runs this handler on a goroutine of its own: waiting is fine.
	queue := func(_ mqtt.Client, m mqtt.Message) {
		msg := message{topic: m.Topic(), payload: slices.Clone(m.Payload()), retained: m.Retained()}
		select {
		case b.cmds <- msg:
		default:
			b.noisy.log(b.log, slog.LevelWarn, "mqtt command dropped: too many commands queued", "topic", truncate(msg.topic, 200))
		}
	}
	toks := []mqtt.Token{
		c.Subscribe(b.t.commands(), 1, queue),
		c.Subscribe(b.t.haStatus(), 1, func(_ mqtt.Client, m mqtt.Message) {
			if string(m.Payload()) == Online {
				b.haLog.log(b.log, slog.LevelInfo, "Home Assistant came online; publishing discovery again")
				nudge(b.haOnline)
			}
		}),
		c.Publish(b.t.status(), 1, true, Online),
	}
	if b.o.Groups != nil {
		toks = append(toks, c.Subscribe(b.t.groupCommands(), 1, queue))
	}
	b.wait("subscribe and say online", toks)
	nudge(b.connected)
}

// nudge signals c without blocking: one pending signal is enough.
func nudge(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run connects (retrying until the broker answers), follows the hub's
// events and serves commands until ctx ends. Call Close afterwards.
func (b *Bridge) Run(ctx context.Context) {
	b.client.Connect() // with ConnectRetry it retries in the background
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.follow(ctx)
	}()
	defer b.wg.Wait()
	// Home Assistant's birth message asks for a full republish; at most
	// one every RepublishInterval, with one more pending at most.
	var lastFull time.Time
	var again <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.connected:
			b.reconcile(ctx, true)
			lastFull = time.Now()
		case <-b.haOnline:
			if again != nil {
				continue // one is pending already
			}
			if d := b.o.RepublishInterval - time.Since(lastFull); d > 0 {
				again = time.After(d)
				continue
			}
			b.reconcile(ctx, false)
			lastFull = time.Now()
		case <-again:
			again = nil
			b.reconcile(ctx, false)
			lastFull = time.Now()
		case m := <-b.cmds:
			b.command(ctx, m)
		case <-b.dirtyC:
			b.flush(ctx)
		case s := <-b.stale:
			b.scanning = false
			b.warnOtherHubs(s.others)
			b.clearStale(ctx, s.found)
		}
	}
}

// Close says offline (retained) and disconnects. Run must have returned.
func (b *Bridge) Close() error {
	b.closeOnce.Do(func() {
		quiesce := 250 * time.Millisecond // still trying to connect: nothing to flush
		if b.client.IsConnectionOpen() {
			tok := b.client.Publish(b.t.status(), 1, true, Offline)
			if !tok.WaitTimeout(closeTimeout) {
				b.log.Warn("mqtt: offline not acknowledged in time")
			}
			quiesce = closeTimeout
		}
		b.client.Disconnect(uint(quiesce / time.Millisecond))
		b.log.Info("mqtt disconnected")
	})
	return nil
}

// follow reads the hub's events and marks the machines they concern. It
// never blocks the event broker: the subscription has its own buffer, and
// this loop only records and nudges. Falling behind anyway ends the
// subscription; then it subscribes again and marks every machine.
func (b *Bridge) follow(ctx context.Context) {
	relevant := func(e *moonwake.Event) bool {
		return e.Type == moonwake.EventState || e.Type == moonwake.EventAction || e.Type == moonwake.EventMachine
	}
	for ctx.Err() == nil {
		_, sub, err := b.o.Events.Subscribe(ctx, b.o.Events.Seq(), relevant)
		if err != nil {
			b.log.Error("mqtt: subscribe to events", "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		b.read(ctx, sub)
		sub.Close()
		if ctx.Err() == nil {
			b.log.Warn("mqtt: fell behind the hub's events; publishing every state again")
			b.mu.Lock()
			b.all = true
			b.last = map[string]*moonwake.Action{} // events were missed: ask the audit log
			b.mu.Unlock()
			nudge(b.dirtyC)
		}
	}
}

func (b *Bridge) read(ctx context.Context, sub *events.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.C:
			if !ok {
				return
			}
			b.observe(e)
		}
	}
}

// observe records what event e changes.
func (b *Bridge) observe(e *moonwake.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mark := func(name string, o op) {
		if o > b.dirty[name] || o == opDiscovery && b.dirty[name] == opRemove {
			b.dirty[name] = o
		}
	}
	switch e.Type {
	case moonwake.EventState:
		mark(e.Machine, opState)
	case moonwake.EventAction:
		var a moonwake.Action
		if json.Unmarshal(e.Data, &a) != nil || a.Machine == "" {
			return
		}
		if old := b.last[a.Machine]; old == nil || old.ID == a.ID || !a.CreatedAt.Before(old.CreatedAt) {
			b.last[a.Machine] = &a
		}
		mark(a.Machine, opState)
	case moonwake.EventMachine:
		var mc moonwake.MachineChange
		if json.Unmarshal(e.Data, &mc) != nil || mc.Machine == "" {
			return
		}
		if mc.Op == moonwake.MachineRemoved {
			delete(b.last, mc.Machine)
			delete(b.cmdErr, mc.Machine)
			b.dirty[mc.Machine] = opRemove
		} else {
			mark(mc.Machine, opDiscovery)
		}
	default:
		return
	}
	// Any of them may change a group: its members (tags), their states,
	// whether they have agents.
	b.groupsDirty = b.o.Groups != nil
	select {
	case b.dirtyC <- struct{}{}:
	default:
	}
}

// flush publishes what the events marked.
func (b *Bridge) flush(ctx context.Context) {
	b.mu.Lock()
	dirty, all, groups := b.dirty, b.all, b.groupsDirty
	b.dirty, b.all, b.groupsDirty = map[string]op{}, false, false
	b.mu.Unlock()
	if !b.client.IsConnectionOpen() {
		return // the next connect publishes everything
	}
	if all {
		b.reconcile(ctx, false)
		return
	}
	for name, o := range dirty {
		if o == opRemove {
			b.clear(name)
			continue
		}
		m, err := b.o.Machines.FindMachine(ctx, name)
		if moonwake.ErrorCode(err) == moonwake.ENotFound {
			if b.published[name] {
				b.clear(name)
			}
			continue
		} else if err != nil {
			b.log.Error("mqtt: find machine", "machine", name, "error", err)
			continue
		}
		if o == opDiscovery || !b.published[name] {
			b.publishDiscovery(m)
		}
		b.publishState(ctx, m)
	}
	if groups {
		b.refreshGroups(ctx, false)
	}
}

// reconcile publishes every machine's discovery and state, clears the
// machines published before that no longer exist, and, after a connect,
// looks for retained discovery payloads of machines deleted while the
// bridge was away.
func (b *Bridge) reconcile(ctx context.Context, scan bool) {
	if !b.client.IsConnectionOpen() {
		return
	}
	ms, err := b.o.Machines.ListMachines(ctx)
	if err != nil {
		b.log.Error("mqtt: list machines", "error", err)
		return
	}
	seen := map[string]bool{}
	for _, m := range ms {
		seen[m.Name] = true
		b.publishDiscovery(m)
		b.publishState(ctx, m)
	}
	for name := range b.published {
		if !seen[name] {
			b.clear(name)
		}
	}
	b.refreshGroups(ctx, true)
	b.log.Info("mqtt: published discovery and states", "machines", len(ms), "groups", len(b.groups))
	if scan && !b.scanning {
		b.scanning = true
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			found := b.scan(ctx)
			select {
			case b.stale <- found:
			case <-ctx.Done():
			}
		}()
	}
}

// scan subscribes to every retained discovery payload for ScanWindow and
// returns those that this bridge published: on a node of this hub
// (moonwake_<hub id>_<machine>), with a unique_id of that node and our
// availability topic. Another hub's are left alone, even under the same
// prefixes; those that share our availability topic are reported, since
// the two hubs then share availability and command topics too.
func (b *Bridge) scan(ctx context.Context) scanResult {
	var mu sync.Mutex
	var found []staleConfig
	others := map[string]bool{}
	tok := b.client.Subscribe(b.t.allConfigs(), 1, func(_ mqtt.Client, m mqtt.Message) {
		if len(m.Payload()) == 0 {
			return
		}
		parts := strings.Split(strings.TrimPrefix(m.Topic(), b.t.discovery+"/"), "/")
		if len(parts) != 4 {
			return
		}
		node := parts[1]
		if !strings.HasPrefix(node, nodePrefix) {
			return
		}
		var c struct {
			Availability string `json:"availability_topic"`
			UniqueID     string `json:"unique_id"`
		}
		if json.Unmarshal(m.Payload(), &c) != nil || c.Availability != b.t.status() {
			return
		}
		name, ours := b.t.machineOfNode(node)
		tag, group := b.t.groupOfNode(node)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case (ours || group) && strings.HasPrefix(c.UniqueID, node+"_"):
			if len(found) < maxStale {
				found = append(found, staleConfig{topic: m.Topic(), machine: name, group: tag})
			}
		case group: // ours, but not a payload this bridge made
		case !ours && len(others) < 16:
			// moonwake_<hub id>_<machine> or moonwake_<hub id>-group-<tag>
			other, _, _ := strings.Cut(strings.TrimPrefix(node, nodePrefix), "_")
			other, _, _ = strings.Cut(other, "-")
			others[truncate(other, 40)] = true
		}
	})
	if !tok.WaitTimeout(publishTimeout) || tok.Error() != nil {
		b.log.Warn("mqtt: could not look for stale discovery payloads", "error", tok.Error())
		return scanResult{}
	}
	select {
	case <-ctx.Done():
	case <-time.After(b.o.ScanWindow):
	}
	b.client.Unsubscribe(b.t.allConfigs()).WaitTimeout(publishTimeout)
	mu.Lock()
	defer mu.Unlock()
	r := scanResult{found: found}
	for id := range others {
		r.others = append(r.others, id)
	}
	slices.Sort(r.others)
	return r
}

// warnOtherHubs warns, once per hub, about other hubs whose discovery
// payloads use our availability topic: same topic prefix, same broker.
// Neither clears the other's entities, but they share the availability
// topic (one's last will marks the other's entities unavailable) and the
// command topics (a command for a machine both have runs on both).
func (b *Bridge) warnOtherHubs(others []string) {
	for _, id := range others {
		if b.otherHubs[id] {
			continue
		}
		b.otherHubs[id] = true
		b.log.Warn("mqtt: another moonwake hub publishes under the same topic prefix on this broker; "+
			"give each hub its own mqtt.topic_prefix and mqtt.client_id, or they share availability and commands",
			"prefix", b.t.prefix, "hub_id", b.t.hub, "other_hub_id", id)
	}
}

// clearStale clears the scanned discovery payloads of unknown machines.
func (b *Bridge) clearStale(ctx context.Context, found []staleConfig) {
	if len(found) == 0 || !b.client.IsConnectionOpen() {
		return
	}
	cleared := map[string]bool{}
	var toks []mqtt.Token
	var groups map[string]*groupView
	for _, s := range found {
		if s.group != "" {
			if b.groups[s.group] != nil {
				continue
			}
			if groups == nil {
				var err error
				if groups, err = b.groupsNow(ctx); err != nil {
					return // cannot tell which exist
				}
			}
			if groups[s.group] != nil {
				continue
			}
			toks = append(toks, b.client.Publish(s.topic, 1, true, []byte{}))
			if !cleared["group "+s.group] {
				cleared["group "+s.group] = true
				toks = append(toks, b.client.Publish(b.t.groupState(s.group), 1, true, []byte{}))
			}
			continue
		}
		if b.published[s.machine] {
			continue
		}
		if _, err := b.o.Machines.FindMachine(ctx, s.machine); moonwake.ErrorCode(err) != moonwake.ENotFound {
			continue // it exists, or we cannot tell
		}
		toks = append(toks, b.client.Publish(s.topic, 1, true, []byte{}))
		if !cleared[s.machine] {
			cleared[s.machine] = true
			toks = append(toks, b.client.Publish(b.t.state(s.machine), 1, true, []byte{}))
		}
	}
	b.wait("clear stale discovery", toks)
	for name := range cleared {
		if tag, ok := strings.CutPrefix(name, "group "); ok {
			b.log.Info("mqtt: cleared the retained discovery of a group that no longer exists", "group", tag)
			continue
		}
		b.log.Info("mqtt: cleared the retained discovery of a machine that no longer exists", "machine", name)
	}
}

// publishDiscovery publishes m's entities: those the scope allows, and an
// empty payload for the others, so a narrowed scope removes them.
func (b *Bridge) publishDiscovery(m *moonwake.Machine) {
	var toks []mqtt.Token
	for _, e := range entities {
		var payload []byte
		if allowed(e, &b.scope, m.Name) {
			var err error
			if payload, err = json.Marshal(b.disc.config(e, m)); err != nil {
				b.log.Error("mqtt: encode discovery", "machine", m.Name, "error", err)
				return
			}
		}
		toks = append(toks, b.client.Publish(b.t.config(e, m.Name), 1, true, payload))
	}
	if b.wait("publish discovery of "+m.Name, toks) {
		b.published[m.Name] = true
	}
}

// publishState publishes m's state document, retained.
func (b *Bridge) publishState(ctx context.Context, m *moonwake.Machine) {
	info := b.o.Monitor.Info(ctx, m.Name)
	b.mu.Lock()
	last, cmdErr := b.last[m.Name], b.cmdErr[m.Name]
	b.mu.Unlock()
	if last == nil {
		as, err := b.o.Actions.ListActions(ctx, moonwake.ActionFilter{Machine: m.Name, Limit: 1})
		if err != nil {
			b.log.Error("mqtt: last action", "machine", m.Name, "error", err)
		} else if len(as) > 0 {
			last = as[0]
			b.mu.Lock()
			if b.last[m.Name] == nil {
				b.last[m.Name] = last
			}
			b.mu.Unlock()
		}
	}
	payload, err := json.Marshal(newStateDoc(info, last, cmdErr))
	if err != nil {
		b.log.Error("mqtt: encode state", "machine", m.Name, "error", err)
		return
	}
	b.wait("publish state of "+m.Name, []mqtt.Token{b.client.Publish(b.t.state(m.Name), 1, true, payload)})
}

// clear removes a machine from Home Assistant: empty retained payloads on
// every discovery topic it may have, and on its state topic.
func (b *Bridge) clear(name string) {
	var toks []mqtt.Token
	for _, e := range entities {
		toks = append(toks, b.client.Publish(b.t.config(e, name), 1, true, []byte{}))
	}
	toks = append(toks, b.client.Publish(b.t.state(name), 1, true, []byte{}))
	if b.wait("clear "+name, toks) {
		delete(b.published, name)
		b.log.Info("mqtt: removed machine from Home Assistant", "machine", name)
	}
}

// wait waits for the broker to acknowledge toks, and reports whether it
// did for all of them.
func (b *Bridge) wait(what string, toks []mqtt.Token) bool {
	deadline := time.Now().Add(publishTimeout)
	for _, t := range toks {
		if !t.WaitTimeout(time.Until(deadline)) {
			b.log.Warn("mqtt: "+what+": no acknowledgement in time", "timeout", publishTimeout)
			return false
		}
		if err := t.Error(); err != nil {
			b.log.Warn("mqtt: "+what, "error", err)
			return false
		}
	}
	return true
}

// command handles one message on a command topic.
func (b *Bridge) command(ctx context.Context, msg message) {
	if msg.retained {
		b.retainedCommand(msg)
		return
	}
	if len(msg.payload) == 0 {
		if at, ok := b.clearing[msg.topic]; ok {
			delete(b.clearing, msg.topic)
			if time.Since(at) < clearEcho {
				return // our own clearing of a retained command
			}
		}
	}
	if strings.HasPrefix(msg.topic, b.t.prefix+"/group/") {
		b.groupCommand(ctx, msg)
		return
	}
	c, perr := ParseCommand(b.t.prefix, msg.topic, msg.payload)
	if c.Machine == "" {
		b.noisy.log(b.log, slog.LevelWarn, "mqtt: invalid command", "topic", truncate(msg.topic, 200), "error", perr)
		b.refuse("", "", perr.Error())
		return
	}
	m, err := b.o.Machines.FindMachine(ctx, c.Machine)
	if moonwake.ErrorCode(err) == moonwake.ENotFound {
		b.noisy.log(b.log, slog.LevelInfo, "mqtt: command for an unknown machine ignored", "machine", c.Machine, "entity", c.Entity)
		return
	} else if err != nil {
		b.log.Error("mqtt: find machine", "machine", c.Machine, "error", err)
		return
	}
	if perr != nil {
		b.noisy.log(b.log, slog.LevelWarn, "mqtt: invalid command", "machine", c.Machine, "error", perr)
		b.refuse(c.Machine, c.Entity, perr.Error())
		return
	}
	if !b.scope.Allows(c.Action, c.Machine) {
		msg := fmt.Sprintf("MQTT commands may not %s %s: see mqtt.actions and mqtt.machines in the hub's config", c.Action, c.Machine)
		b.noisy.log(b.log, slog.LevelWarn, "mqtt: command refused", "machine", c.Machine, "action", c.Action, "reason", "outside the command scope")
		b.refuse(c.Machine, c.Action, msg)
		return
	}
	actx, cancel := context.WithTimeout(moonwake.WithActor(ctx, moonwake.Actor{Kind: "mqtt", Name: b.o.ClientID}), commandTimeout)
	defer cancel()
	var a *moonwake.Action
	if c.Action == moonwake.ActionWake {
		a, err = b.o.Power.Wake(actx, m)
	} else {
		a, err = b.o.Power.Command(actx, m, c.Action)
	}
	if err != nil {
		b.log.Warn("mqtt: command failed", "machine", c.Machine, "action", c.Action, "error", moonwake.ErrorMessage(err))
		b.refuse(c.Machine, c.Action, moonwake.ErrorMessage(err))
		return
	}
	b.mu.Lock()
	delete(b.cmdErr, c.Machine)
	b.mu.Unlock()
	b.log.Info("mqtt: command", "machine", c.Machine, "action", c.Action, "id", a.ID, "status", a.Status)
}

// retainedCommand handles a retained message on a command topic. A
// command is an event, not a state: a retained one would run again at
// every connect of the bridge (a hub restart, a broker flap). So it runs
// nothing, is reported on <prefix>/error, and is cleared from the broker
// with an empty retained payload on its topic, so it does not come back.
// The warning is logged once per topic.
func (b *Bridge) retainedCommand(msg message) {
	if len(msg.payload) == 0 {
		return // nothing retained
	}
	c, _ := ParseCommand(b.t.prefix, msg.topic, msg.payload)
	ce := &commandError{At: time.Now().UTC(), Machine: c.Machine, Command: c.Entity,
		Error: "retained command ignored (a command must not be retained, or it would run at every reconnect); the retained message was cleared"}
	if gc, _ := ParseGroupCommand(b.t.prefix, msg.topic, msg.payload); gc.Tag != "" {
		ce.Group, ce.Command = gc.Tag, gc.Entity
	}
	if !b.retainedSeen[msg.topic] && len(b.retainedSeen) < maxStale {
		b.retainedSeen[msg.topic] = true
		b.noisy.log(b.log, slog.LevelWarn, "mqtt: retained command ignored and cleared; send commands without the retain flag",
			"topic", truncate(msg.topic, 200))
	}
	b.publishError(ce)
	if !b.client.IsConnectionOpen() {
		return
	}
	now := time.Now()
	for t, at := range b.clearing {
		if now.Sub(at) >= clearEcho {
			delete(b.clearing, t)
		}
	}
	if len(b.clearing) < maxStale {
		b.clearing[msg.topic] = now
	}
	b.wait("clear a retained command", []mqtt.Token{b.client.Publish(msg.topic, 1, true, []byte{})})
}

// publishError publishes ce on <prefix>/error, not retained.
func (b *Bridge) publishError(ce *commandError) {
	if p, err := json.Marshal(ce); err == nil && b.client.IsConnectionOpen() {
		b.client.Publish(b.t.errors(), 1, false, p)
	}
}

// refuse publishes a refused command on <prefix>/error and, for a known
// machine, in its state's attributes.
func (b *Bridge) refuse(machine, command, why string) {
	ce := &commandError{At: time.Now().UTC(), Machine: machine, Command: command, Error: why}
	b.publishError(ce)
	if machine == "" {
		return
	}
	b.mu.Lock()
	b.cmdErr[machine] = ce
	if b.dirty[machine] == 0 {
		b.dirty[machine] = opState
	}
	b.mu.Unlock()
	nudge(b.dirtyC)
}
