package nlb

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HealthCheck is a target group's health-check settings, with AWS's meaning.
type HealthCheck struct {
	Interval           time.Duration // between checks of one target
	Timeout            time.Duration // for one check
	HealthyThreshold   int           // consecutive successes that make a target healthy
	UnhealthyThreshold int           // consecutive failures that make it unhealthy
	// Protocol is "tcp" (default: any reply byte to a probe) or "http" (a GET
	// of Path whose status matches Matcher, AWS's default "200-399").
	Protocol string
	Path     string
	Matcher  string
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
	case h.Protocol != "" && h.Protocol != "tcp" && h.Protocol != "http":
		return fmt.Errorf("health check protocol %q: expected tcp or http", h.Protocol)
	case h.Protocol == "http" && h.Path != "" && !strings.HasPrefix(h.Path, "/"):
		return fmt.Errorf("health check path %q: expected a path starting with /", h.Path)
	}
	if h.Protocol == "http" {
		if _, err := parseMatcher(h.matcher()); err != nil {
			return err
		}
	}
	return nil
}

func (h HealthCheck) matcher() string {
	if h.Matcher == "" {
		return "200-399"
	}
	return h.Matcher
}

func (h HealthCheck) path() string {
	if h.Path == "" {
		return "/"
	}
	return h.Path
}

// parseMatcher reads AWS's success codes: "200", "200,202", "200-399".
func parseMatcher(s string) ([][2]int, error) {
	var out [][2]int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 200 || b > 599 || a > b {
			return nil, fmt.Errorf("health check matcher %q: expected HTTP codes from 200 to 599 like 200, 200,202 or 200-399", s)
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}

// probe is sent by every check. Any reply byte within the timeout means the
// target answers. A bare TCP connect is not enough here: through a link,
// toxiproxy accepts the connection before it dials the target, so a connect
// succeeds even when the target is gone. An HTTP target answers this with a
// status line; a plain TCP service (an echo server) with anything at all.
var probe = []byte("HEAD / HTTP/1.0\r\n\r\n")

// check runs one health check against addr (the target's health link),
// bounded by the check's timeout.
func (h HealthCheck) check(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if h.Protocol == "http" {
		return h.checkHTTP(c, addr)
	}
	return checkTCP(c)
}

// checkHTTP sends GET Path and wants a status the matcher accepts.
func (h HealthCheck) checkHTTP(c net.Conn, addr string) error {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: ELB-HealthChecker/2.0\r\n\r\n", h.path(), addr); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	ranges, _ := parseMatcher(h.matcher())
	for _, r := range ranges {
		if resp.StatusCode >= r[0] && resp.StatusCode <= r[1] {
			return nil
		}
	}
	return fmt.Errorf("health check got HTTP %d, want %s", resp.StatusCode, h.matcher())
}

// checkTCP sends the probe and wants one reply byte.
func checkTCP(c net.Conn) error {
	if _, err := c.Write(probe); err != nil {
		return err
	}
	_, err := c.Read(make([]byte, 1))
	return err
}
