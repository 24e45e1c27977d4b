package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
func init() { registerOptIn("coredns", benchCoreDNS) }

const corednsRounds = 5

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
	dir, err := tempdirs.Make("", "bench-dns")
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
	ratios := make([][]float64, len(configs)) // per round, against that round's plain CoreDNS
	// Rounds in turns, the order reversed every other round, so that the
	// machine's drift falls alike on every server; each round's ratio
	// compares servers measured seconds apart.
	for round := 0; round < corednsRounds; round++ {
		order := []int{0, 1, 2}
		if round%2 == 1 {
			order = []int{2, 1, 0}
		}
		got := make([]float64, len(configs))
		for _, i := range order {
			r, err := runCoreDNSWith(ctx, bin, dir, zone, queries, configs[i].block)
			if err != nil {
				return fmt.Errorf("%s: %w", configs[i].name, err)
			}
			got[i] = r.qps
			qps[i] = append(qps[i], r.qps)
		}
		for i := range configs {
			ratios[i] = append(ratios[i], got[i]/got[0])
		}
	}
	median := func(xs []float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	fmt.Fprintf(out, "   %-40s %10s %8s\n", "CoreDNS "+corednsVersion+" (file plugin, 100,000 names)", "queries/s", "ratio")
	for i, c := range configs {
		fmt.Fprintf(out, "   %-40s %10.0f %8.3f   rounds %v\n", c.name, median(qps[i]), median(ratios[i]), rounded(qps[i]))
	}
	cost := 1 - median(ratios[1])
	lo, hi := slices.Min(qps[0]), slices.Max(qps[0])
	spread := hi/lo - 1
	verdict := "under 5 %: ok"
	switch {
	case cost >= 0.05 && spread >= 0.05:
		verdict = fmt.Sprintf("5 %% or more, but plain CoreDNS's own rounds differ by %.0f %%: a busy machine; run it again on a quiet one", 100*spread)
	case cost >= 0.05:
		verdict = "5 % or more: too much"
	case spread >= 0.05:
		verdict = fmt.Sprintf("under 5 %%, within the noise: plain CoreDNS's own rounds differ by %.0f %% on this machine now", 100*spread)
	}
	fmt.Fprintf(out, "   the plugin with no active fault costs %.1f %% of queries/s (%s)\n", 100*cost, verdict)
	fmt.Fprintf(out, "   (dnsperf -c 4 -T 2 -l %d per server and round, %d rounds in turns; medians of queries/s and of each round's ratio; one binary, one run)\n", dnsperfSeconds, corednsRounds)
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
	p, err := startPeer(peerSpec{name: "coredns", within: 60 * time.Second,
		cmd: func(port int) (*exec.Cmd, error) {
			corefile := filepath.Join(dir, fmt.Sprintf("Corefile.%d", port))
			conf := fmt.Sprintf("amazonaws.com:%d {\n  bind 127.0.0.1\n%s  file %s\n}\n", port, block, zone)
			if err := os.WriteFile(corefile, []byte(conf), 0o644); err != nil {
				return nil, err
			}
			return exec.Command(bin, "-conf", corefile, "-quiet"), nil
		},
		ready: dnsReady})
	if err != nil {
		return dnsperfResult{}, err
	}
	defer p.stop()
	return dnsperf(ctx, fmt.Sprintf("127.0.0.1:%d", p.port), queries)
}
