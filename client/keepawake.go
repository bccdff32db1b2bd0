package client

import (
	"context"
	"net/url"
	"time"
)

// KeepAwake is until when a machine is kept out of idle auto-off and
// scheduled shutdowns; Until is nil when it is not.
type KeepAwake struct {
	Machine string     `json:"machine"`
	Until   *time.Time `json:"until,omitempty"`
}

// SetKeepAwake keeps a machine awake until until or, if until is zero, for d.
func (c *Client) SetKeepAwake(ctx context.Context, name string, until time.Time, d time.Duration) (*KeepAwake, error) {
	in := map[string]string{}
	if until.IsZero() {
		in["for"] = d.String()
	} else {
		in["until"] = until.Format(time.RFC3339)
	}
	var out KeepAwake
	return &out, c.do(ctx, "POST", "/api/v1/machines/"+url.PathEscape(name)+"/keep-awake", in, &out)
}

// ClearKeepAwake ends a machine's keep-awake override.
func (c *Client) ClearKeepAwake(ctx context.Context, name string) (*KeepAwake, error) {
	var out KeepAwake
	return &out, c.do(ctx, "DELETE", "/api/v1/machines/"+url.PathEscape(name)+"/keep-awake", nil, &out)
}
