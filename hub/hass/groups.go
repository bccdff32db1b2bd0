package hass

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/moonwake/moonwake"
)

// A group is the machines that share a tag, as the API's /api/v1/groups
// lists them. Each becomes one Home Assistant device: a power switch (ON
// wakes every member, OFF shuts every one down), wake, shut-down and, when
// every member can, sleep buttons, and a sensor of the last group action's
// progress. Its commands start a group action through the same group
// service as the API, a stagger apart for a wake. A tag that no machine
// has any more is a group removed: its discovery payloads are cleared.

// DefaultGroupWakeStagger is the time between two members' wakes when
// Options.GroupWakeStagger is 0: the API's default, so that a room of PCs
// does not draw its inrush current at once.
const DefaultGroupWakeStagger = 2 * time.Second

// groupEntities are every entity a group can have, in publishing order.
var groupEntities = []entityDef{
	{componentSwitch, "power", ""},
	{componentButton, "wake", moonwake.ActionWake},
	{componentButton, "shutdown", moonwake.ActionShutdown},
	{componentButton, "sleep", moonwake.ActionSleep},
	{componentSensor, "progress", ""},
}

// Group entities that take commands, as they appear in command topics.
const entitySleep = "sleep"

// groupNodeInfix tells a group's node from a machine's: a machine's node
// is moonwake_<hub id>_<name>, a group's moonwake_<hub id>-group-<tag>.
// Hub ids hold no '-', so neither can be taken for the other.
const groupNodeInfix = "-group-"

// groupNode is a group's node in discovery topics and its device
// identifier. A node id takes a-z, A-Z, 0-9, '_' and '-'; a tag's '.'
// becomes 'D', the one upper-case letter of a node, so that the tag can be
// read back.
func (t topics) groupNode(tag string) string {
	return nodePrefix + t.hub + groupNodeInfix + strings.ReplaceAll(tag, ".", "D")
}

// groupOfNode returns the tag a discovery node of this hub's stands for;
// false for machines' and other hubs' nodes.
func (t topics) groupOfNode(node string) (string, bool) {
	enc, ok := strings.CutPrefix(node, nodePrefix+t.hub+groupNodeInfix)
	tag := strings.ReplaceAll(enc, "D", ".")
	if !ok || !moonwake.ValidTag(tag) {
		return "", false
	}
	return tag, true
}

func (t topics) groupState(tag string) string { return t.prefix + "/group/" + tag + "/state" }
func (t topics) groupCommands() string        { return t.prefix + "/group/+/+/set" }
func (t topics) groupCommand(tag, e string) string {
	return t.prefix + "/group/" + tag + "/" + e + "/set"
}
func (t topics) groupConfig(e entityDef, tag string) string {
	return t.discovery + "/" + e.component + "/" + t.groupNode(tag) + "/" + e.object + "/config"
}

// groupSlug turns a tag into the object part of an entity id.
func groupSlug(tag string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(tag)
}

// groupConfig returns entity e's discovery payload for the group tag.
func (d discoveryInfo) groupConfig(e entityDef, tag string) map[string]any {
	node := d.groupNode(tag)
	dev := map[string]any{
		"identifiers":  []string{node},
		"name":         "Group " + tag,
		"manufacturer": "moonwake",
		"model":        "Group of machines (tag " + tag + ")",
		"sw_version":   d.version,
	}
	if d.publicURL != "" {
		dev["configuration_url"] = d.publicURL + "/"
	}
	c := map[string]any{
		"unique_id":             node + "_" + e.component + "_" + e.object,
		"default_entity_id":     e.component + ".group_" + groupSlug(tag) + "_" + e.object,
		"availability_topic":    d.status(),
		"payload_available":     Online,
		"payload_not_available": Offline,
		"device":                dev,
		"origin":                d.origin(),
		"qos":                   1,
	}
	state := d.groupState(tag)
	switch e.component + "/" + e.object {
	case "switch/power":
		powerSwitch(c, d.groupCommand(tag, entityPower), state)
	case "button/wake", "button/shutdown", "button/sleep":
		button(c, e.object, d.groupCommand(tag, e.object))
	case "sensor/progress":
		c["name"] = "Progress"
		c["icon"] = "mdi:progress-check"
		c["state_topic"] = state
		c["value_template"] = "{{ value_json.progress.summary }}"
		c["json_attributes_topic"] = state
		c["json_attributes_template"] = "{{ value_json.progress | tojson }}"
	}
	return c
}

