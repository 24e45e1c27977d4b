package faultline

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/faults"
)

// The plugin's own cost per query, in process (dnsperf's figures, make
// bench-coredns, include a whole CoreDNS and the machine's noise): a query
// through the plugin to a next handler that answers, beside the next
// handler alone.
//
//	cd targets/coredns && go test -run '^$' -bench ServeDNS ./plugin/faultline
func BenchmarkServeDNS(b *testing.B) {
	answer := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	})
	noRule, err := newFaultline(config{instance: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	noRule.Next = answer
	oneRule, err := newFaultline(config{instance: "bench", static: []faults.Fault{{ID: "corefile-1", Kind: "dns.empty",
		Target: "dynamodb.us-east-1.amazonaws.com.", Params: map[string]string{"client": "10.99.0.1"}}}})
	if err != nil {
		b.Fatal(err)
	}
	oneRule.Next = answer
	req := new(dns.Msg).SetQuestion("svc-000001.amazonaws.com.", dns.TypeA)
	w := &test.ResponseWriter{}
	for _, c := range []struct {
		name string
		h    plugin.Handler
	}{{"next alone", answer}, {"no rule", noRule}, {"one rule elsewhere", oneRule}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				c.h.ServeDNS(ctx, w, req)
			}
		})
	}
}
