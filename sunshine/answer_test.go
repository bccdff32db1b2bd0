package sunshine_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/moonwake/moonwake/sunshine"
)

func TestParsePairResponse(t *testing.T) {
	r, err := sunshine.ParsePairResponse([]byte(`<?xml version="1.0" encoding="utf-8"?>
<root status_code="200"><paired>1</paired><plaincert>2D2D0a</plaincert><extra><x/></extra></root>`))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Paired || !bytes.Equal(r.PlainCert, []byte{0x2d, 0x2d, 0x0a}) || r.ChallengeResponse != nil || r.PairingSecret != nil {
		t.Errorf("got %+v", r)
	}
	r, err = sunshine.ParsePairResponse([]byte(`<root status_code="200"><paired>0</paired></root>`))
	if err != nil || r.Paired {
		t.Errorf("paired 0: %+v, %v", r, err)
	}
	_, err = sunshine.ParsePairResponse([]byte(`<root status_code="400" status_message="Invalid uniqueid"/>`))
	var se *sunshine.StatusError
	if !errors.As(err, &se) || se.Code != 400 || se.Message != "Invalid uniqueid" {
		t.Errorf("status: %v", err)
	}
	bad := map[string]string{
		"no paired":       `<root status_code="200"><plaincert>00</plaincert></root>`,
		"paired 2":        `<root status_code="200"><paired>2</paired></root>`,
		"paired twice":    `<root status_code="200"><paired>1</paired><paired>1</paired></root>`,
		"odd hex":         `<root status_code="200"><paired>1</paired><plaincert>abc</plaincert></root>`,
		"not hex":         `<root status_code="200"><paired>1</paired><pairingsecret>zz</pairingsecret></root>`,
		"nested":          `<root status_code="200"><paired><b>1</b></paired></root>`,
		"no status":       `<root><paired>1</paired></root>`,
		"bad status":      `<root status_code="x"><paired>1</paired></root>`,
		"two roots":       `<root status_code="200"><paired>1</paired></root><root status_code="200"/>`,
		"other root":      `<html status_code="200"><paired>1</paired></html>`,
		"text":            `<root status_code="200">hi<paired>1</paired></root>`,
		"doctype":         `<!DOCTYPE root><root status_code="200"><paired>1</paired></root>`,
		"unclosed":        `<root status_code="200"><paired>1</paired>`,
		"empty":           ``,
		"trailing text":   `<root status_code="200"><paired>1</paired></root>junk`,
		"challenge twice": `<root status_code="200"><paired>1</paired><challengeresponse>00</challengeresponse><challengeresponse>00</challengeresponse></root>`,
		"too long":        `<root status_code="200"><paired>1</paired><plaincert>` + strings.Repeat("00", 20000) + `</plaincert></root>`,
	}
	for name, in := range bad {
		if r, err := sunshine.ParsePairResponse([]byte(in)); err == nil {
			t.Errorf("%s: accepted as %+v", name, r)
		}
	}
}

func TestParseAppList(t *testing.T) {
	apps, err := sunshine.ParseAppList([]byte(`<?xml version="1.0" encoding="utf-8"?>
<root status_code="200">
  <App><IsHdrSupported>0</IsHdrSupported><AppTitle>Desktop</AppTitle><ID>881448767</ID></App>
  <App><AppTitle>Tom &amp; Jerry</AppTitle><ID> 12 </ID><Extra><a/></Extra></App>
  <Other/>
</root>`))
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || apps[0] != (sunshine.App{ID: 881448767, Title: "Desktop"}) || apps[1] != (sunshine.App{ID: 12, Title: "Tom & Jerry"}) {
		t.Errorf("got %+v", apps)
	}
	if apps, err := sunshine.ParseAppList([]byte(`<root status_code="200"/>`)); err != nil || len(apps) != 0 {
		t.Errorf("empty list: %v, %v", apps, err)
	}
	bad := map[string]string{
		"no id":        `<root status_code="200"><App><AppTitle>a</AppTitle></App></root>`,
		"no title":     `<root status_code="200"><App><ID>1</ID></App></root>`,
		"id not int":   `<root status_code="200"><App><AppTitle>a</AppTitle><ID>x</ID></App></root>`,
		"two titles":   `<root status_code="200"><App><AppTitle>a</AppTitle><AppTitle>b</AppTitle><ID>1</ID></App></root>`,
		"two ids":      `<root status_code="200"><App><AppTitle>a</AppTitle><ID>1</ID><ID>2</ID></App></root>`,
		"same id":      `<root status_code="200"><App><AppTitle>a</AppTitle><ID>1</ID></App><App><AppTitle>b</AppTitle><ID>1</ID></App></root>`,
		"text in app":  `<root status_code="200"><App>x<AppTitle>a</AppTitle><ID>1</ID></App></root>`,
		"nested title": `<root status_code="200"><App><AppTitle><b/></AppTitle><ID>1</ID></App></root>`,
		"status 401":   `<root status_code="401" status_message="The client is not authorized"/>`,
	}
	for name, in := range bad {
		if apps, err := sunshine.ParseAppList([]byte(in)); err == nil {
			t.Errorf("%s: accepted as %+v", name, apps)
		}
	}
}

func TestFindApp(t *testing.T) {
	apps := []sunshine.App{{ID: 1, Title: "Desktop"}, {ID: 2, Title: " Shutdown "}, {ID: 3, Title: "dup"}, {ID: 4, Title: "DUP"}}
	if a, err := sunshine.FindApp(apps, "shutdown"); err != nil || a.ID != 2 {
		t.Errorf("shutdown: %+v, %v", a, err)
	}
	if _, err := sunshine.FindApp(apps, "Steam"); !errors.Is(err, sunshine.ErrNoApp) {
		t.Errorf("missing: %v", err)
	}
	if _, err := sunshine.FindApp(apps, "dup"); err == nil {
		t.Error("two matches accepted")
	}
}

func FuzzParsePairResponse(f *testing.F) {
	f.Add([]byte(`<root status_code="200"><paired>1</paired><plaincert>00ff</plaincert></root>`))
	f.Add([]byte(`<root status_code="200"><paired>0</paired></root>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := sunshine.ParsePairResponse(b)
		if err != nil {
			if r != nil {
				t.Fatal("a result with an error")
			}
			return
		}
		// What parses was one <root>: parsing is a function of the input.
		r2, err := sunshine.ParsePairResponse(b)
		if err != nil || r2.Paired != r.Paired || !bytes.Equal(r2.PlainCert, r.PlainCert) ||
			!bytes.Equal(r2.ChallengeResponse, r.ChallengeResponse) || !bytes.Equal(r2.PairingSecret, r.PairingSecret) {
			t.Fatal("parsing twice differs")
		}
		if !bytes.Contains(b, []byte("paired")) {
			t.Fatal("parsed without a <paired>")
		}
	})
}

func FuzzParseAppList(f *testing.F) {
	f.Add([]byte(`<root status_code="200"><App><AppTitle>Shutdown</AppTitle><ID>1</ID></App></root>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		apps, err := sunshine.ParseAppList(b)
		if err != nil {
			return
		}
		seen := map[int64]bool{}
		for _, a := range apps {
			if seen[a.ID] {
				t.Fatalf("id %d twice", a.ID)
			}
			seen[a.ID] = true
		}
	})
}
