package agent

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseConfig(t *testing.T) {
	full := `
hub: https://moonwake.example.org/prefix
state: /var/lib/moonwake-agent/state.json
report_interval: 30s
ack_delay: 500ms
commands:
  shutdown: ["/usr/bin/touch", "/tmp/off"]
  sleep:
    - /usr/bin/systemctl
    - suspend-then-hibernate
`
	c, err := ParseConfig([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Hub: "https://moonwake.example.org/prefix", State: "/var/lib/moonwake-agent/state.json",
		ReportInterval: 30 * time.Second, AckDelay: 500 * time.Millisecond,
		Commands: map[string][]string{
			"shutdown": {"/usr/bin/touch", "/tmp/off"},
			"sleep":    {"/usr/bin/systemctl", "suspend-then-hibernate"},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if c, err := ParseConfig(nil); err != nil || !reflect.DeepEqual(c, Config{}) {
		t.Errorf("empty file: %+v, %v", c, err)
	}
	if c, err := ParseConfig([]byte("# only comments\n")); err != nil || c.StatePath() != DefaultStatePath() {
		t.Errorf("comments only: %+v, %v", c, err)
	}

	for name, in := range map[string]string{
		"unknown key":         "hub: http://h\nshutdown: [x]\n",
		"misspelt key":        "comands:\n  shutdown: [x]\n",
		"unknown command":     "commands:\n  format: [x]\n",
		"command as a string": "commands:\n  shutdown: /usr/bin/touch /tmp/x\n",
		"empty argv":          "commands:\n  shutdown: []\n",
		"empty program":       "commands:\n  shutdown: ['']\n",
		"nul in argument":     "commands:\n  shutdown: [\"a\\0b\"]\n",
		"hub not http":        "hub: ftp://h\n",
		"hub with a token":    "hub: https://user:secret@h\n",
		"hub with a query":    "hub: https://h/?token=x\n",
		"relative state":      "state: state.json\n",
		"report too often":    "report_interval: 10ms\n",
		"report not duration": "report_interval: often\n",
		"negative ack delay":  "ack_delay: -1s\n",
		"two documents":       "hub: http://a\n---\nhub: http://b\n",
		"not a map":           "- a\n- b\n",
		"too many arguments":  "commands:\n  shutdown: [" + strings.Repeat("a,", 65) + "a]\n",
	} {
		if _, err := ParseConfig([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReadConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.yaml")
	if _, err := ReadConfig(p); err == nil {
		t.Error("a missing file that was asked for is an error")
	}
	os.WriteFile(p, []byte("commands:\n  reboot: [/bin/true]\n"), 0o644)
	c, err := ReadConfig(p)
	if err != nil || c.Commands["reboot"][0] != "/bin/true" {
		t.Fatalf("ReadConfig = %+v, %v", c, err)
	}
	os.WriteFile(p, []byte("bogus: 1\n"), 0o644)
	if _, err := ReadConfig(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("ReadConfig of a bad file = %v; want the path in the error", err)
	}
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "state.json")
	if _, err := ReadState(p); !errors.Is(err, ErrNotPaired) {
		t.Fatalf("ReadState of nothing = %v", err)
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	hubPub, _, _ := ed25519.GenerateKey(nil)
	s := &State{
		Hub: "http://127.0.0.1:1", ID: "agent_abc", Machine: "pc",
		HubPublicKey: hubPub, PrivateKey: priv.Seed(), PairedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if err := WriteState(p, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) || !bytes.Equal(got.Key(), priv) {
		t.Fatalf("read back %+v", got)
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("state mode %v", fi.Mode())
		}
		// ssh's rule: a private key others can read is refused.
		os.Chmod(p, 0o644)
		if _, err := ReadState(p); err == nil || !strings.Contains(err.Error(), "others may read") {
			t.Errorf("ReadState of a world-readable file = %v", err)
		}
		os.Chmod(p, 0o600)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	os.WriteFile(p, []byte(`{"hub":"http://h","id":"agent_abc"}`), 0o600)
	if _, err := ReadState(p); err == nil || strings.Contains(err.Error(), "private_key") {
		t.Errorf("ReadState of an incomplete file = %v", err)
	}
	os.WriteFile(p, []byte(`not json`), 0o600)
	if _, err := ReadState(p); err == nil {
		t.Error("ReadState of garbage succeeded")
	}
}

// FuzzParseConfig checks that whatever is accepted is valid and survives a
// round trip through YAML. Seeds are in testdata/fuzz/FuzzParseConfig.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("hub: http://h:8080\ncommands:\n  shutdown: [touch, /tmp/x]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		if err := c.check(); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
		for name, argv := range c.Commands {
			p, err := PlanCommand(name, c.Commands)
			if err != nil || !p.Override || !reflect.DeepEqual(p.Argv, argv) {
				t.Fatalf("override %s = %v: plan %+v, %v", name, argv, p, err)
			}
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("re-marshalled config refused: %v\n%s", err, out)
		}
		if len(c.Commands) == 0 {
			c.Commands, again.Commands = nil, nil
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip: %+v → %+v", c, again)
		}
	})
}
