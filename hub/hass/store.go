package hass

import (
	"bytes"
	"slices"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// byteStore is paho's in-flight store, holding packets as their wire bytes.
//
// paho's own MemoryStore keeps the packet pointers it is given, and on a
// reconnect its resend marks each stored publish as a duplicate (p.Dup =
// true) while the new connection's writer may already be sending that very
// packet: a data race, seen under -race when a publish lands just as the
// link comes back. Keeping bytes and decoding a fresh packet on every Get
// means the resend never touches a packet anyone else holds. It also keeps
// what a reconnect must resend in the order it was first sent.
type byteStore struct {
	mu    sync.Mutex
	open  bool
	keys  []string // in the order first put
	bytes map[string][]byte
}

var _ mqtt.Store = (*byteStore)(nil)

func newByteStore() *byteStore { return &byteStore{bytes: map[string][]byte{}} }

func (s *byteStore) Open() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open = true
}

// Put is called by the goroutine that owns m, before m is handed on to
// paho's writer: encoding it here is safe.
func (s *byteStore) Put(key string, m packets.ControlPacket) {
	var b bytes.Buffer
	if err := m.Write(&b); err != nil {
		return // a packet that cannot be encoded cannot be sent either
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return
	}
	if _, ok := s.bytes[key]; !ok {
		s.keys = append(s.keys, key)
	}
	s.bytes[key] = b.Bytes()
}

func (s *byteStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	b, ok := s.bytes[key]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	p, err := packets.ReadPacket(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	return p
}

func (s *byteStore) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return nil
	}
	return slices.Clone(s.keys)
}

func (s *byteStore) Del(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.bytes[key]; !ok {
		return
	}
	delete(s.bytes, key)
	s.keys = slices.DeleteFunc(s.keys, func(k string) bool { return k == key })
}

func (s *byteStore) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open = false
}

func (s *byteStore) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.bytes = nil, map[string][]byte{}
}
