package main

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/montanaflynn/stats"

	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// The DNS benchmark: queries per second and p99 latency under load of
// faultline's DNS server on a zone of 100,000 names, with and without fault
// rules on 1% of the names, beside CoreDNS (file plugin, built from its Go
// module at a pinned version) and NSD serving the same zone, each loaded by
// dnsperf on the same two cores, in one run.
func init() { register("dns", benchDNS) }

const (
	dnsperfSeconds = 5
	benchNames     = 100_000
	corednsVersion = "v1.15.0"
)

func benchDNS(ctx context.Context, out *os.File) error {
	dir, err := tempdirs.Make("", "bench-dns")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	queries := filepath.Join(dir, "queries.txt")
	if err := writeQueries(queries); err != nil {
		return err
	}
	srv, err := dnsstub.Start(dnsstub.Config{Addr: "127.0.0.1:0", Zones: []dnsstub.Zone{{Origin: "amazonaws.com."}}})
	if err != nil {
		return err
	}
	defer srv.Close()
	loadStart := time.Now()
	for _, r := range benchZone() {
		if err := srv.SetRecords(r.name, dns.TypeA, 60, r.ips); err != nil {
			return err
		}
	}
	loaded := time.Since(loadStart)
	runtime.GC() // the load's garbage is not the server's to collect during the measurement

	if _, err := exec.LookPath("dnsperf"); err != nil {
		fmt.Fprintln(out, "   dnsperf is not installed (apt-get install -y dnsperf, or make bench-deps); falling back to an in-process load")
		qps, err := inProcessLoad(ctx, srv.Addr())
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "   faultline dnsstub: %.0f queries/s (in-process miekg client, 4 workers, 5 s)\n", qps)
		return nil
	}
	for _, peer := range []string{"coredns", "nsd"} {
		expectRatio("dns queries/s: faultline ÷ "+peer, "higher")
		expectRatio("dns p99: faultline ÷ "+peer, "lower")
	}
	ours, withRules, cost, err := oursWithAndWithoutRules(ctx, srv, queries)
	if err != nil {
		return fmt.Errorf("dnsperf against faultline: %w", err)
	}
	fmt.Fprintf(out, "   %-34s %10s %9s %9s %8s\n", "server (zone of 100,002 names)", "queries/s", "p50 µs", "p99 µs", "vs ours")
	row := func(name string, r dnsperfResult) {
		fmt.Fprintf(out, "   %-34s %10.0f %9.0f %9.0f %8.2f\n", name, r.qps, r.p50, r.p99, r.qps/ours.qps)
	}
	row("faultline dnsstub (Go)", ours)
	row("faultline, rules on 1% of names", withRules)
	recordRatio("dns queries/s: rules on 1% ÷ none (ours)", "higher", cost.qps.median)
	recordRatio("dns CPU per query: rules on 1% ÷ none (ours)", "lower", cost.cpu.median)
	fmt.Fprintf(out, "   rules on 1%% of names ÷ none, median of %d pairs of rounds: queries/s %.3f (%.2f–%.2f), CPU per query %.3f (%.2f–%.2f; %.1f µs without)\n",
		ruleRounds, cost.qps.median, cost.qps.min, cost.qps.max, cost.cpu.median, cost.cpu.min, cost.cpu.max, ours.cpuPerQuery)
	for _, peer := range []struct {
		name string
		run  func(context.Context, string, string) (dnsperfResult, error)
	}{{"coredns " + corednsVersion + " (file plugin)", runCoreDNS}, {"nsd 4 (C)", runNSD}} {
		r, err := peer.run(ctx, dir, queries)
		if err != nil {
			fmt.Fprintf(out, "   %s: %v\n", peer.name, err)
			continue
		}
		row(peer.name, r)
		peerName := strings.Fields(peer.name)[0]
		recordRatio("dns queries/s: faultline ÷ "+peerName, "higher", ours.qps/r.qps)
		if r.p99 > 0 {
			recordRatio("dns p99: faultline ÷ "+peerName, "lower", ours.p99/r.p99)
		}
	}
	fmt.Fprintf(out, "   (dnsperf -c 4 -T 2 -l %d on the same 2 cores; p50/p99 sampled by a probe querying every 2 ms during the load;\n", dnsperfSeconds)
	fmt.Fprintf(out, "    ours without and with the rules in %d alternating rounds of %d s, their medians;\n", 2*ruleRounds, ruleRoundSeconds)
	fmt.Fprintf(out, "    queries: 10,000 zone names at random, 1 in 10 the endpoint AAAA (NODATA), 1 in 10 unknown (NXDOMAIN);\n")
	fmt.Fprintf(out, "    zone loaded into dnsstub in %s)\n", loaded.Round(time.Millisecond))
	return nil
}

