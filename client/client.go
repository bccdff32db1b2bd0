// Package client is a Go client for the hub's HTTP API, used by the
// command line.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
)

// Client talks to one hub with one token.
type Client struct {
	BaseURL string // https://wake.example.org
	Token   string
	HTTP    *http.Client // nil: a client with a 30 s timeout
}

// New returns a client for the hub at baseURL.
func New(baseURL, token string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, moonwake.Errorf(moonwake.EInvalid, "hub URL %q: want http(s)://host[:port]", baseURL)
	}
	if token == "" {
		return nil, moonwake.Errorf(moonwake.EInvalid, "no token: give --token or set MOONWAKE_TOKEN")
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token}, nil
}

// do sends a request and decodes a JSON answer into out (if not nil). An
// error answer becomes a *moonwake.Error with the hub's code and message.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return moonwake.Errorf(moonwake.EUnavailable, "hub %s: %v", c.BaseURL, unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var e struct{ Error, Code string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			if e.Code == "" {
				e.Code = moonwake.EInternal
			}
			return &moonwake.Error{Code: e.Code, Message: e.Error}
		}
		return moonwake.Errorf(moonwake.EUnavailable, "hub answered %s", resp.Status)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// Machine is a machine as the API shows it.
type Machine struct {
	moonwake.Machine
	PasswordSet bool       `json:"password_set"`
	Power       *PowerInfo `json:"power,omitempty"`
}

// PowerInfo is a machine's derived power state.
type PowerInfo struct {
	State    moonwake.PowerState `json:"state"`
	Since    time.Time           `json:"since"`
	Reason   string              `json:"reason"`
	Evidence *moonwake.Evidence  `json:"evidence,omitempty"`
}

