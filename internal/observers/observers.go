// Package observers keeps the functions registered to hear of something:
// state changes, command outcomes, agent reports. Producers are built
// before their consumers, and each consumer registers itself when it is
// built, so that the hub wires its parts in one pass.
package observers

import "sync"

// List is a list of registered functions of type F. The zero value is
// ready to use, and safe for concurrent use.
type List[F any] struct {
	mu  sync.Mutex
	fns []F
}

// Add registers fn.
func (l *List[F]) Add(fn F) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fns = append(l.fns, fn)
}

// All returns the registered functions, in the order they were added.
func (l *List[F]) All() []F {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fns[:len(l.fns):len(l.fns)]
}
