package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// moonwake import against a real hub: a dry run changes nothing, an import
// registers every machine with what the file knows of it, a second run
// adds nothing, and a bad file or a name taken by another MAC imports
// nothing at all.
func TestImport(t *testing.T) {
	url, admin := startInProcessHub(t)
	env := map[string]string{"MOONWAKE_HUB": url, "MOONWAKE_TOKEN": admin}
	sample := func(name string) string { return filepath.Join("..", "..", "importer", "testdata", name) }
	machines := func() map[string]map[string]any {
		t.Helper()
		code, out, errOut := cli(t, env, "machines", "list", "--json")
		if code != 0 {
			t.Fatalf("list: exit %d: %s", code, errOut)
		}
		var list []map[string]any
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("list --json: %v: %s", err, out)
		}
		byName := map[string]map[string]any{}
		for _, m := range list {
			byName[m["name"].(string)] = m
		}
		return byName
	}

	code, out, errOut := cli(t, env, "import", "--dry-run", sample("upsnap-devices.json"))
	if code != 0 || strings.Count(out, "\n+ ") != 2 || !strings.HasPrefix(out, "+ gaming-pc") || !strings.Contains(out, "nothing changed") {
		t.Fatalf("dry run: exit %d: %s %s", code, out, errOut)
	}
	if n := len(machines()); n != 0 {
		t.Fatalf("a dry run registered %d machines", n)
	}

	if code, out, errOut = cli(t, env, "import", sample("upsnap-devices.json")); code != 0 || !strings.Contains(out, "imported 3 machines") {
		t.Fatalf("import: exit %d: %s %s", code, out, errOut)
	}
	ms := machines()
	pc := ms["gaming-pc"]
	if pc == nil || pc["host"] != "192.168.1.20" || pc["broadcast"] != "192.168.1.255" || !strings.Contains(jsonString(pc["ports"]), "47989") || !strings.Contains(jsonString(pc["tags"]), "games") {
		t.Errorf("gaming-pc as imported: %v", pc)
	}
	if nas := ms["nas"]; nas == nil || nas["password_set"] != true {
		t.Errorf("nas (with a SecureOn password) as imported: %v", nas)
	}

	if code, out, _ = cli(t, env, "import", sample("upsnap-devices.json")); code != 0 || !strings.Contains(out, "imported 0 machines, 3 already registered") {
		t.Errorf("again: exit %d: %s", code, out)
	}
	// Home Assistant knows the gaming PC too (same MAC): only the others come.
	if code, out, _ = cli(t, env, "import", "--from", "home-assistant", sample("home-assistant.yaml")); code != 0 || !strings.Contains(out, "imported 2 machines, 1 already registered") {
		t.Errorf("home assistant: exit %d: %s", code, out)
	}

	before := len(machines())
	for _, c := range []struct {
		file, content string
		want          string
	}{
		{sample("bad-upsnap.json"), "", "not-a-mac"},
		{sample("bad-home-assistant.yaml"), "", "!secret"},
		{"", "nas https://fn.example/wake?mac=02:00:00:00:99:01\nnew-pc https://fn.example/wake?mac=02:00:00:00:99:02\n", "these names are taken"},
		{"", "just some text\n", "--from"},
	} {
		file := c.file
		if file == "" {
			file = filepath.Join(t.TempDir(), "in.txt")
			if err := os.WriteFile(file, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		code, out, errOut := cli(t, env, "import", file)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, want an error naming %q: %s %s", filepath.Base(file), code, c.want, out, errOut)
		}
	}
	if after := len(machines()); after != before {
		t.Errorf("bad imports changed the machines: %d, then %d", before, after)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
