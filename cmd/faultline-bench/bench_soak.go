package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// The soak: `faultline run` of N clients at R requests/s each with hc.flap
// and dns.flap for D, its RSS sampled from /proc while the journal grows;
// a 10 s dnsperf flood at its DNS server from an address that is no
// client's, in the middle; then `faultline report` of a 1 GB journal. The
// goals (ARCHITECTURE.md: memory is bounded by the world, not by the run's
// length or by what other processes send): RSS within ±10 % of its value
// at one minute and below 200 MB; the flood adds under 20 MB; the report
// stays under 300 MB. The peer is the figure issue 12 measured before the
// journal streamed: 1,044 MB after 5 minutes of 8 clients at 50/s, and
// 350 MB more after a 10 s flood.
func init() { registerOptIn("soak", benchSoak) } // 30 minutes: make bench-soak

var (
	soakShort    = flag.Bool("short", false, "soak: 2 minutes instead of 30")
	soakClients  = flag.Int("soak-clients", 32, "soak: clients")
	soakRate     = flag.Float64("soak-rate", 100, "soak: requests/s per client")
	soakFor      = flag.Duration("soak-duration", 0, "soak: how long (default 30m, 2m with -short)")
	soakReportGB = flag.Float64("soak-report-gb", 1, "soak: size of the journal `faultline report` reads, in GB (0: skip)")
	soakNoRun    = flag.Bool("soak-report-only", false, "soak: only the report of a generated journal")
)

const (
	soakRSSGoalMB    = 200
	soakFlatShare    = 0.10
	soakFloodGoalMB  = 20
	soakReportGoalMB = 300
	soakSample       = 30 * time.Second
)

func benchSoak(ctx context.Context, out *os.File) error {
	d := *soakFor
	if d == 0 {
		d = 30 * time.Minute
		if *soakShort {
			d = 2 * time.Minute
		}
	}
	tmp, err := tempdirs.Make("", "soak")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "faultline")
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/faultline").CombinedOutput(); err != nil {
		return fmt.Errorf("building faultline: %v\n%s", err, b)
	}
	var runErr error
	if !*soakNoRun {
		runErr = soakRun(ctx, out, bin, tmp, d)
	}
	var reportErr error
	if *soakReportGB > 0 {
		reportErr = soakReport(ctx, out, bin, tmp, *soakReportGB)
	}
	return errorsJoin(runErr, reportErr)
}

func errorsJoin(errs ...error) error {
	var msgs []string
	for _, e := range errs {
		if e != nil {
			msgs = append(msgs, e.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// soakExperiment: half the clients single-region on us-east-1, half
// failing over to us-west-2; us-east-1's health checks flap and
// us-west-2's record flaps empty, from 5 s to 5 s before the end.
func soakExperiment(clients int, rate float64, d time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, `name: soak
description: %d clients at %g/s for %s with hc.flap and dns.flap
topology:
  dns: {ttl: 1s}
  table: {name: orders, items: 100}
  regions:
    - name: us-east-1
      nodes: 2
      targets: 2
      health_check: {interval: 500ms, timeout: 200ms, healthy_threshold: 2, unhealthy_threshold: 2}
    - name: us-west-2
      nodes: 2
      targets: 2
clients:
`, clients, rate, d)
	for i := 0; i < clients; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, "  - {name: naive%d, strategy: single-region, regions: [us-east-1], rate: %g, timeout: 1s, keep_alive: true}\n", i, rate)
		} else {
			fmt.Fprintf(&b, "  - {name: failover%d, strategy: failover, regions: [us-east-1, us-west-2], rate: %g, timeout: 1s, keep_alive: true}\n", i, rate)
		}
	}
	faultFor := d - 10*time.Second
	fmt.Fprintf(&b, `schedule:
  duration: %s
  faults:
    - {id: flap, kind: hc.flap, target: us-east-1, start: 5s, duration: %s, params: {period: 6s, duty: 0.4, target: 1}}
    - {id: dnsflap, kind: dns.flap, target: dynamodb.us-west-2.amazonaws.com, start: 5s, duration: %s, params: {period: 4s, duty: 0.25}}
assertions:
  - {client: failover1, expr: availability > 0.5}
`, d, faultFor, faultFor)
	return b.String()
}