// MachineInput is what CreateMachine sends.
type MachineInput struct {
	Name      string   `json:"name"`
	MAC       string   `json:"mac"`
	Host      string   `json:"host,omitempty"`
	Interface string   `json:"interface,omitempty"`
	Broadcast string   `json:"broadcast,omitempty"`
	Port      int      `json:"port,omitempty"`
	Ports     []int    `json:"ports,omitempty"`
	Password  string   `json:"password,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Relay     string   `json:"relay,omitempty"` // the relay that serves it; "": chosen by its address
}

// ListMachines returns the machines the token may see.
func (c *Client) ListMachines(ctx context.Context) ([]Machine, error) {
	var out struct{ Machines []Machine }
	return out.Machines, c.do(ctx, "GET", "/api/v1/machines", nil, &out)
}

// GetMachine returns one machine.
func (c *Client) GetMachine(ctx context.Context, name string) (*Machine, error) {
	var out Machine
	return &out, c.do(ctx, "GET", "/api/v1/machines/"+url.PathEscape(name), nil, &out)
}

// CreateMachine registers a machine.
func (c *Client) CreateMachine(ctx context.Context, in MachineInput) (*Machine, error) {
	var out Machine
	return &out, c.do(ctx, "POST", "/api/v1/machines", in, &out)
}

// DeleteMachine removes a machine.
func (c *Client) DeleteMachine(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/api/v1/machines/"+url.PathEscape(name), nil, nil)
}

// Wake asks the hub to wake a machine and returns the action.
func (c *Client) Wake(ctx context.Context, name string) (*moonwake.Action, error) {
	var out moonwake.Action
	return &out, c.do(ctx, "POST", "/api/v1/machines/"+url.PathEscape(name)+"/wake", nil, &out)
}

// Action returns an action.
func (c *Client) Action(ctx context.Context, id string) (*moonwake.Action, error) {
	var out moonwake.Action
	return &out, c.do(ctx, "GET", "/api/v1/actions/"+url.PathEscape(id), nil, &out)
}

// Actions lists recent actions, of one machine if name is not empty.
func (c *Client) Actions(ctx context.Context, name string, limit int) ([]*moonwake.Action, error) {
	q := url.Values{}
	if name != "" {
		q.Set("machine", name)
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	var out struct{ Actions []*moonwake.Action }
	return out.Actions, c.do(ctx, "GET", "/api/v1/actions?"+q.Encode(), nil, &out)
}

// TokenInput is what CreateToken sends.
type TokenInput struct {
	Name     string   `json:"name"`
	Machines []string `json:"machines,omitempty"`
	Actions  []string `json:"actions,omitempty"`
	Admin    bool     `json:"admin,omitempty"`
	// RelayEnrol makes a relay enrolment token.
	RelayEnrol bool `json:"relay_enrol,omitempty"`
	// CloudEvents makes a CloudEvents token, for POST /api/v1/cloudevents
	// only (a Knative Trigger's subscriber URL).
	CloudEvents bool `json:"cloudevents,omitempty"`
}

// CreateToken creates a token and returns it with its secret.
func (c *Client) CreateToken(ctx context.Context, in TokenInput) (*moonwake.Token, string, error) {
	var out struct {
		Token  *moonwake.Token
		Secret string
	}
	err := c.do(ctx, "POST", "/api/v1/tokens", in, &out)
	return out.Token, out.Secret, err
}

// ListTokens lists every token.
func (c *Client) ListTokens(ctx context.Context) ([]*moonwake.Token, error) {
	var out struct{ Tokens []*moonwake.Token }
	return out.Tokens, c.do(ctx, "GET", "/api/v1/tokens", nil, &out)
}

// RevokeToken revokes a token by id or name.
func (c *Client) RevokeToken(ctx context.Context, idOrName string) (*moonwake.Token, error) {
	var out moonwake.Token
	return &out, c.do(ctx, "DELETE", "/api/v1/tokens/"+url.PathEscape(idOrName), nil, &out)
}

// Event is one server-sent event from the hub.
type Event struct {
	ID   string
	Type string
	Data moonwake.Event
}

// Events streams the hub's events, of one machine if name is not empty,
// until ctx ends or the stream breaks; the channel is then closed and Err
// returns why. after is the last event seen (-1: only new ones).
func (c *Client) Events(ctx context.Context, name string, after int64) (<-chan Event, func() error, error) {
	q := url.Values{}
	if name != "" {
		q.Set("machine", name)
	}
	if after >= 0 {
		q.Set("after", fmt.Sprint(after))
	}
	req, err := http.NewRequestWithContext(ctx, "GET", c.BaseURL+"/api/v1/events?"+q.Encode(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "text/event-stream")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{} // no timeout: a stream lasts
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, moonwake.Errorf(moonwake.EUnavailable, "hub %s: %v", c.BaseURL, unwrapURLError(err))
	}
	if resp.StatusCode != 200 {
		defer resp.Body.Close()
		var e struct{ Error, Code string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, nil, &moonwake.Error{Code: e.Code, Message: e.Error}
		}
		return nil, nil, moonwake.Errorf(moonwake.EUnavailable, "hub answered %s", resp.Status)
	}
	out := make(chan Event, 16)
	var streamErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		defer resp.Body.Close()
		streamErr = readEvents(resp.Body, func(ev Event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	return out, func() error { <-done; return streamErr }, nil
}

// readEvents parses a text/event-stream body, calling emit for each event
// until emit returns false or the body ends.
func readEvents(r io.Reader, emit func(Event) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ev Event
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() > 0 {
				if err := json.Unmarshal([]byte(data.String()), &ev.Data); err != nil {
					return fmt.Errorf("event %s: %w", ev.ID, err)
				}
				if !emit(ev) {
					return nil
				}
			}
			ev, data = Event{}, strings.Builder{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			ev.ID = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			ev.Type = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(line[5:], " "))
		}
	}
	return sc.Err()
}

// Command asks the hub to shut a machine down, reboot it or put it to sleep:
// action is "shutdown", "reboot", "sleep" or "hibernate".
func (c *Client) Command(ctx context.Context, name, action string) (*moonwake.Action, error) {
	return c.CommandAfter(ctx, name, action, 0)
}

// CommandAfter is Command with a grace: the PC counts down for that long
// first, and the person there can cancel (0: none).
func (c *Client) CommandAfter(ctx context.Context, name, action string, grace time.Duration) (*moonwake.Action, error) {
	var out moonwake.Action
	path := "/api/v1/machines/" + url.PathEscape(name) + "/" + url.PathEscape(action)
	if grace > 0 {
		path += "?grace=" + url.QueryEscape(grace.String())
	}
	return &out, c.do(ctx, "POST", path, nil, &out)
}

// Cancel cancels the action with that id during its countdown.
func (c *Client) Cancel(ctx context.Context, id string) (*moonwake.Action, error) {
	var out moonwake.Action
	return &out, c.do(ctx, "POST", "/api/v1/actions/"+url.PathEscape(id)+"/cancel", nil, &out)
}

// Pair asks for a pairing code for a machine's agent.
func (c *Client) Pair(ctx context.Context, name string) (*moonwake.AgentPairing, error) {
	var out moonwake.AgentPairing
	return &out, c.do(ctx, "POST", "/api/v1/machines/"+url.PathEscape(name)+"/pair", nil, &out)
}
