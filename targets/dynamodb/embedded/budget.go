package embedded

import (
	"context"
	"sync"
	"time"
)

// DefaultBodyBudget bounds the request bytes the backend holds at once,
// across all requests: many clients each sending DynamoDB's largest
// request (16 MB) at the same moment must not grow the process without
// bound. A request takes its body's size (its Content-Length; the largest
// request allowed when it does not say) from the budget before its body is
// read, and gives it back once answered. When the budget is spent, a
// request waits up to bodyBudgetWait for room and is then throttled as
// DynamoDB throttles (ThrottlingException, which the SDKs retry with
// back-off); a body larger than the whole budget gets 413.
const DefaultBodyBudget = 64 << 20

// bodyBudgetWait is how long a request waits for room in the budget.
const bodyBudgetWait = 500 * time.Millisecond

// WithBodyBudget sets the bytes of request bodies held at once (default
// DefaultBodyBudget).
func WithBodyBudget(bytes int64) Option { return func(c *config) { c.bodyBudget = bytes } }

// budget is a counting semaphore of bytes.
type budget struct {
	size int64

	mu      sync.Mutex
	free    int64
	changed chan struct{} // closed at every release
}

func newBudget(size int64) *budget {
	return &budget{size: size, free: size, changed: make(chan struct{})}
}

// acquire takes n bytes, waiting up to wait for them; false when they did
// not come (or ctx ended).
func (b *budget) acquire(ctx context.Context, n int64, wait time.Duration) bool {
	var timer *time.Timer
	for {
		b.mu.Lock()
		if n <= b.free {
			b.free -= n
			b.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return true
		}
		changed := b.changed
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		case <-ctx.Done():
			timer.Stop()
			return false
		}
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.free += n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// inUse is how many bytes are taken.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size - b.free
}