type rssSample struct {
	at       time.Duration
	rssMB    float64
	journal  int64
	inFlood  bool
	afterEnd bool
}

func soakRun(ctx context.Context, out *os.File, bin, tmp string, d time.Duration) error {
	expFile := filepath.Join(tmp, "soak.yaml")
	if err := os.WriteFile(expFile, []byte(soakExperiment(*soakClients, *soakRate, d)), 0o644); err != nil {
		return err
	}
	outDir := filepath.Join(tmp, "run")
	cmd := exec.CommandContext(ctx, bin, "run", "--out", outDir, expFile)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = nil
	if err := cmd.Start(); err != nil {
		return err
	}
	fmt.Fprintf(out, "   faultline run: %d clients at %g req/s for %s, hc.flap + dns.flap (pid %d)\n", *soakClients, *soakRate, d, cmd.Process.Pid)
	dnsAddr := make(chan string, 1)
	started := make(chan time.Time, 1)
	go func() {
		re := regexp.MustCompile(`\(DNS (127\.[0-9.]+:[0-9]+)\)`)
		rd := bufio.NewReaderSize(stderr, 1<<16)
		sentDNS, sentStart := false, false
		for {
			// Drain every line, however long: a child blocked writing its
			// progress would stall its run.
			line, err := rd.ReadString('\n')
			if err != nil && line == "" {
				return
			}
			if m := re.FindStringSubmatch(line); m != nil && !sentDNS {
				dnsAddr <- m[1]
				sentDNS = true
			}
			if strings.Contains(line, "running soak for") && !sentStart {
				started <- time.Now()
				sentStart = true
			}
		}
	}()
	var (
		mu      sync.Mutex
		samples []rssSample
		flood   struct{ from, to time.Duration }
	)
	var t0 time.Time
	select {
	case t0 = <-started:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("the run did not start within 2 minutes")
	}
	addr := <-dnsAddr
	// The flood: 10 s of dnsperf from 127.0.0.200 (no client's address),
	// 40 % into the run (at least after the first minute when it can).
	floodAt := time.Duration(float64(d) * 0.4)
	if d >= 2*time.Minute {
		floodAt = max(floodAt, 65*time.Second)
	}
	floodDone := make(chan string, 1)
	go func() {
		select {
		case <-time.After(time.Until(t0.Add(floodAt))):
		case <-ctx.Done():
			floodDone <- "interrupted"
			return
		}
		mu.Lock()
		flood.from = time.Since(t0)
		mu.Unlock()
		res := soakFlood(ctx, tmp, addr)
		mu.Lock()
		flood.to = time.Since(t0)
		mu.Unlock()
		floodDone <- res
	}()

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	journalPath := filepath.Join(outDir, "journal.jsonl")
	nextPrint := time.Duration(0)
	fmt.Fprintf(out, "   %8s %9s %12s\n", "time", "RSS MB", "journal MB")
	var runErr error
loop:
	for {
		select {
		case runErr = <-done:
			break loop
		case <-tick.C:
			rss, ok := rssOf(cmd.Process.Pid)
			if !ok {
				continue
			}
			at := time.Since(t0)
			var size int64
			if info, err := os.Stat(journalPath); err == nil {
				size = info.Size()
			}
			mu.Lock()
			inFlood := flood.from > 0 && (flood.to == 0 || at <= flood.to)
			samples = append(samples, rssSample{at: at, rssMB: rss, journal: size, inFlood: inFlood, afterEnd: at > d})
			mu.Unlock()
			if at >= nextPrint {
				note := ""
				if inFlood {
					note = "  (dnsperf flood)"
				}
				fmt.Fprintf(out, "   %7.0fs %9.1f %12.1f%s\n", at.Seconds(), rss, float64(size)/1e6, note)
				nextPrint += soakSample
			}
		}
	}
	floodResult := <-floodDone
	var journalSize int64
	if info, err := os.Stat(journalPath); err == nil {
		journalSize = info.Size()
	}
	var status syscall.WaitStatus
	var maxRSS float64
	if ps := cmd.ProcessState; ps != nil {
		status, _ = ps.Sys().(syscall.WaitStatus)
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			maxRSS = float64(ru.Maxrss) / 1024
		}
	}
	fmt.Fprintf(out, "   the run exited %d (1: an assertion failed, 3: invalid, e.g. the harness starved on 2 cores; the figures stand either way)\n", status.ExitStatus())
	if runErr != nil && status.ExitStatus() != 1 && status.ExitStatus() != 3 {
		return fmt.Errorf("faultline run: %v", runErr)
	}

	// The verdicts.
	var ref float64
	var steady []float64
	for _, s := range samples {
		if s.afterEnd {
			continue // reports written, teardown: not the run
		}
		if ref == 0 && s.at >= time.Minute {
			ref = s.rssMB
		}
		nearFlood := flood.from > 0 && s.at >= flood.from && s.at <= flood.to+10*time.Second
		if s.at >= time.Minute && !nearFlood {
			steady = append(steady, s.rssMB)
		}
	}
	if ref == 0 && len(samples) > 0 {
		ref = samples[len(samples)-1].rssMB
	}
	lo, hi := math.Inf(1), 0.0
	for _, v := range steady {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	flat := len(steady) > 0 && lo >= ref*(1-soakFlatShare) && hi <= ref*(1+soakFlatShare)
	below := maxRSS < soakRSSGoalMB
	before, after := floodWindow(samples, flood.from, flood.to)
	fmt.Fprintf(out, "   journal %.1f MB; RSS at 1 min %.1f MB, after it (outside the flood) %.1f–%.1f MB, max over the run (wait4) %.1f MB\n",
		float64(journalSize)/1e6, ref, lo, hi, maxRSS)
	fmt.Fprintf(out, "   %s RSS flat after the first minute (within ±%.0f%% of %.1f MB, sampled every second, the flood and 10 s after it aside): %.1f–%.1f MB\n",
		mark(flat), soakFlatShare*100, ref, lo, hi)
	fmt.Fprintf(out, "   %s RSS below %d MB: max %.1f MB   (issue 12, before: 1,044 MB after 5 min of 8 clients at 50/s)\n", mark(below), soakRSSGoalMB, maxRSS)
	fmt.Fprintf(out, "   %s a 10 s dnsperf flood from 127.0.0.200 adds under %d MB: %.1f MB before, %.1f MB at most in the 10 s after (%+.1f MB); %s   (before: +350 MB)\n",
		mark(after-before < soakFloodGoalMB), soakFloodGoalMB, before, after, after-before, floodResult)
	return nil
}

