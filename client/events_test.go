package client

import (
	"strings"
	"testing"
)

func TestReadEvents(t *testing.T) {
	body := "retry: 2000\n\n: keep-alive\n\nid: 7\nevent: action\ndata: {\"seq\":7,\"type\":\"action\",\"machine\":\"pc\",\"data\":{\"id\":\"act_1\"}}\n\nid: 8\nevent: state\ndata: {\"seq\":8,\ndata: \"machine\":\"pc\"}\n\n"
	var got []Event
	if err := readEvents(strings.NewReader(body), func(e Event) bool { got = append(got, e); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "7" || got[0].Data.Machine != "pc" || string(got[0].Data.Data) != `{"id":"act_1"}` || got[1].Data.Seq != 8 {
		t.Fatalf("%+v", got)
	}
	if err := readEvents(strings.NewReader("data: {nope\n\n"), func(Event) bool { return true }); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

// FuzzReadEvents feeds arbitrary streams to the event-stream parser.
func FuzzReadEvents(f *testing.F) {
	f.Add("id: 1\nevent: state\ndata: {\"seq\":1}\n\n")
	f.Add(": comment\n\nretry: 10\n\n")
	f.Add("data: {\"seq\":1,\ndata: \"machine\":\"x\"}\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		_ = readEvents(strings.NewReader(s), func(Event) bool { return true })
	})
}
