package sunshine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultShutdownApp is the title of the app ShutdownApp launches when no
// title is given.
const DefaultShutdownApp = "Shutdown"

// Paired is a host this client is paired with: its HTTPS GameStream
// server, reached with our certificate, whose certificate must be the one
// pinned during pairing. Keep URL and ServerCertPEM (and the identity) to
// make it again with NewPaired.
type Paired struct {
	URL           string // the host's HTTPS server: "https://10.0.0.5:47984"
	BaseURL       string // its plain HTTP server, when known
	ServerCertPEM []byte // the pinned certificate
	Identity      *Identity
	// UniqueID is sent as uniqueid; "" means "0123456789ABCDEF".
	UniqueID string

	base *url.URL
	hc   *http.Client
}

// NewPaired makes a Paired from what Pair returned and was kept.
func NewPaired(httpsURL string, serverCertPEM []byte, id *Identity) (*Paired, error) {
	u, err := url.Parse(httpsURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("sunshine: HTTPS URL %q: want https://host:port", httpsURL)
	}
	if id == nil || id.Cert == nil || id.Key == nil {
		return nil, errors.New("sunshine: no client identity")
	}
	cert, err := parseCertPEM(serverCertPEM)
	if err != nil {
		return nil, fmt.Errorf("sunshine: pinned certificate: %w", err)
	}
	p := &Paired{URL: httpsURL, ServerCertPEM: serverCertPEM, Identity: id, base: u}
	p.hc = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DisableKeepAlives:   true,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			TLSClientConfig:     pinnedTLS(id, cert),
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, nil
}

func (p *Paired) httpClient() *http.Client { return p.hc }

func (p *Paired) get(ctx context.Context, kind, path string, q url.Values) ([]byte, error) {
	if q == nil {
		q = url.Values{}
	}
	id := p.UniqueID
	if id == "" {
		id = "0123456789ABCDEF"
	}
	q.Set("uniqueid", id)
	q.Set("uuid", newUUID())
	body, err := fetch(ctx, p.hc, p.base, path, q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sunshine %s %s: %w", kind, p.base.Host, err)
	}
	return body, nil
}

// ServerInfo asks the host for /serverinfo over HTTPS, as a paired client:
// the answer holds the host's real MAC and PairStatus 1.
func (p *Paired) ServerInfo(ctx context.Context) (*ServerInfo, error) {
	body, err := p.get(ctx, "serverinfo", "/serverinfo", nil)
	if err != nil {
		return nil, err
	}
	info, err := ParseServerInfo(body)
	if err != nil {
		return nil, fmt.Errorf("sunshine serverinfo %s: %w", p.base.Host, err)
	}
	return info, nil
}

// AppList returns the host's apps.
func (p *Paired) AppList(ctx context.Context) ([]App, error) {
	body, err := p.get(ctx, "applist", "/applist", nil)
	if err != nil {
		return nil, err
	}
	apps, err := ParseAppList(body)
	if err != nil {
		return nil, fmt.Errorf("sunshine applist %s: %w", p.base.Host, err)
	}
	return apps, nil
}

// Launch starts the app with the given id, as Moonlight would before a
// stream (with a fresh random remote-input key), without streaming.
func (p *Paired) Launch(ctx context.Context, appID int64) error {
	keyID, err := rand.Int(rand.Reader, big.NewInt(1<<31-1))
	if err != nil {
		return fmt.Errorf("sunshine launch %s: %w", p.base.Host, err)
	}
	q := url.Values{
		"appid":              {strconv.FormatInt(appID, 10)},
		"rikey":              {hex.EncodeToString(randBytes(16))},
		"rikeyid":            {keyID.String()},
		"localAudioPlayMode": {"0"},
		"mode":               {"0x0x0"},
		"additionalStates":   {"1"},
		"sops":               {"0"},
	}
	body, err := p.get(ctx, "launch", "/launch", q)
	if err != nil {
		return err
	}
	ok, err := parseFlag("launch", body, "gamesession")
	if err != nil {
		return fmt.Errorf("sunshine launch %s: %w", p.base.Host, err)
	}
	if !ok {
		return fmt.Errorf("sunshine launch %s: the host did not start app %d", p.base.Host, appID)
	}
	return nil
}

// Cancel ends the running app.
func (p *Paired) Cancel(ctx context.Context) error {
	body, err := p.get(ctx, "cancel", "/cancel", nil)
	if err != nil {
		return err
	}
	ok, err := parseFlag("cancel", body, "cancel")
	if err != nil {
		return fmt.Errorf("sunshine cancel %s: %w", p.base.Host, err)
	}
	if !ok {
		return fmt.Errorf("sunshine cancel %s: the host did not cancel", p.base.Host)
	}
	return nil
}

// ErrNoApp is an app title the host's app list does not hold.
var ErrNoApp = errors.New("sunshine: no such app")

// FindApp finds the app titled title, compared case-insensitively (after
// trimming spaces); exactly one app must match.
func FindApp(apps []App, title string) (App, error) {
	want := strings.TrimSpace(title)
	var found []App
	for _, a := range apps {
		if strings.EqualFold(strings.TrimSpace(a.Title), want) {
			found = append(found, a)
		}
	}
	switch len(found) {
	case 0:
		return App{}, fmt.Errorf("%w titled %q", ErrNoApp, want)
	case 1:
		return found[0], nil
	}
	return App{}, fmt.Errorf("sunshine: %d apps titled %q", len(found), want)
}

// ShutdownApp launches the app titled title ("" means DefaultShutdownApp),
// found by title in the host's app list, never by a fixed id. When an app
// runs on the host (state BUSY), it is cancelled first, since Sunshine
// launches nothing while another app runs. Whether the host then goes
// down is for the caller to verify.
func (p *Paired) ShutdownApp(ctx context.Context, title string) error {
	if strings.TrimSpace(title) == "" {
		title = DefaultShutdownApp
	}
	apps, err := p.AppList(ctx)
	if err != nil {
		return err
	}
	app, err := FindApp(apps, title)
	if err != nil {
		return fmt.Errorf("sunshine shutdown %s: %w", p.base.Host, err)
	}
	info, err := p.ServerInfo(ctx)
	if err != nil {
		return err
	}
	if info.Busy {
		if err := p.Cancel(ctx); err != nil {
			return err
		}
	}
	return p.Launch(ctx, app.ID)
}

// Unpair asks the host, over HTTPS, to forget this client.
func (p *Paired) Unpair(ctx context.Context) error {
	body, err := p.get(ctx, "unpair", "/unpair", nil)
	if err != nil {
		return err
	}
	if err := parseRoot("unpair", body, func(d *xml.Decoder, _ xml.StartElement) error { return d.Skip() }); err != nil {
		return fmt.Errorf("sunshine unpair %s: %w", p.base.Host, err)
	}
	return nil
}
