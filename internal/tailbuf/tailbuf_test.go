package tailbuf

import "testing"

func TestKeepsTheLastBytes(t *testing.T) {
	b := &Buffer{Max: 5}
	b.Write([]byte("hello "))
	b.Write([]byte("world"))
	if got := b.String(); got != "world" {
		t.Fatalf("kept %q, want the last 5 bytes %q", got, "world")
	}
}