type zoneRecord struct {
	name string
	ips  []string
}

// benchZone is the two endpoints with two addresses each and 1,000 other names.
func benchZone() []zoneRecord {
	zone := []zoneRecord{
		{"dynamodb.us-east-1.amazonaws.com.", []string{"127.0.1.1", "127.0.1.2"}},
		{"dynamodb.us-west-2.amazonaws.com.", []string{"127.0.2.1", "127.0.2.2"}},
	}
	for i := 0; i < benchNames; i++ {
		zone = append(zone, zoneRecord{fmt.Sprintf("svc-%06d.amazonaws.com.", i), []string{fmt.Sprintf("127.%d.%d.%d", 10+i/62500, i/250%250, 1+i%250)}})
	}
	return zone
}

func writeQueries(path string) error {
	var b strings.Builder
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 10000; i++ {
		switch {
		case i%10 == 8:
			b.WriteString("dynamodb.us-east-1.amazonaws.com AAAA\n")
		case i%10 == 9:
			fmt.Fprintf(&b, "missing-%d.amazonaws.com A\n", i)
		default:
			fmt.Fprintf(&b, "svc-%06d.amazonaws.com A\n", rng.Intn(benchNames))
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// ruleRounds pairs of rounds measure the rules' cost: one pair is ours
// without rules then with them, the next the other way round, so that the
// drift of a shared machine falls on both alike.
const (
	ruleRounds       = 4
	ruleRoundSeconds = 3
)

// oursWithAndWithoutRules loads our server without fault rules and with
// SERVFAIL rules on 1% of the names (as during an experiment), in
// alternating rounds, and returns each side's medians and the median of the
// pairs' queries/s ratios.
func oursWithAndWithoutRules(ctx context.Context, srv *dnsstub.Server, queries string) (plain, ruled dnsperfResult, cost ruleCost, err error) {
	var removes []func()
	setRules := func(on bool) error {
		for _, rm := range removes {
			rm()
		}
		removes = removes[:0]
		if !on {
			return nil
		}
		for i := 0; i < benchNames/100; i++ {
			rm, err := srv.AddRule(dnsstub.Rule{Name: fmt.Sprintf("svc-%06d.amazonaws.com.", i*100), Fault: "bench", Action: dnsstub.ServFail()})
			if err != nil {
				return err
			}
			removes = append(removes, rm)
		}
		return nil
	}
	defer setRules(false)
	warmUp(ctx, srv.Addr(), queries)
	var plains, ruleds []dnsperfResult
	var qpsRatios, cpuRatios []float64
	for i := 0; i < ruleRounds; i++ {
		order := []bool{false, true}
		if i%2 == 1 {
			order = []bool{true, false}
		}
		var pair [2]dnsperfResult
		for _, on := range order {
			if err := setRules(on); err != nil {
				return plain, ruled, cost, err
			}
			r, err := dnsperfRound(ctx, srv.Addr(), queries, ruleRoundSeconds)
			if err != nil {
				return plain, ruled, cost, err
			}
			if on {
				pair[1] = r
			} else {
				pair[0] = r
			}
		}
		plains, ruleds = append(plains, pair[0]), append(ruleds, pair[1])
		qpsRatios = append(qpsRatios, pair[1].qps/pair[0].qps)
		if pair[0].cpuPerQuery > 0 && pair[1].cpuPerQuery > 0 {
			cpuRatios = append(cpuRatios, pair[1].cpuPerQuery/pair[0].cpuPerQuery)
		}
	}
	cost.qps = medianSpread(qpsRatios)
	cost.cpu = medianSpread(cpuRatios)
	return medianResult(plains), medianResult(ruleds), cost, nil
}

// ruleCost is the rules' cost: the median of the pairs' ratios (with rules
// ÷ without) of queries/s and of CPU per query, with their spreads.
type ruleCost struct{ qps, cpu spread }

type spread struct{ median, min, max float64 }

func medianSpread(v []float64) spread {
	if len(v) == 0 {
		return spread{math.NaN(), math.NaN(), math.NaN()}
	}
	var s spread
	s.median, _ = stats.Median(v)
	s.min, _ = stats.Min(v)
	s.max, _ = stats.Max(v)
	return s
}

// medianResult is the median of rounds' queries/s, p50 and p99.
func medianResult(rounds []dnsperfResult) dnsperfResult {
	var qps, p50, p99 []float64
	for _, r := range rounds {
		qps, p50, p99 = append(qps, r.qps), append(p50, r.p50), append(p99, r.p99)
	}
	var m dnsperfResult
	var cpu []float64
	for _, r := range rounds {
		cpu = append(cpu, r.cpuPerQuery)
	}
	m.cpuPerQuery, _ = stats.Median(cpu)
	m.qps, _ = stats.Median(qps)
	m.p50, _ = stats.Median(p50)
	m.p99, _ = stats.Median(p99)
	return m
}

type dnsperfResult struct {
	qps      float64
	p50, p99 float64 // µs, from the probe
	// cpuPerQuery is this process's CPU per query dnsperf completed (µs):
	// the server's when it is ours, in process (the probe's share is the
	// same in every round).
	cpuPerQuery float64
}

var (
	qpsLine       = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	completedLine = regexp.MustCompile(`Queries completed:\s+(\d+)`)
)

// dnsperf loads addr for dnsperfSeconds while a probe samples latency, after
// a one-second warm-up that every server gets alike.
func dnsperf(ctx context.Context, addr, queries string) (dnsperfResult, error) {
	warmUp(ctx, addr, queries)
	return dnsperfRound(ctx, addr, queries, dnsperfSeconds)
}

// warmUp loads addr for a second, unmeasured.
func warmUp(ctx context.Context, addr, queries string) {
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	exec.CommandContext(ctx, "dnsperf", "-s", host, "-p", port, "-d", queries, "-l", "1", "-c", "4", "-T", "2", "-q", "500").Run()
}

// dnsperfRound loads addr for seconds while a probe samples latency.
func dnsperfRound(ctx context.Context, addr, queries string, seconds int) (dnsperfResult, error) {
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+30)*time.Second)
	defer cancel()
	cpu0 := selfCPU()
	probeCtx, stopProbe := context.WithCancel(ctx)
	lat := make(chan []float64, 1)
	go func() { lat <- probe(probeCtx, addr) }()
	out, err := exec.CommandContext(ctx, "dnsperf", "-s", host, "-p", port, "-d", queries, "-l", strconv.Itoa(seconds),
		"-c", "4", "-T", "2", "-q", "500").CombinedOutput()
	stopProbe()
	cpu := selfCPU() - cpu0
	samples := <-lat
	if err != nil {
		return dnsperfResult{}, fmt.Errorf("%v: %s", err, out)
	}
	m := qpsLine.FindSubmatch(out)
	if m == nil {
		return dnsperfResult{}, fmt.Errorf("no queries per second in dnsperf's output:\n%s", out)
	}
	r := dnsperfResult{}
	r.qps, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := completedLine.FindSubmatch(out); m != nil {
		if n, _ := strconv.ParseFloat(string(m[1]), 64); n > 0 {
			r.cpuPerQuery = float64(cpu.Microseconds()) / n
		}
	}
	if len(samples) > 0 {
		r.p50, _ = stats.Percentile(samples, 50)
		r.p99, _ = stats.Percentile(samples, 99)
	}
	return r, nil
}

// probe queries one zone name every 2 ms and returns the round trips in µs.
func probe(ctx context.Context, addr string) []float64 {
	c := &dns.Client{Timeout: time.Second}
	var out []float64
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
		_, rtt, err := c.Exchange(new(dns.Msg).SetQuestion(fmt.Sprintf("svc-%06d.amazonaws.com.", (i*7919)%benchNames), dns.TypeA), addr)
		if err == nil {
			out = append(out, float64(rtt.Microseconds()))
		}
	}
}

