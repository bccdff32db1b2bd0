package httpapi

import (
	"encoding/json"
	"testing"
)

func TestParseMachineUpdate(t *testing.T) {
	var raw map[string]json.RawMessage
	json.Unmarshal([]byte(`{"host": null, "port": 7, "tags": ["a"], "password": "01020304"}`), &raw)
	u, err := parseMachineUpdate(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host == nil || *u.Host != "" || *u.Port != 7 || len(*u.Tags) != 1 || *u.Password != "01020304" || u.MAC != nil {
		t.Fatalf("%+v", u)
	}
	for body, want := range map[string]string{`{"relay": "office"}`: "office", `{"relay": null}`: "", `{"relay": ""}`: ""} {
		raw = nil
		json.Unmarshal([]byte(body), &raw)
		u, err := parseMachineUpdate(raw)
		if err != nil || u.Relay == nil || *u.Relay != want {
			t.Errorf("%s: %+v %v, want relay %q", body, u, err, want)
		}
	}
	raw = nil
	for _, bad := range []string{`{"name": "x"}`, `{"mac": null}`, `{"port": "7"}`, `{"tags": "a"}`, `{"host": 1}`, `{"relay": 1}`, `{"what": 1}`} {
		json.Unmarshal([]byte(bad), &raw)
		if _, err := parseMachineUpdate(raw); err == nil {
			t.Errorf("%s accepted", bad)
		}
		raw = nil
	}
}

// FuzzParseMachineUpdate feeds PATCH bodies to the merge-patch parser.
func FuzzParseMachineUpdate(f *testing.F) {
	f.Add([]byte(`{"host": null, "port": 7, "tags": ["a"]}`))
	f.Add([]byte(`{"mac": "aa:bb:cc:dd:ee:ff", "password": "01:02:03:04"}`))
	f.Add([]byte(`{"name": "x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var raw map[string]json.RawMessage
		if json.Unmarshal(b, &raw) != nil {
			return
		}
		_, _ = parseMachineUpdate(raw)
	})
}
