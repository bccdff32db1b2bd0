package sunshine

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// parseRoot parses a GameStream answer strictly, the way ParseServerInfo
// does: one well-formed <root> element with an integer status_code (a
// *StatusError unless 200), no directive, no second root and no text
// outside of elements. child is called for each child element of root
// with its start tag just read, and must read the element up to its end
// tag. kind names the answer in errors.
func parseRoot(kind string, b []byte, child func(d *xml.Decoder, start xml.StartElement) error) error {
	if len(b) > MaxBodySize {
		return fmt.Errorf("%s: larger than %d bytes", kind, MaxBodySize)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var (
		inRoot, done bool
		status       = -1
		msg          string
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		switch tok := tok.(type) {
		case xml.ProcInst, xml.Comment:
		case xml.Directive:
			return fmt.Errorf("%s: unexpected directive", kind)
		case xml.CharData:
			if len(bytes.TrimSpace(tok)) > 0 {
				return fmt.Errorf("%s: text outside of fields", kind)
			}
		case xml.EndElement:
			inRoot, done = false, true
		case xml.StartElement:
			if done {
				return fmt.Errorf("%s: more than one root element", kind)
			}
			if !inRoot {
				if tok.Name.Local != "root" || tok.Name.Space != "" {
					return fmt.Errorf("%s: root element is <%s>, want <root>", kind, tok.Name.Local)
				}
				inRoot = true
				for _, a := range tok.Attr {
					switch a.Name.Local {
					case "status_code":
						n, err := strconv.Atoi(strings.TrimSpace(a.Value))
						if err != nil {
							return fmt.Errorf("%s: status_code %q is not a number", kind, a.Value)
						}
						status = n
					case "status_message":
						msg = a.Value
					}
				}
				if status < 0 {
					return fmt.Errorf("%s: no status_code", kind)
				}
				continue
			}
			if err := child(d, tok); err != nil {
				return err
			}
		}
	}
	if !done {
		return fmt.Errorf("%s: no <root> element", kind)
	}
	if status != 200 {
		return &StatusError{Code: status, Message: msg}
	}
	return nil
}

// elemText reads the text of an element whose start tag was just read, up
// to its end tag, trimmed; a nested element or more than limit bytes is an
// error.
func elemText(kind string, d *xml.Decoder, name string, limit int) (string, error) {
	var sb strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("%s: <%s>: %w", kind, name, err)
		}
		switch tok := tok.(type) {
		case xml.CharData:
			if sb.Len()+len(tok) > limit {
				return "", fmt.Errorf("%s: <%s> is too long", kind, name)
			}
			sb.Write(tok)
		case xml.EndElement:
			return strings.TrimSpace(sb.String()), nil
		case xml.StartElement:
			return "", fmt.Errorf("%s: <%s> holds an element", kind, name)
		}
	}
}

// fields collects the text of the named child elements of root, each at
// most once; other elements are skipped.
func parseFields(kind string, b []byte, limit int, names ...string) (map[string]string, error) {
	got := map[string]string{}
	err := parseRoot(kind, b, func(d *xml.Decoder, start xml.StartElement) error {
		name := start.Name.Local
		known := false
		for _, n := range names {
			known = known || n == name
		}
		if !known {
			return d.Skip()
		}
		if _, dup := got[name]; dup {
			return fmt.Errorf("%s: <%s> given twice", kind, name)
		}
		v, err := elemText(kind, d, name, limit)
		if err != nil {
			return err
		}
		got[name] = v
		return nil
	})
	return got, err
}

// PairResponse is Sunshine's answer to one /pair request.
type PairResponse struct {
	Paired bool // <paired>1</paired>; 0 means the host refused
	// The hex fields, decoded; nil when absent.
	PlainCert         []byte // getservercert: the host's certificate (PEM)
	ChallengeResponse []byte // clientchallenge: encrypted hash ‖ server challenge
	PairingSecret     []byte // serverchallengeresp: server secret ‖ signature
}

