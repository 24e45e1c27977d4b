package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// The CoreDNS plugin's cost: the CoreDNS of `make coredns` serving the
// bench zone (file plugin) with the faultline block and no active fault,
// beside the same binary without the block, loaded by dnsperf in turns
// in one run; the plugin must cost under 5 % of queries per second. A
// third server holds one fault rule for a name no query asks: the price of
// matching while a fault is active elsewhere.
func init() { register("coredns", benchCoreDNS) }

const corednsRounds = 3

func benchCoreDNS(ctx context.Context, out *os.File) error {
	bin := os.Getenv("FAULTLINE_COREDNS_PLUGIN")
	if bin == "" {
		cache, _ := os.UserCacheDir()
		bin = filepath.Join(cache, "faultline", "coredns-faultline-"+corednsVersion, "coredns")
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(out, "   no CoreDNS with the plugin at %s (make coredns builds it, about 4 minutes): skipped\n", bin)
		return nil
	}
	if _, err := exec.LookPath("dnsperf"); err != nil {
		fmt.Fprintln(out, "   dnsperf is not installed (apt-get install -y dnsperf): skipped")
		return nil
	}
	dir, err := tempdirs.Make("", "bench-coredns")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	queries := filepath.Join(dir, "queries.txt")
	if err := writeQueries(queries); err != nil {
		return err
	}
	zone, err := writeZoneFile(dir)
	if err != nil {
		return err
	}
	configs := []struct{ name, block string }{
		{"plain CoreDNS (no faultline block)", ""},
		// Its control API unreachable, the plugin holds no rule: the state
		// of a faultline up with no active DNS fault (an empty rule set).
		{"with the plugin, no active fault", "  faultline {\n    control http://127.0.0.1:9\n    token_file " + filepath.Join(dir, "token") + "\n  }\n"},
		{"with the plugin, one rule elsewhere", "  faultline {\n    fault dns.empty dynamodb.us-east-1.amazonaws.com client=127.99.0.1\n  }\n"},
	}
	os.WriteFile(filepath.Join(dir, "token"), []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	qps := make([][]float64, len(configs))
	// Rounds in turns, so that the machine's drift falls on every server.
	for round := 0; round < corednsRounds; round++ {
		for i, c := range configs {
			r, err := runCoreDNSWith(ctx, bin, dir, zone, queries, c.block)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			qps[i] = append(qps[i], r.qps)
		}
	}
	median := func(xs []float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	base := median(qps[0])
	fmt.Fprintf(out, "   %-40s %10s %8s\n", "CoreDNS "+corednsVersion+" (file plugin, 100,000 names)", "queries/s", "ratio")
	for i, c := range configs {
		m := median(qps[i])
		fmt.Fprintf(out, "   %-40s %10.0f %8.3f   rounds %v\n", c.name, m, m/base, rounded(qps[i]))
	}
	cost := 1 - median(qps[1])/base
	verdict := "under 5 %: ok"
	if cost >= 0.05 {
		verdict = "5 % or more: too much (on a busy machine, run it again: the rounds above show the spread)"
	}
	fmt.Fprintf(out, "   the plugin with no active fault costs %.1f %% of queries/s (%s)\n", 100*cost, verdict)
	fmt.Fprintf(out, "   (dnsperf -c 4 -T 2 -l %d per round, %d rounds in turns, medians; the same binary, same run)\n", dnsperfSeconds, corednsRounds)
	return nil
}

func rounded(xs []float64) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	return out
}

// runCoreDNSWith serves the zone file with bin, block (a faultline block
// or nothing) before the file plugin, and loads it with dnsperf.
func runCoreDNSWith(ctx context.Context, bin, dir, zone, queries, block string) (dnsperfResult, error) {
	port, err := freeUDPPort()
	if err != nil {
		return dnsperfResult{}, err
	}
	corefile := filepath.Join(dir, fmt.Sprintf("Corefile.%d", port))
	os.WriteFile(corefile, []byte(fmt.Sprintf("amazonaws.com:%d {\n  bind 127.0.0.1\n%s  file %s\n}\n", port, block, zone)), 0o644)
	cmd := exec.Command(bin, "-conf", corefile, "-quiet")
	if err := cmd.Start(); err != nil {
		return dnsperfResult{}, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitDNS(addr, "dynamodb.us-east-1.amazonaws.com.", 30*time.Second); err != nil {
		return dnsperfResult{}, fmt.Errorf("coredns did not answer: %v", err)
	}
	return dnsperf(ctx, addr, queries)
}