// runCoreDNS serves the zone file with CoreDNS's file plugin (the binary
// cached by make bench-deps) and loads it with dnsperf.
func runCoreDNS(ctx context.Context, dir, queries string) (dnsperfResult, error) {
	bin := corednsBinary()
	if _, err := os.Stat(bin); err != nil {
		return dnsperfResult{}, fmt.Errorf("not built (make bench-deps builds %s into %s, about 4 minutes): no peer figure", corednsVersion, filepath.Dir(bin))
	}
	zoneFile, err := writeZoneFile(dir)
	if err != nil {
		return dnsperfResult{}, err
	}
	return runCoreDNSWith(ctx, bin, dir, zoneFile, queries, "")
}

// dnsReady: the peer on port answers the endpoint's name with its records.
func dnsReady(port int) error {
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	r, _, err := c.Exchange(new(dns.Msg).SetQuestion("dynamodb.us-east-1.amazonaws.com.", dns.TypeA), fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	if len(r.Answer) == 0 {
		return fmt.Errorf("answered %s without records", dns.RcodeToString[r.Rcode])
	}
	return nil
}

func corednsBinary() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "faultline", "coredns-"+corednsVersion, "coredns")
}

// writeZoneFile writes the bench zone once for the peers.
func writeZoneFile(dir string) (string, error) {
	file := filepath.Join(dir, "amazonaws.com.zone")
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	var zone strings.Builder
	zone.WriteString("$ORIGIN amazonaws.com.\n$TTL 60\n@ IN SOA ns1.amazonaws.com. hostmaster.amazonaws.com. 1 7200 900 1209600 5\n@ IN NS ns1.amazonaws.com.\nns1 IN A 127.0.0.1\n")
	for _, r := range benchZone() {
		for _, ip := range r.ips {
			fmt.Fprintf(&zone, "%s IN A %s\n", r.name, ip)
		}
	}
	return file, os.WriteFile(file, []byte(zone.String()), 0o644)
}