// floodWindow is the RSS just before the flood (the median of the 5 s
// before it) and the most in the flood and the 10 s after it.
func floodWindow(samples []rssSample, from, to time.Duration) (before, after float64) {
	var pre []float64
	for _, s := range samples {
		switch {
		case s.at < from && s.at >= from-5*time.Second:
			pre = append(pre, s.rssMB)
		case s.at >= from && s.at <= to+10*time.Second && !s.afterEnd:
			after = math.Max(after, s.rssMB)
		}
	}
	if len(pre) > 0 {
		slices.Sort(pre)
		before = pre[len(pre)/2]
	}
	return before, after
}

// soakFlood runs dnsperf for 10 s at the run's DNS server from 127.0.0.200
// and says how many queries it sent.
func soakFlood(ctx context.Context, tmp, addr string) string {
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return "dnsperf is not installed (apt-get install -y dnsperf, or make bench-deps): no flood"
	}
	host, port, _ := strings.Cut(addr, ":")
	queries := filepath.Join(tmp, "flood.txt")
	var b strings.Builder
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 10000; i++ {
		switch rng.Intn(4) {
		case 0:
			fmt.Fprintf(&b, "dynamodb.us-east-1.amazonaws.com A\n")
		case 1:
			fmt.Fprintf(&b, "dynamodb.us-west-2.amazonaws.com AAAA\n")
		default:
			fmt.Fprintf(&b, "nothing-%d.amazonaws.com A\n", rng.Intn(1_000_000))
		}
	}
	os.WriteFile(queries, []byte(b.String()), 0o644)
	res, err := exec.CommandContext(ctx, "dnsperf", "-s", host, "-p", port, "-a", "127.0.0.200", "-d", queries, "-l", "10",
		"-c", "4", "-T", "1", "-q", "200").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("dnsperf failed: %v", err)
	}
	if m := regexp.MustCompile(`Queries completed:\s+(\d+)`).FindSubmatch(res); m != nil {
		n, _ := strconv.Atoi(string(m[1]))
		return fmt.Sprintf("dnsperf: %d queries answered in 10 s", n)
	}
	return "dnsperf: no summary"
}

