// Package retry holds the retry policies of the SDKs a fleet's members
// imitate, as state machines with the numbers of the SDKs' own sources (cited
// where each number is used; botocore at commit 0e6e2404 of
// github.com/boto/botocore, aws-sdk-go-v2's aws module v1.47.7 and
// service/dynamodb v1.73.1 from the Go module cache). Both SDKs carry a
// newer retry behaviour behind AWS_NEW_RETRIES_2026=true (botocore's
// configprovider.py, aws-sdk-go-v2's retry.newRetries2026); these are the
// default behaviours, the ones a client gets without that switch.
//
// A Policy is one client's (one member's): its retry quota and its
// client-side rate limiter are per client, as in the SDKs. A Call is one
// logical request's retry state (the quota it holds). Time and random
// numbers are the caller's, so a test replays a schedule exactly.
package retry

import (
	"fmt"
	"math"
	"time"
)

// Names of the policies (spec: clients[].fleet.retry).
const (
	Legacy     = "legacy"      // botocore's legacy mode, DynamoDB's entry of _retry.json
	Standard   = "standard"    // botocore's standard mode
	Adaptive   = "adaptive"    // botocore's adaptive mode: standard plus a client-side rate limiter
	GoStandard = "go-standard" // aws-sdk-go-v2's standard retryer, as the DynamoDB client sets it
)

// Names lists the policies.
var Names = []string{Legacy, Standard, Adaptive, GoStandard}

// Outcome is how one attempt ended, in the classes the SDKs retry on.
type Outcome int

const (
	Success   Outcome = iota
	Throttled         // ThrottlingException, ProvisionedThroughputExceededException (HTTP 400)
	Timeout           // the attempt's timeout ran out (botocore ReadTimeoutError; Go: a Timeout() error)
	Transient         // a connection error (refused, reset) or HTTP 500/502/503/504
	// NoSuchHost is a lookup that found no address (NXDOMAIN, or NODATA
	// with SOA): botocore's EndpointConnectionError, retried; Go's
	// *net.DNSError with IsNotFound, not retried (retry/retryable_error.go:101-105).
	NoSuchHost
	// LookupFailed is a lookup that failed otherwise (SERVFAIL, a timeout):
	// retried by both.
	LookupFailed
	Fatal // any other error: not retried
)

func (o Outcome) String() string {
	return [...]string{"success", "throttled", "timeout", "transient", "no-such-host", "lookup-failed", "fatal"}[o]
}

// Jitter of the back-off: the policy's own, none (the delay's upper bound
// every time) or full (uniform in [0, that bound)).
const (
	JitterDefault = ""
	JitterNone    = "none"
	JitterFull    = "full"
)

// Config makes a member's policy.
type Config struct {
	Name   string
	Jitter string // JitterDefault: the SDK's own
	// MaxAttempts overrides the SDK's (0: its own).
	MaxAttempts int
}