// runNSD serves the same zone with NSD on a free loopback port (2 server
// processes, one per core; response-rate limiting off, as it would throttle
// one benchmarking client) and loads it with dnsperf.
func runNSD(ctx context.Context, dir, queries string) (dnsperfResult, error) {
	if _, err := exec.LookPath("nsd"); err != nil {
		return dnsperfResult{}, fmt.Errorf("not installed (apt-get install -y nsd, or make bench-deps): no peer figure")
	}
	zoneFile, err := writeZoneFile(dir)
	if err != nil {
		return dnsperfResult{}, err
	}
	p, err := startPeer(peerSpec{name: "nsd", within: 60 * time.Second,
		cmd: func(port int) (*exec.Cmd, error) {
			// Each attempt's own state files: a killed attempt's pid
			// file must not stop the next.
			run, err := os.MkdirTemp(dir, "nsd-")
			if err != nil {
				return nil, err
			}
			conf := fmt.Sprintf(`server:
  ip-address: 127.0.0.1@%d
  port: %d
  do-ip6: no
  server-count: 2
  username: ""
  chroot: ""
  zonesdir: "%s"
  pidfile: "%s/nsd.pid"
  xfrdfile: "%s/xfrd.state"
  zonelistfile: "%s/zone.list"
  database: ""
  verbosity: 1
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: amazonaws.com
  zonefile: "%s"
`, port, port, dir, run, run, run, zoneFile)
			confFile := filepath.Join(run, "nsd.conf")
			if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
				return nil, err
			}
			// -d: in the foreground, its log on stderr (what the peer
			// says when it fails is shown).
			return exec.Command("nsd", "-d", "-c", confFile), nil
		},
		ready: dnsReady})
	if err != nil {
		return dnsperfResult{}, err
	}
	defer p.stop()
	return dnsperf(ctx, fmt.Sprintf("127.0.0.1:%d", p.port), queries)
}

// inProcessLoad is the fallback without dnsperf: 4 workers, 5 s, miekg client.
func inProcessLoad(ctx context.Context, addr string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	counts := make(chan int, 4)
	for w := 0; w < 4; w++ {
		go func() {
			c := &dns.Client{Timeout: time.Second}
			conn, err := c.Dial(addr)
			n := 0
			if err == nil {
				defer conn.Close()
				for ctx.Err() == nil {
					if _, _, err := c.ExchangeWithConn(new(dns.Msg).SetQuestion("dynamodb.us-east-1.amazonaws.com.", dns.TypeA), conn); err == nil {
						n++
					}
				}
			}
			counts <- n
		}()
	}
	total := 0
	for w := 0; w < 4; w++ {
		total += <-counts
	}
	return float64(total) / 5, nil
}
