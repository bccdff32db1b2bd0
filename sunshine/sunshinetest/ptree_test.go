package sunshinetest

import (
	"bytes"
	"testing"
)

// TestBoostWriter: the bytes Boost's write_json gives for a saved app
// (values as strings, '/' escaped, four-space indents, an empty array "").
func TestBoostWriter(t *testing.T) {
	in := []byte(`{"env":{"PATH":"$(PATH):/usr/bin"},"apps":[{"name":"Sleep PC","exit-timeout":5,"auto-detach":true,"prep-cmd":[{"do":"a \"b\"","elevated":false}],"detached":[]}]}`)
	want := `{
    "env": {
        "PATH": "$(PATH):\/usr\/bin"
    },
    "apps": [
        {
            "name": "Sleep PC",
            "exit-timeout": "5",
            "auto-detach": "true",
            "prep-cmd": [
                {
                    "do": "a \"b\"",
                    "elevated": "false"
                }
            ],
            "detached": ""
        }
    ]
}
`
	tree, err := readPtree(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(writePtree(tree)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func FuzzPtree(f *testing.F) {
	f.Add([]byte(`{"apps":[{"name":"x","prep-cmd":[{"do":"y"}]}]}`))
	f.Add([]byte(`{"a":null,"b":[1,2.5,true],"c":"\u0001/"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tree, err := readPtree(b)
		if err != nil {
			return
		}
		once := writePtree(tree)
		again, err := readPtree(once)
		if err != nil {
			t.Fatalf("cannot read back what was written: %v\n%s", err, once)
		}
		if twice := writePtree(again); !bytes.Equal(once, twice) {
			t.Fatalf("not stable:\n%s\n%s", once, twice)
		}
	})
}
