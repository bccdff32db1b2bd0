package importer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// summary is what a test checks of a candidate.
type summary struct {
	Name, MAC, Host, Broadcast string
	Port                       int
	Ports                      []int
	Tags                       []string
	Password                   bool
}

func summarize(cs []Candidate) []summary {
	var out []summary
	for _, c := range cs {
		m := c.Machine
		out = append(out, summary{m.Name, m.MAC, m.Host, m.Broadcast, m.Port, m.Ports, m.Tags, m.Password != ""})
	}
	return out
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSamples(t *testing.T) {
	for _, c := range []struct {
		file, format string
		want         []summary
	}{
		{"upsnap-devices.json", UpSnap, []summary{
			{Name: "gaming-pc", MAC: "aa:bb:cc:dd:ee:01", Host: "192.168.1.20", Broadcast: "192.168.1.255", Ports: []int{47989}, Tags: []string{"games"}},
			{Name: "nas", MAC: "aa:bb:cc:dd:ee:02", Host: "192.168.1.5", Broadcast: "192.168.1.255", Tags: []string{}, Password: true},
			{Name: "b-ro-rechner", MAC: "aa:bb:cc:dd:ee:03", Host: "10.20.0.15", Tags: []string{}},
		}},
		{"home-assistant.yaml", HomeAssistant, []summary{
			{Name: "gaming-pc", MAC: "aa:bb:cc:dd:ee:01", Host: "192.168.1.20", Broadcast: "192.168.1.255", Tags: []string{}},
			{Name: "wake-the-htpc", MAC: "aa:bb:cc:dd:ee:04", Broadcast: "192.168.1.255", Port: 9, Tags: []string{}},
			{Name: "wake-office-pc", MAC: "aa:bb:cc:dd:ee:05", Tags: []string{}},
		}},
		{"core.config_entries", HomeAssistant, []summary{
			{Name: "living-room-pc", MAC: "aa:bb:cc:dd:ee:06", Broadcast: "192.168.1.255", Port: 9, Tags: []string{}},
		}},
		{"fission-spec.yaml", Fission, []summary{
			{Name: "wake-gaming-pc", MAC: "aa:bb:cc:dd:ee:01", Tags: []string{}},
		}},
		{"shortcuts.txt", Fission, []summary{
			{Name: "gaming-pc", MAC: "aa:bb:cc:dd:ee:01", Tags: []string{}},
			{Name: "pc-ddee07", MAC: "aa:bb:cc:dd:ee:07", Tags: []string{}},
			{Name: "living-room", MAC: "aa:bb:cc:dd:ee:06", Tags: []string{}},
		}},
	} {
		t.Run(c.file, func(t *testing.T) {
			data := read(t, c.file)
			if got := Detect(data); got != c.format {
				t.Errorf("Detect = %q, want %q", got, c.format)
			}
			cs, err := Parse("", data)
			if err != nil {
				t.Fatal(err)
			}
			if got := summarize(cs); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, c.want)
			}
			for _, cand := range cs {
				if cand.From == "" {
					t.Errorf("%s: no From", cand.Machine.Name)
				}
			}
		})
	}
}

// A file with one wrong entry is refused whole, and the error names every
// wrong entry and where it is.
func TestParseBadFiles(t *testing.T) {
	for _, c := range []struct {
		format string
		data   []byte
		want   []string
	}{
		{UpSnap, read(t, "bad-upsnap.json"), []string{"nothing imported", `device 2 ("Broken")`, "mac", `device 3 ("Printer")`, "host"}},
		{HomeAssistant, read(t, "bad-home-assistant.yaml"), []string{"nothing imported", "line 2", "!secret gaming_pc_mac"}},
		{UpSnap, []byte(`{"items": [`), []string{"not valid JSON"}},
		{UpSnap, []byte(`{"devices": []}`), []string{`no "items"`}},
		{UpSnap, []byte(`{"items": [{"name": 3}]}`), []string{"is a number, want a string"}},
		{UpSnap, []byte(`{"items": []}`), []string{"no machines"}},
		{Fission, []byte("https://fn.example/wake\n"), []string{"line 1", "no ?mac="}},
		{Fission, read(t, "fission-spec.yaml")[:200], []string{"no HTTPTrigger route holds a MAC"}},
		{HomeAssistant, []byte("switch:\n  - platform: wake_on_lan\n    mac: [1, 2\n"), []string{"the Home Assistant configuration"}},
		{"", []byte("hello"), []string{"--from"}},
		{"csv", []byte("a,b"), []string{`unknown format "csv"`}},
	} {
		_, err := Parse(c.format, c.data)
		if err == nil {
			t.Errorf("%s %.40q: no error", c.format, c.data)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %.40q: error %q lacks %q", c.format, c.data, err, w)
			}
		}
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"Gaming PC": "gaming-pc", "  NAS  ": "nas", "Büro--Rechner!": "b-ro-rechner", "---": "", "pc_1": "pc_1",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDirectedBroadcast(t *testing.T) {
	for _, c := range [][3]string{
		{"192.168.1.20", "255.255.255.0", "192.168.1.255"},
		{"10.20.0.15", "/16", "10.20.255.255"},
		{"10.20.0.15", "255.0.255.0", ""},
		{"10.20.0.15", "", ""},
		{"pc.lan", "24", ""},
		{"10.0.0.1", "31", ""},
	} {
		if got := directedBroadcast(c[0], c[1]); got != c[2] {
			t.Errorf("directedBroadcast(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// Names that collide after cleaning get a suffix; a MAC mentioned twice is
// one machine, named by its first mention.
func TestNamesMadeUnique(t *testing.T) {
	cs, err := Parse(UpSnap, []byte(`[{"name": "PC", "mac": "02:00:00:00:00:01"}, {"name": "pc!", "mac": "02:00:00:00:00:02"}, {"name": "again", "mac": "02-00-00-00-00-01"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Machine.Name != "pc" || cs[1].Machine.Name != "pc-2" {
		t.Errorf("candidates %+v", summarize(cs))
	}
}
