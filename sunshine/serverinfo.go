// Package sunshine is a client of Sunshine, the game-stream host that
// Moonlight clients connect to. For now it reads the unpaired /serverinfo,
// which tells whether an app runs on the host (and so whether a stream may
// be active) without any pairing.
//
// The protocol is GameStream's as Sunshine implements it: plain HTTP on the
// base port (47989 by default), XML answers whose root element carries a
// status_code attribute. This package is written from the protocol's
// public description; Sunshine's and Moonlight's GPL sources were read as
// references only.
package sunshine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is Sunshine's base port: its plain HTTP GameStream server.
const DefaultPort = 47989

// MaxBodySize bounds what ServerInfo reads: a real answer is under 2 KiB.
const MaxBodySize = 64 << 10

// ServerInfo is Sunshine's answer to /serverinfo.
type ServerInfo struct {
	Hostname   string
	UniqueID   string // the host's id, stable across restarts of one install
	AppVersion string // GameStream version mimicked: "7.1.431.-1"; a negative fourth part means Sunshine
	GfeVersion string
	// State is as sent: SUNSHINE_SERVER_BUSY or SUNSHINE_SERVER_FREE
	// (NVIDIA's GameStream used other prefixes with the same suffixes).
	State string
	// Busy is true when an app runs on the host. That is what Sunshine
	// knows: an app process is running, not that a client is connected.
	Busy bool
	// CurrentGame is the id of the running app, 0 when none. Some hosts
	// leave the last app's id here when free; trust Busy, not this.
	CurrentGame  int64
	MAC          net.HardwareAddr // nil when not given or all zeros, as unpaired answers are
	LocalIP      string
	HTTPSPort    int
	ExternalPort int
	PairStatus   int // 1 when the asking client is paired (HTTPS only)
}

// StatusError is an answer whose status_code is not 200.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("sunshine: status %d", e.Code)
	}
	return fmt.Sprintf("sunshine: status %d: %s", e.Code, e.Message)
}

// Client talks to one Sunshine host.
type Client struct {
	// HTTP sends the requests; nil means a client that uses no proxy (a
	// LAN host must not be reached through one), opens a new connection
	// for each request (Sunshine closes it after each answer) and gives up
	// after 5 seconds.
	HTTP *http.Client
	// BaseURL is the host's plain HTTP server: "http://10.0.0.5:47989".
	BaseURL string
	// UniqueID identifies this client to Sunshine, as Moonlight's
	// uniqueid does. Empty means "0123456789ABCDEF", what Moonlight sends.
	UniqueID string
}

