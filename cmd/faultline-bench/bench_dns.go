package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// The DNS benchmark: queries per second of faultline's DNS server and of NSD
// (a C authoritative server from NLnet Labs) serving the same zone, each
// loaded by dnsperf on the same two cores, in one run.
func init() { register("dns", benchDNS) }

const dnsperfSeconds = 5

func benchDNS(ctx context.Context, out *os.File) error {
	dir, err := os.MkdirTemp("", "faultline-bench-dns")
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
	for _, r := range benchZone() {
		if err := srv.SetRecords(r.name, dns.TypeA, 60, r.ips); err != nil {
			return err
		}
	}
	if _, err := exec.LookPath("dnsperf"); err != nil {
		fmt.Fprintln(out, "   dnsperf is not installed (apt-get install -y dnsperf, or make bench-deps); falling back to an in-process load")
		qps, err := inProcessLoad(ctx, srv.Addr())
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "   faultline dnsstub: %.0f queries/s (in-process miekg client, 4 workers, 5 s)\n", qps)
		return nil
	}
	ours, err := dnsperf(ctx, srv.Addr(), queries)
	if err != nil {
		return fmt.Errorf("dnsperf against faultline: %w", err)
	}
	fmt.Fprintf(out, "   %-28s %10s %10s %8s\n", "server", "queries/s", "avg lat", "vs ours")
	fmt.Fprintf(out, "   %-28s %10.0f %10s %8s\n", "faultline dnsstub (Go)", ours.qps, ours.latency, "1.00")
	peer, err := runNSD(ctx, dir, queries)
	switch {
	case err != nil:
		fmt.Fprintf(out, "   nsd: %v\n", err)
	default:
		fmt.Fprintf(out, "   %-28s %10.0f %10s %8.2f\n", "nsd 4 (C, same zone)", peer.qps, peer.latency, peer.qps/ours.qps)
	}
	fmt.Fprintf(out, "   (dnsperf -c 4 -T 2 -l %d on the same 2 cores; 1,002 names; 80%% endpoint A, 10%% AAAA NODATA, 10%% NXDOMAIN;\n", dnsperfSeconds)
	fmt.Fprintln(out, "    CoreDNS is not built here: FACTS.md gives it about 33.7k q/s on 2 vCPU)")
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
	for i := 0; i < 1000; i++ {
		zone = append(zone, zoneRecord{fmt.Sprintf("svc-%04d.amazonaws.com.", i), []string{fmt.Sprintf("127.0.%d.%d", 10+i/250, 1+i%250)}})
	}
	return zone
}

func writeQueries(path string) error {
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		switch {
		case i%10 == 8:
			b.WriteString("dynamodb.us-east-1.amazonaws.com AAAA\n")
		case i%10 == 9:
			fmt.Fprintf(&b, "missing-%d.amazonaws.com A\n", i)
		case i%2 == 0:
			b.WriteString("dynamodb.us-east-1.amazonaws.com A\n")
		default:
			b.WriteString("dynamodb.us-west-2.amazonaws.com A\n")
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

type dnsperfResult struct {
	qps     float64
	latency string
}

var (
	qpsLine = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	latLine = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
)

func dnsperf(ctx context.Context, addr, queries string) (dnsperfResult, error) {
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(ctx, (dnsperfSeconds+20)*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "dnsperf", "-s", host, "-p", port, "-d", queries, "-l", strconv.Itoa(dnsperfSeconds),
		"-c", "4", "-T", "2", "-q", "500").CombinedOutput()
	if err != nil {
		return dnsperfResult{}, fmt.Errorf("%v: %s", err, out)
	}
	m := qpsLine.FindSubmatch(out)
	if m == nil {
		return dnsperfResult{}, fmt.Errorf("no queries per second in dnsperf's output:\n%s", out)
	}
	qps, _ := strconv.ParseFloat(string(m[1]), 64)
	lat := "?"
	if l := latLine.FindSubmatch(out); l != nil {
		s, _ := strconv.ParseFloat(string(l[1]), 64)
		lat = fmt.Sprintf("%.0fµs", s*1e6)
	}
	return dnsperfResult{qps: qps, latency: lat}, nil
}

// runNSD serves the same zone with NSD on a free loopback port (2 server
// processes, one per core; response-rate limiting off, as it would throttle
// one benchmarking client) and loads it with dnsperf.
func runNSD(ctx context.Context, dir, queries string) (dnsperfResult, error) {
	if _, err := exec.LookPath("nsd"); err != nil {
		return dnsperfResult{}, fmt.Errorf("not installed (apt-get install -y nsd, or make bench-deps): no peer figure")
	}
	port, err := freeUDPPort()
	if err != nil {
		return dnsperfResult{}, err
	}
	var zone strings.Builder
	zone.WriteString("$ORIGIN amazonaws.com.\n$TTL 60\n@ IN SOA ns1.amazonaws.com. hostmaster.amazonaws.com. 1 7200 900 1209600 5\n@ IN NS ns1.amazonaws.com.\nns1 IN A 127.0.0.1\n")
	for _, r := range benchZone() {
		for _, ip := range r.ips {
			fmt.Fprintf(&zone, "%s IN A %s\n", r.name, ip)
		}
	}
	zoneFile := filepath.Join(dir, "amazonaws.com.zone")
	if err := os.WriteFile(zoneFile, []byte(zone.String()), 0o644); err != nil {
		return dnsperfResult{}, err
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
  logfile: "%s/nsd.log"
  verbosity: 0
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: amazonaws.com
  zonefile: "%s"
`, port, port, dir, dir, dir, dir, dir, zoneFile)
	confFile := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return dnsperfResult{}, err
	}
	cmd := exec.Command("nsd", "-d", "-c", confFile)
	if err := cmd.Start(); err != nil {
		return dnsperfResult{}, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitDNS(addr, "dynamodb.us-east-1.amazonaws.com.", 10*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "nsd.log"))
		return dnsperfResult{}, fmt.Errorf("nsd did not answer: %v %s", err, log)
	}
	return dnsperf(ctx, addr, queries)
}

func freeUDPPort() (int, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port, nil
}

func waitDNS(addr, name string, within time.Duration) error {
	deadline := time.Now().Add(within)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	var err error
	for time.Now().Before(deadline) {
		var r *dns.Msg
		if r, _, err = c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr); err == nil && len(r.Answer) > 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
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