// maxPairField bounds one hex field of a /pair answer.
const maxPairField = 32 << 10

// ParsePairResponse parses a /pair answer strictly: the rules of
// ParseServerInfo, a <paired> that is 0 or 1, and hex fields that are hex
// (of an even length), each at most once.
func ParsePairResponse(b []byte) (*PairResponse, error) {
	f, err := parseFields("pair", b, maxPairField, "paired", "plaincert", "challengeresponse", "pairingsecret")
	if err != nil {
		return nil, err
	}
	var r PairResponse
	switch p, ok := f["paired"]; {
	case !ok:
		return nil, errors.New("pair: no <paired>")
	case p == "1":
		r.Paired = true
	case p == "0":
	default:
		return nil, fmt.Errorf("pair: <paired> %q is not 0 or 1", p)
	}
	for name, dst := range map[string]*[]byte{
		"plaincert": &r.PlainCert, "challengeresponse": &r.ChallengeResponse, "pairingsecret": &r.PairingSecret,
	} {
		v, ok := f[name]
		if !ok {
			continue
		}
		h, err := hex.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("pair: <%s> is not hex", name)
		}
		*dst = h
	}
	return &r, nil
}

// App is one entry of the host's /applist.
type App struct {
	ID    int64
	Title string
}

// ParseAppList parses an /applist answer strictly: the rules of
// ParseServerInfo; each <App> holds exactly one <AppTitle> and one <ID> (a
// number), other elements are skipped, and no two apps share an id.
func ParseAppList(b []byte) ([]App, error) {
	var apps []App
	ids := map[int64]bool{}
	err := parseRoot("applist", b, func(d *xml.Decoder, start xml.StartElement) error {
		if start.Name.Local != "App" {
			return d.Skip()
		}
		var app App
		var haveTitle, haveID bool
		for {
			tok, err := d.Token()
			if err != nil {
				return fmt.Errorf("applist: <App>: %w", err)
			}
			switch tok := tok.(type) {
			case xml.CharData:
				if len(bytes.TrimSpace(tok)) > 0 {
					return errors.New("applist: text in <App>")
				}
			case xml.EndElement:
				if !haveTitle || !haveID {
					return errors.New("applist: <App> without <AppTitle> or <ID>")
				}
				if ids[app.ID] {
					return fmt.Errorf("applist: app id %d given twice", app.ID)
				}
				ids[app.ID] = true
				apps = append(apps, app)
				return nil
			case xml.StartElement:
				switch tok.Name.Local {
				case "AppTitle":
					if haveTitle {
						return errors.New("applist: <AppTitle> given twice")
					}
					haveTitle = true
					if app.Title, err = elemText("applist", d, "AppTitle", 1024); err != nil {
						return err
					}
				case "ID":
					if haveID {
						return errors.New("applist: <ID> given twice")
					}
					haveID = true
					v, err := elemText("applist", d, "ID", 64)
					if err != nil {
						return err
					}
					if app.ID, err = strconv.ParseInt(v, 10, 64); err != nil {
						return fmt.Errorf("applist: <ID> %q is not a number", v)
					}
				default:
					if err := d.Skip(); err != nil {
						return fmt.Errorf("applist: <%s>: %w", tok.Name.Local, err)
					}
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return apps, nil
}

// parseFlag parses an answer whose named field must be 1 (/launch's
// <gamesession>, /cancel's <cancel>); it returns the field's value.
func parseFlag(kind string, b []byte, name string) (bool, error) {
	f, err := parseFields(kind, b, 64, name)
	if err != nil {
		return false, err
	}
	switch v, ok := f[name]; {
	case !ok:
		return false, fmt.Errorf("%s: no <%s>", kind, name)
	case v == "0":
		return false, nil
	case v == "":
		return false, fmt.Errorf("%s: empty <%s>", kind, name)
	default:
		n, err := strconv.Atoi(v)
		if err != nil {
			return false, fmt.Errorf("%s: <%s> %q is not a number", kind, name, v)
		}
		return n != 0, nil
	}
}