// rssOf reads a process's resident set in MB from /proc.
func rssOf(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// soakReport writes a journal of about gb GB, as a long run of 32 clients
// writes it, and measures `faultline report` of it: its maximum RSS from
// wait4's rusage, and its time.
func soakReport(ctx context.Context, out *os.File, bin, tmp string, gb float64) error {
	path := filepath.Join(tmp, "big", "journal.jsonl")
	os.MkdirAll(filepath.Dir(path), 0o755)
	began := time.Now()
	n, size, err := writeBigJournal(path, int64(gb*1e9))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   wrote a %.2f GB journal (%d events, %.0f simulated minutes of 32 clients at 100/s) in %.1fs\n",
		float64(size)/1e9, n, float64(n)/3500/60, time.Since(began).Seconds())
	reportDir := filepath.Join(tmp, "big", "reports")
	cmd := exec.CommandContext(ctx, bin, "report", "--out", reportDir, path)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	began = time.Now()
	cmd.Stdout, cmd.Stderr = nil, nil
	peak := 0.0
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var werr error
wait:
	for {
		select {
		case werr = <-done:
			break wait
		case <-tick.C:
			if r, ok := rssOf(cmd.Process.Pid); ok {
				peak = math.Max(peak, r)
			}
		}
	}
	took := time.Since(began)
	maxRSS := 0.0
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxRSS = float64(ru.Maxrss) / 1024
	}
	if code := cmd.ProcessState.ExitCode(); werr != nil && code != 1 && code != 3 {
		return fmt.Errorf("faultline report: %v", werr)
	}
	var html int64
	if info, err := os.Stat(filepath.Join(reportDir, "report.html")); err == nil {
		html = info.Size()
	}
	fmt.Fprintf(out, "   %s faultline report of it (all five reports) under %d MB: max RSS %.1f MB (wait4), in %.1fs (%.0f MB/s); report.html %.1f MB\n",
		mark(maxRSS < soakReportGoalMB), soakReportGoalMB, maxRSS, took.Seconds(), float64(size)/1e6/took.Seconds(), float64(html)/1e6)
	return nil
}

