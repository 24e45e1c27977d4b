// Package tailbuf keeps the last bytes a child process wrote: its error,
// not its whole log, for a message that says why it failed.
package tailbuf

import (
	"bytes"
	"sync"
)

// Buffer keeps the last Max bytes written to it; safe for concurrent use
// (a process's stdout and stderr write at once).
type Buffer struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *Buffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.Max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *Buffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
