package httpapi

import (
	"bytes"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/moonwake/moonwake"
)

func TestReadCommand(t *testing.T) {
	for _, c := range []struct {
		name        string
		contentType string
		headers     map[string]string
		body        string
		want        command
		err         string
	}{
		{name: "binary", headers: map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "dev.moonwake.machine.sleep.requested", "Ce-Source": "/s", "Ce-Id": "1", "Ce-Subject": "pc"},
			want: command{Action: "sleep", Machine: "pc", Source: "/s", ID: "1"}},
		{name: "structured", contentType: "application/cloudevents+json; charset=utf-8",
			body: `{"specversion":"1.0","type":"dev.moonwake.machine.hibernate.requested","source":"urn:x","id":"9","subject":"nas","data":{"note":"ignored"}}`,
			want: command{Action: "hibernate", Machine: "nas", Source: "urn:x", ID: "9"}},
		{name: "suffix only", headers: map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "dev.moonwake.machine.wake", "Ce-Source": "/s", "Ce-Id": "1", "Ce-Subject": "pc"}, err: "the hub acts on"},
		{name: "long id", headers: map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "dev.moonwake.machine.wake.requested", "Ce-Source": "/s", "Ce-Id": strings.Repeat("i", 300), "Ce-Subject": "pc"}, err: "too long"},
		{name: "no event", contentType: "text/plain", body: "wake pc", err: "not a CloudEvent"},
		{name: "too big", contentType: "application/cloudevents+json", body: `{"data":"` + strings.Repeat("x", maxBody) + `"}`, err: "larger than"},
	} {
		r := httptest.NewRequest("POST", "/api/v1/cloudevents", strings.NewReader(c.body))
		if c.contentType != "" {
			r.Header.Set("Content-Type", c.contentType)
		}
		for k, v := range c.headers {
			r.Header.Set(k, v)
		}
		got, err := readCommand(httptest.NewRecorder(), r)
		if c.err != "" {
			if moonwake.ErrorCode(err) != moonwake.EInvalid || !strings.Contains(moonwake.ErrorMessage(err), c.err) {
				t.Errorf("%s: %v, want an invalid error saying %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %+v %v, want %+v", c.name, got, err, c.want)
		}
	}
}

// FuzzReadCommand sends arbitrary requests, binary or structured, to the
// CloudEvent reader: it never panics, refuses with EInvalid only, and
// whatever it accepts is a known action on a valid machine name.
func FuzzReadCommand(f *testing.F) {
	f.Add("", "1.0", "dev.moonwake.machine.wake.requested", "/s", "1", "pc", []byte(nil))
	f.Add("application/cloudevents+json", "", "", "", "", "", []byte(`{"specversion":"1.0","type":"dev.moonwake.machine.shutdown.requested","source":"/s","id":"1","subject":"pc"}`))
	f.Add("application/cloudevents+json", "", "", "", "", "", []byte(`{"specversion":"1.0","type":"x","source":"/s","id":"1","data_base64":"AAEC"}`))
	f.Add("application/cloudevents-batch+json", "", "", "", "", "", []byte(`[{}]`))
	f.Add("application/json", "0.3", "dev.moonwake.machine.reboot.requested", "", "1", "../x", []byte(`{}`))
	f.Fuzz(func(t *testing.T, contentType, specversion, typ, source, id, subject string, body []byte) {
		r := httptest.NewRequest("POST", "/api/v1/cloudevents", bytes.NewReader(body))
		set := func(k, v string) {
			if v != "" {
				r.Header[k] = []string{v}
			}
		}
		set("Content-Type", contentType)
		set("Ce-Specversion", specversion)
		set("Ce-Type", typ)
		set("Ce-Source", source)
		set("Ce-Id", id)
		set("Ce-Subject", subject)
		c, err := readCommand(httptest.NewRecorder(), r)
		if err != nil {
			if moonwake.ErrorCode(err) != moonwake.EInvalid {
				t.Fatalf("error %v is not EInvalid", err)
			}
			return
		}
		if !slices.Contains(moonwake.KnownActions, c.Action) || !moonwake.ValidName(c.Machine) || c.ID == "" || c.Source == "" ||
			len(c.ID) > maxEventID || len(c.Source) > maxEventSource {
			t.Fatalf("accepted %+v", c)
		}
	})
}
