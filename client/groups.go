package client

import (
	"context"
	"net/url"

	"github.com/moonwake/moonwake"
)

// GroupInput says which machines a group action is for (when no tag is
// given to GroupAction) and how far apart they start: Stagger ("2s",
// "250ms") or PerSecond, or neither for the hub's default.
type GroupInput struct {
	Machines  []string `json:"machines,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Stagger   string   `json:"stagger,omitempty"`
	PerSecond float64  `json:"per_second,omitempty"`
}

// Group is a tag and the machines that have it.
type Group struct {
	Tag      string   `json:"tag"`
	Machines []string `json:"machines"`
}

// Groups returns the tags and their machines, as the token sees them.
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	var out struct {
		Groups []Group `json:"groups"`
	}
	return out.Groups, c.do(ctx, "GET", "/api/v1/groups", nil, &out)
}

// GroupAction starts kind ("wake", "shutdown" …) on the machines with tag,
// or, with tag "", on those in.Machines and in.Tags.
func (c *Client) GroupAction(ctx context.Context, kind, tag string, in GroupInput) (*moonwake.GroupAction, error) {
	path := "/api/v1/groups/" + url.PathEscape(kind)
	if tag != "" {
		path = "/api/v1/groups/" + url.PathEscape(tag) + "/" + url.PathEscape(kind)
	}
	var out moonwake.GroupAction
	return &out, c.do(ctx, "POST", path, in, &out)
}

// FindGroupAction returns a group action and its members' progress.
func (c *Client) FindGroupAction(ctx context.Context, id string) (*moonwake.GroupAction, error) {
	var out moonwake.GroupAction
	return &out, c.do(ctx, "GET", "/api/v1/groups/actions/"+url.PathEscape(id), nil, &out)
}
