package testlan

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
)

// Buffer collects a process's output and lets a test wait until a line
// appears in it, such as tshark's "Capturing on" or a server's "listening".
// It is safe for concurrent use, unlike bytes.Buffer, because exec.Cmd
// writes from its own goroutine.
type Buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced at every Write
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return len(p), nil
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitFor waits until the output contains substr, or ctx ends, or done is
// closed (the process exited: pass Proc.Done(), or nil).
func (b *Buffer) WaitFor(ctx context.Context, substr string, done <-chan struct{}) error {
	err := b.WaitUntil(ctx, func(out string) bool { return strings.Contains(out, substr) }, done)
	if err != nil {
		return fmt.Errorf("waiting for %q: %w", substr, err)
	}
	return nil
}

// WaitUntil waits until ok(output) holds, or ctx ends, or done is closed.
// ok is called with the whole output after every write, with the Buffer
// locked: it must not call the Buffer's methods.
func (b *Buffer) WaitUntil(ctx context.Context, ok func(output string) bool, done <-chan struct{}) error {
	for {
		b.mu.Lock()
		if ok(b.buf.String()) {
			b.mu.Unlock()
			return nil
		}
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-done:
			// One last look: the output may have come with the exit.
			if out := b.String(); ok(out) {
				return nil
			}
			return fmt.Errorf("the process exited; its output: %s", b.String())
		case <-ctx.Done():
			return fmt.Errorf("%w; output so far: %s", ctx.Err(), b.String())
		}
	}
}
