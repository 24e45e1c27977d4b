package retry

import (
	"math"
	"time"
)

// botocore's adaptive mode: the standard retry handler plus a client-side
// rate limiter (botocore/retries/adaptive.py), which sends at most as fast
// as a token bucket allows once the client has been throttled, the bucket's
// rate set by CUBIC from the rate it measured.
//
// Numbers: adaptive.py:12-15 (register_retry_handler): CubicCalculator with
// starting_max_rate=0, TokenBucket(max_rate=1); :39 _MAX_RATE_ADJUST_SCALE
// = 2.0; :95-97 RateClocker _DEFAULT_SMOOTHING = 0.8, _TIME_BUCKET_RANGE =
// 0.5; throttling.py:7-8 _SCALE_CONSTANT = 0.4, _BETA = 0.7; bucket.py:21
// _MIN_RATE = 0.5.
const (
	cubicScale        = 0.4
	cubicBeta         = 0.7
	maxRateAdjust     = 2.0
	clockerSmoothing  = 0.8
	clockerBucket     = 0.5
	bucketMinRate     = 0.5
	bucketInitialRate = 1.0
)

type adaptive struct {
	*standard
	start time.Time

	enabled bool
	// RateClocker
	measured   float64
	lastBucket float64
	count      float64
	// CubicCalculator
	wMax, k, lastFail float64
	// TokenBucket
	fillRate, maxCapacity, capacity float64
	lastRefill                      float64
	refilled                        bool
}

func newAdaptive(cfg Config, rnd func() float64, start time.Time) *adaptive {
	a := &adaptive{standard: newStandard(cfg, rnd), start: start}
	a.lastBucket = 0 // math.floor(clock.current_time()) at start: time is from start here
	a.refill(0)      // the bucket's constructor sets its rate, which refills first
	a.setMaxRate(bucketInitialRate)
	a.k = a.zeroPoint()
	return a
}

// secs is the clock: seconds since the member started.
func (a *adaptive) secs(now time.Time) float64 { return now.Sub(a.start).Seconds() }

// Send is ClientRateLimiter.on_sending_request: once enabled, an attempt
// takes a token, waiting for one if the bucket is empty (bucket.py:80-101;
// here the wait is returned and the token is taken now, which gives waiters
// the same order and times as the blocking acquire).
func (a *adaptive) Send(c *Call, now time.Time) time.Duration {
	c.attempts++
	if !a.enabled {
		return 0
	}
	a.refill(a.secs(now))
	a.capacity--
	if a.capacity >= 0 {
		return 0
	}
	return time.Duration(-a.capacity / a.fillRate * float64(time.Second))
}

// After is on_receiving_response (adaptive.py:62-89), then the standard
// handler's decision.
func (a *adaptive) After(c *Call, o Outcome, now time.Time) Decision {
	t := a.secs(now)
	measured := a.record(t)
	var newRate float64
	if o != Throttled {
		newRate = a.successReceived(t)
	} else {
		use := measured
		if a.enabled {
			use = math.Min(measured, a.fillRate)
		}
		newRate = a.errorReceived(use, t)
		a.enabled = true
	}
	a.refill(t)
	a.setMaxRate(math.Min(newRate, maxRateAdjust*measured))
	return a.standard.After(c, o, now)
}

// RateClocker.record (adaptive.py:113-129).
func (a *adaptive) record(t float64) float64 {
	bucket := math.Floor(t*(1/clockerBucket)) / (1 / clockerBucket)
	a.count++
	if bucket > a.lastBucket {
		current := a.count / (bucket - a.lastBucket)
		a.measured = current*clockerSmoothing + a.measured*(1-clockerSmoothing)
		a.count = 0
		a.lastBucket = bucket
	}
	return a.measured
}

// CubicCalculator (throttling.py:23-41).
func (a *adaptive) zeroPoint() float64 { return math.Cbrt(a.wMax * (1 - cubicBeta) / cubicScale) }

func (a *adaptive) successReceived(t float64) float64 {
	dt := t - a.lastFail
	return cubicScale*math.Pow(dt-a.k, 3) + a.wMax
}

func (a *adaptive) errorReceived(rate, t float64) float64 {
	a.wMax = rate
	a.k = a.zeroPoint()
	a.lastFail = t
	return rate * cubicBeta
}

// TokenBucket.max_rate's setter (bucket.py:39-57).
func (a *adaptive) setMaxRate(v float64) {
	a.fillRate = math.Max(v, bucketMinRate)
	if v >= 1 {
		a.maxCapacity = v
	} else {
		a.maxCapacity = 1
	}
	a.capacity = math.Min(a.capacity, a.maxCapacity)
}

// TokenBucket._refill (bucket.py:106-115).
func (a *adaptive) refill(t float64) {
	if !a.refilled {
		a.refilled, a.lastRefill = true, t
		return
	}
	a.capacity = math.Min(a.maxCapacity, a.capacity+(t-a.lastRefill)*a.fillRate)
	a.lastRefill = t
}

// SendRate is the limiter's rate (requests per second) and whether it is
// on.
func (a *adaptive) SendRate() (float64, bool) { return a.fillRate, a.enabled }
