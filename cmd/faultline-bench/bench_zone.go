package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// The zone benchmark: how long 500,000 records take to load into faultline's
// DNS server and how much memory they hold (goal: under 2 s and 300 MB), and
// how long a record-set change takes on a full zone.
func init() { register("zone", benchZoneLoad) }

const zoneRecords = 500_000

func benchZoneLoad(ctx context.Context, out *os.File) error {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	srv, err := dnsstub.Start(dnsstub.Config{Addr: "127.0.0.1:0", Zones: []dnsstub.Zone{{Origin: "amazonaws.com."}}})
	if err != nil {
		return err
	}
	defer srv.Close()
	names := make([]string, zoneRecords)
	values := make([]string, zoneRecords)
	for i := range names {
		names[i] = fmt.Sprintf("r-%07d.svc.amazonaws.com.", i)
		values[i] = fmt.Sprintf("127.%d.%d.%d", 1+i/62500, i/250%250, 1+i%250)
	}
	start := time.Now()
	for i := range names {
		if err := srv.SetRecords(names[i], dns.TypeA, 60, []string{values[i]}); err != nil {
			return err
		}
		if i%50000 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	load := time.Since(start)
	names, values = nil, nil
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t0 := time.Now()
	const changes = 1000
	for i := 0; i < changes; i++ {
		srv.SetRecords("r-0000001.svc.amazonaws.com.", dns.TypeA, 60, []string{fmt.Sprintf("127.9.9.%d", 1+i%250)})
	}
	change := time.Since(t0) / changes
	fmt.Fprintf(out, "   %-30s %12s %12s\n", "500,000 A records", "figure", "goal")
	fmt.Fprintf(out, "   %-30s %12s %12s\n", "load time", load.Round(time.Millisecond), "< 2s")
	fmt.Fprintf(out, "   %-30s %10.0fMB %12s\n", "heap held", float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "< 300MB")
	fmt.Fprintf(out, "   %-30s %12s\n", "one record-set change", change.Round(100*time.Nanosecond))
	return nil
}