// GroupCommand is a parsed request from Home Assistant to a group: do
// Action to every machine tagged Tag. Entity says which entity asked.
type GroupCommand struct {
	Tag    string
	Entity string
	Action string // moonwake.ActionWake, ActionShutdown or ActionSleep
}

// ParseGroupCommand reads a group command from a message on topic with
// payload, for a bridge whose topic prefix is prefix. Group command topics
// are <prefix>/group/<tag>/<entity>/set; the entities are power (ON, OFF),
// and the wake, shutdown and sleep buttons (PRESS). It is as strict as
// ParseCommand, and its errors never quote the payload.
func ParseGroupCommand(prefix, topic string, payload []byte) (GroupCommand, error) {
	rest, ok := strings.CutPrefix(topic, prefix+"/group/")
	if !ok || prefix == "" {
		return GroupCommand{}, fmt.Errorf("topic is not a group command topic under %s/group/", prefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[2] != "set" {
		return GroupCommand{}, fmt.Errorf("topic: want %s/group/<tag>/<entity>/set", prefix)
	}
	tag, entity := parts[0], parts[1]
	if !moonwake.ValidTag(tag) {
		return GroupCommand{}, fmt.Errorf("topic: %q is not a tag", truncate(tag, 40))
	}
	switch entity {
	case entityPower, entityWake, entityShutdown, entitySleep:
	default:
		return GroupCommand{}, fmt.Errorf("topic: unknown entity %q (want power, wake, shutdown or sleep)", truncate(entity, 16))
	}
	c := GroupCommand{Tag: tag, Entity: entity}
	var err error
	c.Action, err = commandAction(entity, payload)
	return c, err
}

// groupView is one group as the bridge last saw it.
type groupView struct {
	tag     string
	members []*moonwake.Machine // sorted by name
	infos   []moonwake.PowerInfo
}

// groupStateDoc is the retained JSON on <prefix>/group/<tag>/state.
type groupStateDoc struct {
	Power      string          `json:"power"` // ON, OFF or None
	Attributes groupAttributes `json:"attributes"`
	Progress   groupProgress   `json:"progress"`
}

type groupAttributes struct {
	Tag    string                         `json:"tag"`
	Up     int                            `json:"members_up"`
	Total  int                            `json:"members"`
	States map[string]moonwake.PowerState `json:"states"` // by member
	// Sleep says whether the group has a sleep button: every member may
	// be put to sleep over MQTT and has an agent.
	Sleep bool `json:"sleep_supported"`
	// LastCommandError is the last command over MQTT to this group that
	// was refused.
	LastCommandError *commandError `json:"last_command_error,omitempty"`
}

// groupProgress is the group's last action started over MQTT.
type groupProgress struct {
	Summary string `json:"summary"` // "none", or "<done>/<total>" members whose action ended
	ID      string `json:"id,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Status  string `json:"status,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Done    int    `json:"done"`
	Total   int    `json:"total"`
	// Members is each member's status: pending, running, succeeded, failed.
	Members    map[string]string `json:"members,omitempty"`
	At         *time.Time        `json:"at,omitempty"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
}

// groupPower is the group's switch state: ON when every member is up,
// OFF as soon as one member is known not to be (off, waking), and None
// when the only doubt is members whose state is unknown.
func groupPower(infos []moonwake.PowerInfo) string {
	unknown := false
	for _, i := range infos {
		switch {
		case i.State.Up():
		case i.State == moonwake.StateUnknown || i.State == "":
			unknown = true
		default:
			return PayloadOff
		}
	}
	if unknown || len(infos) == 0 {
		return payloadNone
	}
	return PayloadOn
}

// newGroupProgress summarises a group action; nil: none yet.
func newGroupProgress(g *moonwake.GroupAction) groupProgress {
	if g == nil {
		return groupProgress{Summary: "none"}
	}
	p := groupProgress{ID: g.ID, Kind: g.Kind, Status: g.Status, Detail: g.Detail, Total: len(g.Members),
		Members: map[string]string{}, FinishedAt: g.FinishedAt}
	at := g.CreatedAt
	p.At = &at
	for _, m := range g.Members {
		p.Members[m.Machine] = m.Status
		if m.Status != moonwake.StatusPending && m.Status != moonwake.StatusRunning {
			p.Done++
		}
	}
	p.Summary = fmt.Sprintf("%d/%d", p.Done, p.Total)
	return p
}

// canSleep reports whether every member of g may be put to sleep over
// MQTT and has an agent, the only way moonwake has to put a PC to sleep.
func (b *Bridge) canSleep(g *groupView) bool {
	for i, m := range g.members {
		if !b.scope.Allows(moonwake.ActionSleep, m.Name) || g.infos[i].Agent == nil {
			return false
		}
	}
	return true
}

// groupAllowed reports whether g gets entity e: a button when the scope
// allows its action on every member (sleep also needs every member's
// agent), the switch when wake or shutdown is allowed on every member, the
// progress sensor always.
func (b *Bridge) groupAllowed(e entityDef, g *groupView) bool {
	all := func(action string) bool {
		for _, m := range g.members {
			if !b.scope.Allows(action, m.Name) {
				return false
			}
		}
		return true
	}
	switch {
	case e.action == moonwake.ActionSleep:
		return b.canSleep(g)
	case e.action != "":
		return all(e.action)
	case e.component == componentSwitch:
		return all(moonwake.ActionWake) || all(moonwake.ActionShutdown)
	}
	return true
}

// groupsNow reads the groups from the machines: every tag and its
// members, with their power states.
func (b *Bridge) groupsNow(ctx context.Context) (map[string]*groupView, error) {
	ms, err := b.o.Machines.ListMachines(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*groupView{}
	info := map[string]moonwake.PowerInfo{}
	for _, m := range ms {
		for _, t := range m.Tags {
			g := out[t]
			if g == nil {
				g = &groupView{tag: t}
				out[t] = g
			}
			if _, ok := info[m.Name]; !ok {
				info[m.Name] = b.o.Monitor.Info(ctx, m.Name)
			}
			g.members = append(g.members, m)
			g.infos = append(g.infos, info[m.Name])
		}
	}
	for _, g := range out {
		// Sorted members, so that the documents compare equal when
		// nothing changed.
		idx := make([]int, len(g.members))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, c int) int { return strings.Compare(g.members[a].Name, g.members[c].Name) })
		ms, is := make([]*moonwake.Machine, len(idx)), make([]moonwake.PowerInfo, len(idx))
		for i, j := range idx {
			ms[i], is[i] = g.members[j], g.infos[j]
		}
		g.members, g.infos = ms, is
	}
	return out, nil
}

// publishedGroup is what the bridge has published for a group, to publish
// only what changed.
type publishedGroup struct {
	configs map[string][]byte // by entity object (component/object)
	state   []byte
}

// refreshGroups publishes the groups' discovery payloads and states that
// changed (every one when force), and clears the groups that are gone.
// It runs on Run's loop.
func (b *Bridge) refreshGroups(ctx context.Context, force bool) {
	if b.o.Groups == nil || !b.client.IsConnectionOpen() {
		return
	}
	groups, err := b.groupsNow(ctx)
	if err != nil {
		b.log.Error("mqtt: list groups", "error", err)
		return
	}
	for _, tag := range slices.Sorted(maps.Keys(groups)) {
		b.publishGroup(groups[tag], force)
	}
	for tag := range b.groups {
		if groups[tag] == nil {
			b.clearGroup(tag)
		}
	}
}

// publishGroup publishes g's discovery payloads and state where they
// changed since the last time, or all of them when force.
func (b *Bridge) publishGroup(g *groupView, force bool) {
	pub := b.groups[g.tag]
	if pub == nil {
		pub = &publishedGroup{configs: map[string][]byte{}}
	}
	var toks []mqtt.Token
	configs := map[string][]byte{}
	for _, e := range groupEntities {
		var payload []byte
		if b.groupAllowed(e, g) {
			var err error
			if payload, err = json.Marshal(b.disc.groupConfig(e, g.tag)); err != nil {
				b.log.Error("mqtt: encode group discovery", "group", g.tag, "error", err)
				return
			}
		}
		key := e.component + "/" + e.object
		configs[key] = payload
		if old, ok := pub.configs[key]; force || !ok || !bytes.Equal(old, payload) {
			toks = append(toks, b.client.Publish(b.t.groupConfig(e, g.tag), 1, true, payload))
		}
	}
	b.mu.Lock()
	cmdErr := b.groupErr[g.tag]
	prog := b.groupActs[g.tag]
	b.mu.Unlock()
	doc := groupStateDoc{
		Power: groupPower(g.infos),
		Attributes: groupAttributes{Tag: g.tag, Total: len(g.members), States: map[string]moonwake.PowerState{},
			Sleep: b.canSleep(g), LastCommandError: cmdErr},
		Progress: newGroupProgress(prog),
	}
	for i, m := range g.members {
		st := g.infos[i].State
		if st == "" {
			st = moonwake.StateUnknown
		}
		doc.Attributes.States[m.Name] = st
		if st.Up() {
			doc.Attributes.Up++
		}
	}
	state, err := json.Marshal(doc)
	if err != nil {
		b.log.Error("mqtt: encode group state", "group", g.tag, "error", err)
		return
	}
	if force || !bytes.Equal(pub.state, state) {
		toks = append(toks, b.client.Publish(b.t.groupState(g.tag), 1, true, state))
	}
	if len(toks) == 0 {
		return
	}
	if b.wait("publish group "+g.tag, toks) {
		pub.configs, pub.state = configs, state
		if b.groups[g.tag] == nil {
			b.log.Info("mqtt: published group to Home Assistant", "group", g.tag, "members", len(g.members))
		}
		b.groups[g.tag] = pub
	}
}

// clearGroup removes a group from Home Assistant: empty retained payloads
// on every discovery topic it may have, and on its state topic.
func (b *Bridge) clearGroup(tag string) {
	var toks []mqtt.Token
	for _, e := range groupEntities {
		toks = append(toks, b.client.Publish(b.t.groupConfig(e, tag), 1, true, []byte{}))
	}
	toks = append(toks, b.client.Publish(b.t.groupState(tag), 1, true, []byte{}))
	if b.wait("clear group "+tag, toks) {
		delete(b.groups, tag)
		b.mu.Lock()
		delete(b.groupActs, tag)
		delete(b.groupErr, tag)
		b.mu.Unlock()
		b.log.Info("mqtt: removed group from Home Assistant", "group", tag)
	}
}

// markGroups asks Run's loop to refresh the groups.
func (b *Bridge) markGroups() {
	if b.o.Groups == nil {
		return
	}
	b.mu.Lock()
	b.groupsDirty = true
	b.mu.Unlock()
	nudge(b.dirtyC)
}

// groupCommand handles one message on a group command topic: a group
// action on the tag's machines, through the group service, with the
// bridge's actor, as POST /api/v1/groups/{tag}/{kind} would start it.
func (b *Bridge) groupCommand(ctx context.Context, msg message) {
	c, perr := ParseGroupCommand(b.t.prefix, msg.topic, msg.payload)
	if c.Tag == "" {
		b.noisy.log(b.log, slog.LevelWarn, "mqtt: invalid group command", "topic", truncate(msg.topic, 200), "error", perr)
		b.refuse("", "", perr.Error())
		return
	}
	groups, err := b.groupsNow(ctx)
	if err != nil {
		b.log.Error("mqtt: list groups", "error", err)
		return
	}
	g := groups[c.Tag]
	if g == nil {
		b.noisy.log(b.log, slog.LevelInfo, "mqtt: command for an unknown group ignored", "group", c.Tag, "entity", c.Entity)
		return
	}
	if perr != nil {
		b.noisy.log(b.log, slog.LevelWarn, "mqtt: invalid group command", "group", c.Tag, "error", perr)
		b.refuseGroup(c.Tag, c.Entity, perr.Error())
		return
	}
	for _, m := range g.members {
		if !b.scope.Allows(c.Action, m.Name) {
			why := fmt.Sprintf("MQTT commands may not %s %s (in group %s): see mqtt.actions and mqtt.machines in the hub's config; nothing was started",
				c.Action, m.Name, c.Tag)
			b.noisy.log(b.log, slog.LevelWarn, "mqtt: group command refused", "group", c.Tag, "action", c.Action, "reason", "outside the command scope")
			b.refuseGroup(c.Tag, c.Action, why)
			return
		}
	}
	stagger := time.Duration(0)
	if c.Action == moonwake.ActionWake {
		stagger = b.o.GroupWakeStagger
	}
	actx, cancel := context.WithTimeout(moonwake.WithActor(ctx, moonwake.Actor{Kind: "mqtt", Name: b.o.ClientID}), commandTimeout)
	defer cancel()
	ga, err := b.o.Groups.StartGroup(actx, c.Action, c.Tag, g.members, stagger)
	if err != nil {
		b.log.Warn("mqtt: group command failed", "group", c.Tag, "action", c.Action, "error", moonwake.ErrorMessage(err))
		b.refuseGroup(c.Tag, c.Action, moonwake.ErrorMessage(err))
		return
	}
	b.mu.Lock()
	delete(b.groupErr, c.Tag)
	b.groupActs[c.Tag] = ga
	b.mu.Unlock()
	b.log.Info("mqtt: group command", "group", c.Tag, "action", c.Action, "id", ga.ID, "members", len(ga.Members))
	b.markGroups()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.followGroup(ctx, c.Tag, ga.ID)
	}()
}

// groupPoll is how often a running group action's progress is read.
const groupPoll = time.Second

// followGroup reads a group action's progress until it ends, and has the
// group's state published whenever it changed. A newer action on the
// same group takes over.
func (b *Bridge) followGroup(ctx context.Context, tag, id string) {
	var last []byte
	for ctx.Err() == nil {
		wctx, cancel := context.WithTimeout(ctx, groupPoll)
		g, err := b.o.Groups.WaitGroupAction(wctx, id)
		cancel()
		if err != nil {
			return // forgotten (the hub keeps the latest ones)
		}
		b.mu.Lock()
		cur := b.groupActs[tag]
		if cur == nil || cur.ID != id {
			b.mu.Unlock()
			return
		}
		b.groupActs[tag] = g
		b.mu.Unlock()
		if now, _ := json.Marshal(g); !bytes.Equal(now, last) {
			last = now
			b.markGroups()
		}
		if g.Done() {
			return
		}
	}
}

// refuseGroup publishes a refused group command on <prefix>/error and in
// the group's state's attributes.
func (b *Bridge) refuseGroup(tag, command, why string) {
	ce := &commandError{At: time.Now().UTC(), Group: tag, Command: command, Error: why}
	b.publishError(ce)
	b.mu.Lock()
	b.groupErr[tag] = ce
	b.mu.Unlock()
	b.markGroups()
}
