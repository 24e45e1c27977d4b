package nlb

import (
	"context"
	"fmt"
	"net"
	"time"
)

// HealthCheck is a target group's health-check settings, with AWS's meaning.
type HealthCheck struct {
	Interval           time.Duration // between checks of one target
	Timeout            time.Duration // for one check
	HealthyThreshold   int           // consecutive successes that make a target healthy
	UnhealthyThreshold int           // consecutive failures that make it unhealthy
}

// TimeScale is how much faster than AWS the defaults run: AWS's defaults
// (interval 30 s, TCP timeout 10 s) would make an experiment last minutes.
const TimeScale = 60

// DefaultHealthCheck is AWS's NLB default scaled for short experiments:
// interval 30 s / 60 = 500 ms, timeout 10 s / 40 = 250 ms (kept below the
// interval), healthy threshold 3 (AWS: 5, lowered so start-up takes 1.5 s
// rather than 2.5 s), unhealthy threshold 2 (AWS: 2).
func DefaultHealthCheck() HealthCheck {
	return HealthCheck{Interval: 500 * time.Millisecond, Timeout: 250 * time.Millisecond, HealthyThreshold: 3, UnhealthyThreshold: 2}
}

// Validate checks the settings against AWS's ranges (thresholds 2–10) and,
// for the times, AWS's ranges scaled by TimeScale (interval 5–300 s becomes
// 50 ms–5 min as a floor/ceiling; timeout 2–120 s becomes 10 ms–2 min), and
// that a check ends before the next begins.
func (h HealthCheck) Validate() error {
	switch {
	case h.Interval < 50*time.Millisecond || h.Interval > 5*time.Minute:
		return fmt.Errorf("health check interval %s: expected 50ms to 5m", h.Interval)
	case h.Timeout < 10*time.Millisecond || h.Timeout > 2*time.Minute:
		return fmt.Errorf("health check timeout %s: expected 10ms to 2m", h.Timeout)
	case h.Timeout >= h.Interval:
		return fmt.Errorf("health check timeout %s must be shorter than the interval %s", h.Timeout, h.Interval)
	case h.HealthyThreshold < 2 || h.HealthyThreshold > 10:
		return fmt.Errorf("healthy threshold %d: expected 2 to 10 (AWS's range)", h.HealthyThreshold)
	case h.UnhealthyThreshold < 2 || h.UnhealthyThreshold > 10:
		return fmt.Errorf("unhealthy threshold %d: expected 2 to 10 (AWS's range)", h.UnhealthyThreshold)
	}
	return nil
}

// probe is sent by every check. Any reply byte within the timeout means the
// target answers. A bare TCP connect is not enough here: through a link,
// toxiproxy accepts the connection before it dials the target, so a connect
// succeeds even when the target is gone. An HTTP target answers this with a
// status line; a plain TCP service (an echo server) with anything at all.
var probe = []byte("HEAD / HTTP/1.0\r\n\r\n")

// check runs one health check against addr (the target's health link).
func check(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if _, err := c.Write(probe); err != nil {
		return err
	}
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil {
		return err
	}
	return nil
}