// Validate says what is wrong.
func (c Config) Validate() error {
	switch c.Name {
	case Legacy, Standard, Adaptive, GoStandard:
	default:
		return fmt.Errorf("unknown retry policy %q; expected one of legacy, standard, adaptive, go-standard", c.Name)
	}
	switch c.Jitter {
	case JitterDefault, JitterNone, JitterFull:
	default:
		return fmt.Errorf("unknown jitter %q; expected none or full", c.Jitter)
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > 100 {
		return fmt.Errorf("max attempts %d: expected 1 to 100 (0: the SDK's own)", c.MaxAttempts)
	}
	return nil
}

// Decision is what a policy decides after an attempt.
type Decision struct {
	Retry bool
	Delay time.Duration // before the next attempt
	// QuotaExhausted: a retryable error not retried because the retry
	// quota had too little left.
	QuotaExhausted bool
}

// Call is one logical request's state.
type Call struct {
	attempts  int
	heldQuota int // the quota its last retry took (refunded on success)
}

// Attempts made so far.
func (c *Call) Attempts() int { return c.attempts }

// Policy is one client's retry behaviour. Not safe for concurrent use: a
// member's calls serialize on it.
type Policy interface {
	// Send is called before each attempt at now; it returns how long the
	// attempt must wait first (adaptive's client-side rate limiter; 0
	// otherwise) and counts the attempt.
	Send(c *Call, now time.Time) time.Duration
	// After is called when an attempt ended.
	After(c *Call, o Outcome, now time.Time) Decision
	// MaxAttempts is the most attempts a call makes.
	MaxAttempts() int
}

// New makes a member's policy; rnd gives floats in [0, 1).
func New(cfg Config, rnd func() float64, start time.Time) (Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Name {
	case Legacy:
		return newLegacy(cfg, rnd), nil
	case Standard:
		return newStandard(cfg, rnd), nil
	case Adaptive:
		return newAdaptive(cfg, rnd, start), nil
	default:
		return newGoStandard(cfg, rnd), nil
	}
}

// jittered applies the jitter setting to a delay whose upper bound is d.
func jittered(jitter, own string, d float64, rnd func() float64) time.Duration {
	if jitter == JitterDefault {
		jitter = own
	}
	if jitter == JitterFull {
		d *= rnd()
	}
	return time.Duration(d * float64(time.Second))
}

func maxOr(n, own int) int {
	if n > 0 {
		return n
	}
	return own
}

// --- botocore legacy ---

// botocore/data/_retry.json:128-135, the dynamodb service's __default__:
// "max_attempts": 10, "delay": {"type": "exponential", "base": 0.05,
// "growth_factor": 2}. botocore/retryhandler.py:43-63 (delay_exponential):
// base * growth_factor ** (attempts - 1), random only when base is "rand",
// so DynamoDB's legacy back-off has no jitter: 50 ms, 100 ms, 200 ms, ...
const (
	legacyMaxAttempts = 10
	legacyBase        = 0.05
	legacyGrowth      = 2
)

type legacy struct {
	cfg Config
	rnd func() float64
	max int
}

func newLegacy(cfg Config, rnd func() float64) *legacy {
	return &legacy{cfg: cfg, rnd: rnd, max: maxOr(cfg.MaxAttempts, legacyMaxAttempts)}
}

func (p *legacy) MaxAttempts() int { return p.max }

func (p *legacy) Send(c *Call, _ time.Time) time.Duration { c.attempts++; return 0 }

// After: legacy retries what _retry.json's policies name. The general ones
// (lines 1-98 and the "retry" __default__ policies): GENERAL_CONNECTION_ERROR
// (retryhandler.py:33-40: ConnectionError, ConnectionClosedError,
// ReadTimeoutError, EndpointConnectionError: a failed lookup is an
// EndpointConnectionError), HTTP 500/502/503/504/509, ThrottlingException
// and the other throttling codes, ProvisionedThroughputExceededException.
// It has no retry quota.
func (p *legacy) After(c *Call, o Outcome, _ time.Time) Decision {
	if o == Success || o == Fatal || c.attempts >= p.max {
		return Decision{}
	}
	d := legacyBase * math.Pow(legacyGrowth, float64(c.attempts-1))
	return Decision{Retry: true, Delay: jittered(p.cfg.Jitter, JitterNone, d, p.rnd)}
}

// --- botocore standard ---

// botocore/retries/standard.py: DEFAULT_MAX_ATTEMPTS = 3 (line 44);
// ExponentialBackoff _BASE = 2, _MAX_BACKOFF = 20 (lines 366-367), delay
// random() * min(2 ** (attempt_number - 1), 20) (lines 426-429, the
// behaviour without AWS_NEW_RETRIES_2026); RetryQuotaChecker (line 669):
// _RETRY_COST = 5, _NO_RETRY_INCREMENT = 1, _TIMEOUT_RETRY_REQUEST = 10
// (lines 670-674); release_retry_quota (lines 735-738): a 2xx answer gives
// back what the call's last retry took, or 1 if it was not retried.
// botocore/retries/quota.py:7: INITIAL_CAPACITY = 500.
const (
	standardMaxAttempts = 3
	standardBase        = 2
	standardMaxBackoff  = 20.0
	quotaInitial        = 500
	quotaRetryCost      = 5
	quotaTimeoutCost    = 10
	quotaNoRetryRefund  = 1
)

// quota is the retry quota both SDKs keep per client (botocore's
// RetryQuota, aws-sdk-go-v2's ratelimit.TokenRateLimit): 500 tokens.
type quota struct{ available int }

func (q *quota) acquire(n int) bool {
	if n > q.available {
		return false
	}
	q.available -= n
	return true
}

func (q *quota) release(n int) { q.available = min(quotaInitial, q.available+n) }

// quotaRetrier is what botocore's and aws-sdk-go-v2's standard modes share:
// a cap on attempts and a retry quota that every retry pays into.
type quotaRetrier struct {
	cfg   Config
	rnd   func() float64
	max   int
	quota quota
}

func newQuotaRetrier(cfg Config, rnd func() float64, maxAttempts int) quotaRetrier {
	return quotaRetrier{cfg: cfg, rnd: rnd, max: maxOr(cfg.MaxAttempts, maxAttempts), quota: quota{quotaInitial}}
}

func (p *quotaRetrier) MaxAttempts() int { return p.max }

// Quota is what is left of the retry quota.
func (p *quotaRetrier) Quota() int { return p.quota.available }

func (p *quotaRetrier) Send(c *Call, _ time.Time) time.Duration { c.attempts++; return 0 }

// chargeRetry takes a retry after outcome o from the quota (a timeout costs
// more) and says whether there was enough; the call holds what it took.
func (p *quotaRetrier) chargeRetry(c *Call, o Outcome) bool {
	cost := quotaRetryCost
	if o == Timeout {
		cost = quotaTimeoutCost
	}
	if !p.quota.acquire(cost) {
		return false
	}
	c.heldQuota = cost
	return true
}

type standard struct{ quotaRetrier }

func newStandard(cfg Config, rnd func() float64) *standard {
	return &standard{newQuotaRetrier(cfg, rnd, standardMaxAttempts)}
}

// After: standard retries transient errors (TransientRetryableChecker:
// RequestTimeout codes, 500/502/503/504, ConnectionError and HTTPClientError,
// which a failed lookup and a read timeout are) and throttling codes
// (ThrottledRetryableChecker, ThrottlingException and
// ProvisionedThroughputExceededException among them).
func (p *standard) After(c *Call, o Outcome, _ time.Time) Decision {
	if o == Success {
		if c.heldQuota == 0 {
			p.quota.release(quotaNoRetryRefund)
		} else {
			p.quota.release(c.heldQuota)
		}
		return Decision{}
	}
	if o == Fatal || c.attempts >= p.max {
		return Decision{}
	}
	if !p.chargeRetry(c, o) {
		return Decision{QuotaExhausted: true}
	}
	d := math.Min(math.Pow(standardBase, float64(c.attempts-1)), standardMaxBackoff)
	return Decision{Retry: true, Delay: jittered(p.cfg.Jitter, JitterFull, d, p.rnd)}
}

// --- aws-sdk-go-v2 standard ---

// aws-sdk-go-v2 aws/retry/standard.go:29-47: DefaultMaxAttempts = 3,
// DefaultMaxBackoff = 20s, DefaultRetryRateTokens = 500, DefaultRetryCost
// = 5, DefaultNoRetryIncrement = 1, DefaultRetryTimeoutCost = 10.
// jitter_backoff.go:38 and 86-100 (backoffDelayLegacy): for attempt > int(log2(20)) = 4
// the delay is 20 s; else rand * 2^attempt seconds, attempt being the
// number of the attempt that failed (middleware.go: RetryDelay(attemptNum)),
// so the first retry waits up to 2 s. Every successful attempt gives 1 token
// back (GetAttemptToken) and a successful retry its retry cost too (the
// token's release, ratelimit/token_rate_limit.go:46-60). service/dynamodb
// v1.73.1 api_client.go:649-693 (resolveRetryer) changes nothing of this
// without AWS_NEW_RETRIES_2026 (with it: 4 attempts, 25 ms base).
const (
	goMaxAttempts = 3
	goMaxBackoff  = 20.0
)

var goMaxBackoffAttempts = int(math.Log2(goMaxBackoff)) // 4

type goStandard struct{ quotaRetrier }

func newGoStandard(cfg Config, rnd func() float64) *goStandard {
	return &goStandard{newQuotaRetrier(cfg, rnd, goMaxAttempts)}
}

func (p *goStandard) After(c *Call, o Outcome, _ time.Time) Decision {
	if o == Success {
		p.quota.release(c.heldQuota + quotaNoRetryRefund)
		return Decision{}
	}
	if o == Fatal || o == NoSuchHost || c.attempts >= p.max {
		return Decision{}
	}
	if !p.chargeRetry(c, o) {
		return Decision{QuotaExhausted: true}
	}
	if c.attempts > goMaxBackoffAttempts {
		return Decision{Retry: true, Delay: time.Duration(goMaxBackoff * float64(time.Second))}
	}
	d := float64(int64(1) << uint(c.attempts))
	return Decision{Retry: true, Delay: jittered(p.cfg.Jitter, JitterFull, d, p.rnd)}
}