var defaultHTTP = &http.Client{
	Timeout: 5 * time.Second,
	Transport: &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// ServerInfo asks the host for /serverinfo, unpaired. The request carries
// uniqueid and a fresh random uuid, as Moonlight's do. It returns a
// *StatusError when the host answers with a status other than 200, and an
// error naming the host (never the query) when it cannot be reached or its
// answer cannot be parsed.
func (c *Client) ServerInfo(ctx context.Context) (*ServerInfo, error) {
	base, err := url.Parse(c.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("sunshine: base URL %q: want http://host:port", c.BaseURL)
	}
	id := c.UniqueID
	if id == "" {
		id = "0123456789ABCDEF"
	}
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/serverinfo"
	u.RawQuery = url.Values{"uniqueid": {id}, "uuid": {newUUID()}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("sunshine serverinfo %s: %w", base.Host, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		// url.Error's text holds the whole URL; name the host only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("sunshine serverinfo %s: %w", base.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize+1))
	if err != nil {
		return nil, fmt.Errorf("sunshine serverinfo %s: read: %w", base.Host, err)
	}
	if len(body) > MaxBodySize {
		return nil, fmt.Errorf("sunshine serverinfo %s: answer larger than %d bytes", base.Host, MaxBodySize)
	}
	info, perr := ParseServerInfo(body)
	if resp.StatusCode != http.StatusOK {
		var se *StatusError
		if errors.As(perr, &se) {
			return nil, fmt.Errorf("sunshine serverinfo %s: HTTP %d: %w", base.Host, resp.StatusCode, se)
		}
		return nil, fmt.Errorf("sunshine serverinfo %s: HTTP %s", base.Host, resp.Status)
	}
	if perr != nil {
		return nil, fmt.Errorf("sunshine serverinfo %s: %w", base.Host, perr)
	}
	return info, nil
}

// newUUID returns a random (version 4) UUID in upper case, as Moonlight
// sends.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

// ParseServerInfo parses a /serverinfo answer strictly: one well-formed
// <root> element with an integer status_code (a *StatusError unless 200,
// with status_message), at most one of each known field, each plain text,
// a state ending in _SERVER_BUSY or _SERVER_FREE, numbers that are numbers
// and a MAC that is a MAC. Unknown elements (display modes, codec flags
// and whatever later versions add) are skipped; a DOCTYPE, a second root
// or trailing text are errors. An unknown state is an error rather than
// "free": a stream must never be mistaken for no stream.
func ParseServerInfo(b []byte) (*ServerInfo, error) {
	if len(b) > MaxBodySize {
		return nil, fmt.Errorf("serverinfo: larger than %d bytes", MaxBodySize)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var (
		info   ServerInfo
		seen   = map[string]bool{}
		inRoot bool
		done   bool
		status = -1
		msg    string
		ferr   error
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("serverinfo: %w", err)
		}
		switch tok := tok.(type) {
		case xml.ProcInst, xml.Comment:
		case xml.Directive:
			return nil, errors.New("serverinfo: unexpected directive")
		case xml.CharData:
			if len(bytes.TrimSpace(tok)) > 0 {
				return nil, errors.New("serverinfo: text outside of fields")
			}
		case xml.EndElement:
			// The decoder checks nesting, so this closes root.
			inRoot, done = false, true
		case xml.StartElement:
			if done {
				return nil, errors.New("serverinfo: more than one root element")
			}
			if !inRoot {
				if tok.Name.Local != "root" || tok.Name.Space != "" {
					return nil, fmt.Errorf("serverinfo: root element is <%s>, want <root>", tok.Name.Local)
				}
				inRoot = true
				for _, a := range tok.Attr {
					switch a.Name.Local {
					case "status_code":
						n, err := strconv.Atoi(strings.TrimSpace(a.Value))
						if err != nil {
							return nil, fmt.Errorf("serverinfo: status_code %q is not a number", a.Value)
						}
						status = n
					case "status_message":
						msg = a.Value
					}
				}
				if status < 0 {
					return nil, errors.New("serverinfo: no status_code")
				}
				continue
			}
			name := tok.Name.Local
			if !knownField(name) {
				if err := d.Skip(); err != nil {
					return nil, fmt.Errorf("serverinfo: <%s>: %w", name, err)
				}
				continue
			}
			if seen[name] {
				return nil, fmt.Errorf("serverinfo: <%s> given twice", name)
			}
			seen[name] = true
			text, err := fieldText(d, name)
			if err != nil {
				return nil, err
			}
			if err := info.set(name, text); err != nil && ferr == nil {
				ferr = err // after status_code, which says more when not 200
			}
		}
	}
	if !done {
		return nil, errors.New("serverinfo: no <root> element")
	}
	if status != 200 {
		return nil, &StatusError{Code: status, Message: msg}
	}
	if ferr != nil {
		return nil, ferr
	}
	if !seen["state"] {
		return nil, errors.New("serverinfo: no <state>")
	}
	if !info.Busy {
		// NVIDIA hosts kept the last app's id when free; Sunshine sends 0.
		// Either way no app runs.
		info.CurrentGame = 0
	}
	return &info, nil
}

func knownField(name string) bool {
	switch name {
	case "hostname", "uniqueid", "appversion", "GfeVersion", "state", "currentgame",
		"mac", "LocalIP", "HttpsPort", "ExternalPort", "PairStatus":
		return true
	}
	return false
}

// fieldText reads the text of a field whose start tag was just read, up to
// its end tag; a nested element is an error.
func fieldText(d *xml.Decoder, name string) (string, error) {
	var sb strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("serverinfo: <%s>: %w", name, err)
		}
		switch tok := tok.(type) {
		case xml.CharData:
			if sb.Len()+len(tok) > 1024 {
				return "", fmt.Errorf("serverinfo: <%s> is too long", name)
			}
			sb.Write(tok)
		case xml.EndElement:
			return strings.TrimSpace(sb.String()), nil
		case xml.StartElement:
			return "", fmt.Errorf("serverinfo: <%s> holds an element", name)
		}
	}
}

func (info *ServerInfo) set(name, v string) error {
	port := func() (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			return 0, fmt.Errorf("serverinfo: <%s> %q is not a port", name, v)
		}
		return n, nil
	}
	var err error
	switch name {
	case "hostname":
		info.Hostname = v
	case "uniqueid":
		info.UniqueID = v
	case "appversion":
		info.AppVersion = v
	case "GfeVersion":
		info.GfeVersion = v
	case "LocalIP":
		info.LocalIP = v
	case "state":
		switch {
		case strings.HasSuffix(v, "_SERVER_BUSY"):
			info.Busy = true
		case strings.HasSuffix(v, "_SERVER_FREE"):
		default:
			return fmt.Errorf("serverinfo: unknown state %q", v)
		}
		info.State = v
	case "currentgame":
		if info.CurrentGame, err = strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("serverinfo: <currentgame> %q is not a number", v)
		}
	case "PairStatus":
		if info.PairStatus, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("serverinfo: <PairStatus> %q is not a number", v)
		}
	case "mac":
		mac, err := net.ParseMAC(v)
		if err != nil || len(mac) != 6 {
			return fmt.Errorf("serverinfo: <mac> %q is not a MAC address", v)
		}
		if !bytes.Equal(mac, make([]byte, 6)) {
			info.MAC = mac
		}
	case "HttpsPort":
		info.HTTPSPort, err = port()
	case "ExternalPort":
		info.ExternalPort, err = port()
	}
	return err
}