// writeBigJournal writes a journal of about size bytes: 32 clients at
// 100/s (half failing over), hc.flap and dns.flap flapping, DNS answers
// and connections, health checks, the harness's own lag.
func writeBigJournal(path string, size int64) (events int, written int64, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	cw := &countingWriter{w: bufio.NewWriterSize(f, 1<<20)}
	j := journal.New(cw)
	rng := rand.New(rand.NewSource(1))
	seed := int64(1)
	add := func(e journal.Event) { j.Add(e); events++ }
	add(journal.Event{T: 0.001, Type: journal.RunStart, Detail: "soak", Seed: &seed, K: 5})
	add(journal.Event{T: 0.002, Type: journal.Assertion, Client: "failover1", Expr: "availability > 0.5"})
	add(journal.Event{T: 0.003, Type: journal.SteadyState, Client: "*", Expr: "availability >= 0.5"})
	regions := []string{"us-east-1", "us-west-2"}
	for i := 0; i < 32; i++ {
		strategy, primary := "single-region", "us-east-1"
		if i%2 == 1 {
			strategy = "failover"
		}
		add(journal.Event{T: 1, Type: journal.ClientStart, Client: clientName(i), Strategy: strategy, Region: primary,
			Addr: fmt.Sprintf("127.0.0.%d", 11+i), Rate: 100, TimeoutMS: 1000})
	}
	add(journal.Event{T: 400, Type: journal.Phase, Detail: "experiment"})
	add(journal.Event{T: 5400, Type: journal.FaultApplied, Fault: "flap", Kind: "hc.flap", Target: "us-east-1", Reach: "health", Name: "dynamodb.us-east-1.amazonaws.com."})
	add(journal.Event{T: 5400, Type: journal.FaultApplied, Fault: "dnsflap", Kind: "dns.flap", Target: "dynamodb.us-west-2.amazonaws.com.", Reach: "dns"})
	t := 400.0
	for cw.n < size {
		t += 10 // every 10 ms: one request of each of 32 clients at 100/s, spread
		faulty := math.Mod(t, 6000) < 2400
		for i := 0; i < 32; i++ {
			region := "us-east-1"
			if i%2 == 1 && faulty {
				region = "us-west-2"
			}
			ok := !(faulty && i%2 == 0 && rng.Intn(3) == 0)
			e := journal.Event{T: t + float64(i)*0.3, Type: journal.Request, Client: clientName(i), Region: region, Op: "GetItem",
				LatencyMS: 0.5 + rng.ExpFloat64()*2, OK: journal.Bool(ok), LagMS: rng.Float64() * 0.5}
			if !ok {
				e.Error, e.Detail = "connect-refused", "dial tcp 127.0.1.1:443: connect: connection refused"
			}
			add(e)
		}
		if int(t)%100 == 0 { // DNS: each client about once a second
			i := rng.Intn(32)
			name := "dynamodb." + regions[i%2] + ".amazonaws.com."
			e := journal.Event{T: t, Type: journal.DNSQuery, Addr: fmt.Sprintf("127.0.0.%d:%d", 11+i, 40000+rng.Intn(20000)), Proto: "udp",
				Name: name, QType: "A", Rcode: "NOERROR", Answers: journal.Int(1 + rng.Intn(2))}
			if i%2 == 1 && math.Mod(t, 4000) < 1000 {
				e.Fault, e.Answers, e.Name = "dnsflap", journal.Int(0), "dynamodb.us-west-2.amazonaws.com."
			}
			add(e)
			add(journal.Event{T: t, Type: journal.ConnAccepted, Region: regions[i%2], Node: "127.0.1.1:443", Target: "127.0.100.1:8000",
				Client: clientName(i), Addr: fmt.Sprintf("127.0.0.%d:%d", 11+i, 40000+rng.Intn(20000))})
		}
		if int(t)%500 == 0 {
			p := rng.Float64() * 2
			add(journal.Event{T: t, Type: journal.HarnessLag, LagMS: rng.Float64() * 3, SchedP99MS: &p})
			for k := 0; k < 4; k++ {
				add(journal.Event{T: t, Type: journal.HCResult, Region: regions[k/2], Target: fmt.Sprintf("127.0.10%d.%d:8000", k/2, k%2+1),
					OK: journal.Bool(!(k == 0 && faulty)), LagMS: rng.Float64()})
			}
		}
		if int(t)%6000 == 0 || int(t)%6000 == 2400 {
			from, to := "healthy", "unhealthy"
			if int(t)%6000 == 2400 {
				from, to = to, from
			}
			add(journal.Event{T: t, Type: journal.TargetState, Region: "us-east-1", Target: "127.0.100.1:8000", From: from, To: to})
		}
		if int(t)%1000 == 0 {
			add(journal.Event{T: t, Type: journal.DNSOther, Counts: map[string]int{"NOERROR": rng.Intn(1000), "NXDOMAIN": rng.Intn(100)}})
		}
	}
	add(journal.Event{T: t + 10, Type: journal.FaultHealed, Fault: "flap", Kind: "hc.flap", Target: "us-east-1"})
	add(journal.Event{T: t + 10, Type: journal.FaultHealed, Fault: "dnsflap", Kind: "dns.flap", Target: "dynamodb.us-west-2.amazonaws.com."})
	add(journal.Event{T: t + 20, Type: journal.Phase, Detail: "stop"})
	add(journal.Event{T: t + 500, Type: journal.RunEnd, Status: "complete"})
	if err := j.Close(); err != nil {
		f.Close()
		return events, cw.n, err
	}
	if err := cw.w.(*bufio.Writer).Flush(); err != nil {
		f.Close()
		return events, cw.n, err
	}
	return events, cw.n, f.Close()
}

func clientName(i int) string {
	if i%2 == 0 {
		return fmt.Sprintf("naive%d", i)
	}
	return fmt.Sprintf("failover%d", i)
}

type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
