package hass

import (
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// The store hands out fresh packets: marking a resend as a duplicate
// never touches the packet paho's writer holds, and resends keep order.
func TestByteStore(t *testing.T) {
	s := newByteStore()
	s.Open()
	pub := func(id uint16, topic string) *packets.PublishPacket {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.Qos, p.MessageID, p.TopicName, p.Payload = 1, id, topic, []byte("ON")
		return p
	}
	first := pub(7, "mw/pc/state")
	s.Put("o.7", first)
	s.Put("o.3", pub(3, "mw/nas/state"))
	got := s.Get("o.7").(*packets.PublishPacket)
	if got == first || got.TopicName != "mw/pc/state" || string(got.Payload) != "ON" || got.MessageID != 7 || got.Qos != 1 {
		t.Fatalf("Get = %+v (same pointer %v)", got, got == first)
	}
	got.Dup = true
	if first.Dup || s.Get("o.7").(*packets.PublishPacket).Dup {
		t.Fatal("a change to a packet from Get reached the store or the original")
	}
	if keys := s.All(); len(keys) != 2 || keys[0] != "o.7" || keys[1] != "o.3" {
		t.Fatalf("All = %v, want put order", keys)
	}
	s.Del("o.7")
	s.Del("o.7") // twice: no harm
	if s.Get("o.7") != nil || len(s.All()) != 1 {
		t.Fatalf("after Del: %v", s.All())
	}
	s.Reset()
	if len(s.All()) != 0 {
		t.Fatal("Reset kept packets")
	}
	s.Close()
	s.Put("o.1", pub(1, "x"))
	if s.All() != nil {
		t.Fatal("a closed store took a packet")
	}
}
