// Command faultline-app is a small DynamoDB client application for
// faultline's container and sandbox modes: faultline's reference client
// (aws-sdk-go-v2) configured from the environment faultline gives an
// application, resolving through the system's resolver (/etc/resolv.conf),
// and reporting every request as a JSON line (experiments/applog) on stdout.
// It runs until SIGTERM or SIGINT, then finishes its requests in flight.
//
// Environment (faultline sets all but the last four):
//
//	FAULTLINE_CLIENT        the client's name
//	FAULTLINE_REGIONS       regions, comma-separated, the primary first
//	FAULTLINE_ENDPOINT_<R>  each region's endpoint URL; <R> is the region in
//	                        upper case with '-' as '_' (US_EAST_1)
//	FAULTLINE_TABLE, FAULTLINE_ITEMS   the seeded table and its item count
//	FAULTLINE_SOURCE_IP     a loopback address of its own (default 127.0.0.1)
//	FAULTLINE_STRATEGY      failover (default with two regions or more) or single-region
//	FAULTLINE_RATE          requests per second (default 20)
//	FAULTLINE_TIMEOUT       per request, a Go duration (default 1s)
//	FAULTLINE_KEEP_ALIVE    "true" to reuse connections
package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/experiments/applog"
	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/journal"
)

func main() {
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultline-app:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := clients.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "faultline-app:", err)
		os.Exit(2)
	}
}

// configFromEnv builds the reference client's config; its requests go out
// as JSON lines on stdout.
func configFromEnv(getenv func(string) string) (clients.Config, error) {
	start := time.Now()
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	cfg := clients.Config{
		Name: getenv("FAULTLINE_CLIENT"), Table: getenv("FAULTLINE_TABLE"),
		SourceIP: or(getenv("FAULTLINE_SOURCE_IP"), "127.0.0.1"), Endpoints: map[string]string{},
		Rate: 20, Timeout: time.Second, ProbeInterval: 500 * time.Millisecond, Operations: []string{clients.GetItem},
		KeepAlive: getenv("FAULTLINE_KEEP_ALIVE") == "true",
		Now:       func() float64 { return float64(time.Since(start).Microseconds()) / 1000 },
	}
	cfg.Record = func(e journal.Event) {
		if e.Type != journal.Request {
			return
		}
		end := start.Add(time.Duration((e.T + e.LatencyMS) * float64(time.Millisecond)))
		line := applog.Line{Time: end, Operation: e.Op, Region: e.Region, OK: e.Succeeded(), LatencyMS: e.LatencyMS}
		if !line.OK {
			line.Error = e.Error + ": " + e.Detail
		}
		mu.Lock()
		defer mu.Unlock()
		out.Write(append(line.Marshal(), '\n'))
		out.Flush()
	}
	for _, r := range strings.Split(getenv("FAULTLINE_REGIONS"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			cfg.Regions = append(cfg.Regions, r)
			cfg.Endpoints[r] = getenv("FAULTLINE_ENDPOINT_" + strings.ToUpper(strings.ReplaceAll(r, "-", "_")))
		}
	}
	cfg.Strategy = clients.SingleRegion
	if len(cfg.Regions) > 1 {
		cfg.Strategy = clients.Failover
	}
	if s := getenv("FAULTLINE_STRATEGY"); s != "" {
		cfg.Strategy = s
	}
	var err error
	if cfg.Items, err = strconv.Atoi(or(getenv("FAULTLINE_ITEMS"), "1")); err != nil {
		return cfg, fmt.Errorf("FAULTLINE_ITEMS %q: expected a count", getenv("FAULTLINE_ITEMS"))
	}
	if v := getenv("FAULTLINE_RATE"); v != "" {
		if cfg.Rate, err = strconv.ParseFloat(v, 64); err != nil {
			return cfg, fmt.Errorf("FAULTLINE_RATE %q: expected requests per second", v)
		}
	}
	if v := getenv("FAULTLINE_TIMEOUT"); v != "" {
		if cfg.Timeout, err = time.ParseDuration(v); err != nil {
			return cfg, fmt.Errorf("FAULTLINE_TIMEOUT %q: expected a duration such as 1s", v)
		}
	}
	if cfg.DNSServer, err = systemResolver(); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// systemResolver is the first nameserver of /etc/resolv.conf, on port 53:
// the one Docker's --dns (or the sandbox) put there.
func systemResolver() (string, error) {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("no resolver: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
			return net.JoinHostPort(f[1], "53"), nil
		}
	}
	return "", fmt.Errorf("no nameserver line in /etc/resolv.conf")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
