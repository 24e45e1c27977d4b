package retry

import (
	"math"
	"math/rand"
	"testing"
	"time"
)

var t0 = time.Date(2025, 10, 20, 6, 48, 0, 0, time.UTC)

func seeded(seed int64) func() float64 { return rand.New(rand.NewSource(seed)).Float64 }

func mustNew(t *testing.T, cfg Config, rnd func() float64) Policy {
	t.Helper()
	p, err := New(cfg, rnd, t0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// schedule runs one call whose every attempt ends with o and returns the
// delays between its attempts.
func schedule(p Policy, o Outcome) (delays []time.Duration, last Decision) {
	var c Call
	now := t0
	for {
		now = now.Add(p.Send(&c, now))
		d := p.After(&c, o, now)
		if !d.Retry {
			return delays, d
		}
		delays = append(delays, d.Delay)
		now = now.Add(d.Delay)
	}
}

func ms(v ...float64) []time.Duration {
	var out []time.Duration
	for _, x := range v {
		out = append(out, time.Duration(x*float64(time.Millisecond)))
	}
	return out
}

func same(t *testing.T, what string, got, want []time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d delays %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if d := got[i] - want[i]; d < -time.Microsecond || d > time.Microsecond {
			t.Fatalf("%s: delay %d is %s, want %s (all: %v)", what, i+1, got[i], want[i], got)
		}
	}
}

// botocore legacy, DynamoDB: _retry.json:128-135 (10 attempts, base 0.05,
// growth 2) and retryhandler.py:43-63 (base * 2^(attempts-1), no random
// number since the base is not "rand").
func TestLegacyScheduleIsDynamoDBsEntry(t *testing.T) {
	want := ms(50, 100, 200, 400, 800, 1600, 3200, 6400, 12800) // 9 back-offs between 10 attempts: 25.55 s
	for _, o := range []Outcome{Throttled, Timeout, Transient, NoSuchHost, LookupFailed} {
		p := mustNew(t, Config{Name: Legacy}, func() float64 { t.Fatal("legacy drew a random number"); return 0 })
		got, _ := schedule(p, o)
		same(t, "legacy "+o.String(), got, want)
	}
	if got, _ := schedule(mustNew(t, Config{Name: Legacy}, nil), Fatal); len(got) != 0 {
		t.Fatalf("legacy retried a fatal error: %v", got)
	}
	// The knob: full jitter draws each delay uniformly below the same bound.
	rnd := seeded(7)
	ref := seeded(7)
	got, _ := schedule(mustNew(t, Config{Name: Legacy, Jitter: JitterFull}, rnd), Throttled)
	for i, d := range want {
		want[i] = time.Duration(ref() * float64(d))
	}
	same(t, "legacy with full jitter", got, want)
}

// botocore standard: standard.py:44 (3 attempts), 366-367 and 426-429
// (random() * min(2^(attempt-1), 20) s).
func TestStandardScheduleIsFullJitterCappedAt20s(t *testing.T) {
	ref := seeded(3)
	got, _ := schedule(mustNew(t, Config{Name: Standard}, seeded(3)), Throttled)
	same(t, "standard", got, []time.Duration{time.Duration(ref() * 1e9), time.Duration(ref() * 2e9)})
	// Without jitter, and with more attempts, the bound doubles up to 20 s.
	got, _ = schedule(mustNew(t, Config{Name: Standard, Jitter: JitterNone, MaxAttempts: 8}, nil), Transient)
	same(t, "standard, no jitter, 8 attempts", got, ms(1000, 2000, 4000, 8000, 16000, 20000, 20000))
	// A failed lookup is an EndpointConnectionError (a ConnectionError): retried.
	if got, _ := schedule(mustNew(t, Config{Name: Standard}, seeded(1)), NoSuchHost); len(got) != 2 {
		t.Fatalf("standard retried a failed lookup %d times, want 2", len(got))
	}
}

// The retry quota: quota.py:7 (500), standard.py:670-674 (5 a retry, 10 a
// retry after a timeout) and 735-738 (a success gives back what the last
// retry took, or 1).
func TestStandardRetryQuota(t *testing.T) {
	p := mustNew(t, Config{Name: Standard}, seeded(1)).(*standard)
	retries := 0
	for {
		var c Call
		p.Send(&c, t0)
		d := p.After(&c, Throttled, t0)
		if d.QuotaExhausted {
			break
		}
		if !d.Retry {
			t.Fatal("neither retried nor out of quota")
		}
		retries++
	}
	if retries != 100 || p.Quota() != 0 {
		t.Fatalf("%d throttled retries before the quota ran out (left %d), want 500/5 = 100", retries, p.Quota())
	}
	// A call that succeeds on its retry gives back the retry's cost.
	p.quota.available = 20
	var c Call
	p.Send(&c, t0)
	if d := p.After(&c, Timeout, t0); !d.Retry || p.Quota() != 10 {
		t.Fatalf("a timeout's retry: %+v, quota left %d, want a retry costing 10", d, p.Quota())
	}
	p.Send(&c, t0)
	p.After(&c, Success, t0)
	if p.Quota() != 20 {
		t.Fatalf("quota %d after the retried call succeeded, want 20 (its 10 back)", p.Quota())
	}
	var first Call
	p.Send(&first, t0)
	p.After(&first, Success, t0)
	if p.Quota() != 21 {
		t.Fatalf("quota %d after a first-time success, want 21", p.Quota())
	}
}

// aws-sdk-go-v2: retry/standard.go:29-47, jitter_backoff.go:86-100 (rand *
// 2^attempt s; 20 s past attempt 4), retryable_error.go:101-105 (no such
// host is not retried).
func TestGoStandardSchedule(t *testing.T) {
	ref := seeded(5)
	got, _ := schedule(mustNew(t, Config{Name: GoStandard}, seeded(5)), Throttled)
	same(t, "go-standard", got, []time.Duration{time.Duration(ref() * 2e9), time.Duration(ref() * 4e9)})
	got, _ = schedule(mustNew(t, Config{Name: GoStandard, Jitter: JitterNone, MaxAttempts: 7}, nil), Timeout)
	same(t, "go-standard, no jitter, 7 attempts", got, ms(2000, 4000, 8000, 16000, 20000, 20000))
	if got, _ := schedule(mustNew(t, Config{Name: GoStandard}, seeded(1)), NoSuchHost); len(got) != 0 {
		t.Fatalf("go-standard retried no such host: %v", got)
	}
	if got, _ := schedule(mustNew(t, Config{Name: GoStandard}, seeded(1)), LookupFailed); len(got) != 2 {
		t.Fatalf("go-standard retried a failed (temporary) lookup %d times, want 2", len(got))
	}
	p := mustNew(t, Config{Name: GoStandard}, seeded(1)).(*goStandard)
	n := 0
	for {
		var c Call
		p.Send(&c, t0)
		if d := p.After(&c, Timeout, t0); d.QuotaExhausted {
			break
		}
		n++
	}
	if n != 50 {
		t.Fatalf("%d timeout retries before the quota ran out, want 500/10 = 50", n)
	}
	p.quota.available = 100
	var c Call
	p.Send(&c, t0)
	p.After(&c, Throttled, t0) // takes 5
	p.Send(&c, t0)
	p.After(&c, Success, t0) // gives 5 back and 1 for the successful attempt
	if p.Quota() != 101 {
		t.Fatalf("quota %d after a retried success, want 101 (95 + 5 + 1)", p.Quota())
	}
}

// botocore adaptive: the CUBIC numbers of botocore's own unit test
// (tests/unit/retries/test_throttling.py: w_max 10 gives k
// 1.9574338205844317; a throttle at 8 requests/s at t=1 gives k
// 1.8171205928321397 and a rate of 8 * 0.7).
func TestAdaptiveCubicIsBotocores(t *testing.T) {
	a := newAdaptive(Config{Name: Adaptive}, seeded(1), t0)
	a.wMax = 10
	a.k = a.zeroPoint()
	if math.Abs(a.k-1.9574338205844317) > 1e-12 {
		t.Fatalf("k = %v, want 1.9574338205844317", a.k)
	}
	if r := a.successReceived(a.k); math.Abs(r-10) > 1e-9 {
		t.Fatalf("rate at t = k is %v, want w_max 10", r)
	}
	if r := a.errorReceived(8, 1); math.Abs(r-5.6) > 1e-12 || math.Abs(a.k-1.8171205928321397) > 1e-12 {
		t.Fatalf("after a throttle at 8/s: rate %v, k %v; want 5.6, 1.8171205928321397", r, a.k)
	}
}

// Adaptive sends freely until throttled; then its token bucket paces the
// sends at the rate CUBIC set (at least 0.5/s, bucket.py:21).
func TestAdaptiveLimitsAfterAThrottle(t *testing.T) {
	p := mustNew(t, Config{Name: Adaptive}, seeded(2)).(*adaptive)
	now := t0
	// 20 requests a second for 3 s, all served: no limiter.
	for i := 0; i < 60; i++ {
		var c Call
		if w := p.Send(&c, now); w != 0 {
			t.Fatalf("waited %s before any throttle", w)
		}
		p.After(&c, Success, now)
		now = now.Add(50 * time.Millisecond)
	}
	var c Call
	p.Send(&c, now)
	d := p.After(&c, Throttled, now)
	rate, on := p.SendRate()
	if !on || !d.Retry {
		t.Fatalf("after a throttle: limiter on %v, retry %v", on, d.Retry)
	}
	if rate > 20*0.7+1e-9 || rate < bucketMinRate {
		t.Fatalf("rate after a throttle %v, want at most 0.7 × the measured ~20/s", rate)
	}
	// Sends at once take what the bucket holds (it refilled all along, up
	// to the rate), then wait in turn, one token each at that rate.
	var waits []time.Duration
	for i := 0; i < 40; i++ {
		var c Call
		if w := p.Send(&c, now); w > 0 || len(waits) > 0 {
			waits = append(waits, w)
		}
	}
	if len(waits) < 20 {
		t.Fatalf("only %d of 40 sends waited: the bucket held more than the rate", len(waits))
	}
	for i := 1; i < len(waits); i++ {
		if step := waits[i] - waits[i-1]; math.Abs(step.Seconds()-1/rate) > 1e-6 {
			t.Fatalf("sends spaced %s apart, want 1/%.3f s (waits %v)", step, rate, waits)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{Name: "exponential"}, {Name: Legacy, Jitter: "half"}, {Name: Standard, MaxAttempts: -1}} {
		if _, err := New(c, nil, t0); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
