package dnsrelay_test

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnsrelay"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
)

// The relay rewrites the addresses it was given in A answers, over UDP and
// TCP and for Go's resolver, and passes every other address unchanged: an
// address a fault redirects to, or a name outside the map.
func TestRelayRewritesListedAddresses(t *testing.T) {
	srv := dnsstubtest.StartConfig(t, dnsstub.Config{Addr: "127.0.0.1:0", Zones: []dnsstub.Zone{{Origin: "amazonaws.com."}}})
	if err := srv.SetRecords(name, dns.TypeA, 5, []string{"127.0.1.1", "127.0.1.2"}); err != nil {
		t.Fatal(err)
	}
	other := "other.amazonaws.com."
	if err := srv.SetRecords(other, dns.TypeA, 5, []string{"127.0.1.1", "127.0.255.1"}); err != nil {
		t.Fatal(err)
	}
	r, err := dnsrelay.Start(dnsrelay.Config{Addr: "127.0.99.53:0", Upstream: srv.Addr(), Source: "127.0.99.54",
		Rewrite: map[string]string{"127.0.1.1": "127.64.1.1", "127.0.1.2": "127.64.1.2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lookup := func(proto, qname string) []string {
		c := dns.Client{Net: proto, Timeout: time.Second}
		resp, _, err := c.Exchange(new(dns.Msg).SetQuestion(qname, dns.TypeA), r.Addr())
		if err != nil {
			t.Fatalf("%s %s: %v", proto, qname, err)
		}
		var out []string
		for _, rr := range resp.Answer {
			out = append(out, rr.(*dns.A).A.String())
		}
		slices.Sort(out)
		return out
	}
	for _, proto := range []string{"udp", "tcp"} {
		if got := lookup(proto, name); strings.Join(got, ",") != "127.64.1.1,127.64.1.2" {
			t.Errorf("%s: %s → %v; want the aliases", proto, name, got)
		}
		if got := lookup(proto, other); strings.Join(got, ",") != "127.0.255.1,127.64.1.1" {
			t.Errorf("%s: %s → %v; want the listed address rewritten, the other one as it was", proto, other, got)
		}
	}
	addrs, err := dnsstubtest.GoResolver(r.Addr()).LookupHost(context.Background(), name)
	slices.Sort(addrs)
	if err != nil || strings.Join(addrs, ",") != "127.64.1.1,127.64.1.2" {
		t.Errorf("Go's resolver through the relay: %v, %v", addrs, err)
	}
	for _, bad := range []map[string]string{{"127.0.1.1": "::1"}, {"node": "127.0.0.1"}} {
		if r, err := dnsrelay.Start(dnsrelay.Config{Addr: "127.0.99.53:0", Upstream: srv.Addr(), Rewrite: bad}); err == nil {
			r.Close()
			t.Errorf("Rewrite %v accepted", bad)
		}
	}
}

// StartFirstFree moves on past an address another run holds (its UDP or
// its TCP side), and gives each address its own source.
func TestStartFirstFreeMovesOn(t *testing.T) {
	srv := dnsstubtest.StartConfig(t, dnsstub.Config{Addr: "127.0.0.1:0", Zones: []dnsstub.Zone{{Origin: "amazonaws.com."}}})
	udp, err := net.ListenPacket("udp", "127.57.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	port := strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port)
	tcp, err := net.Listen("tcp", "127.57.0.2:"+port)
	if err != nil {
		t.Skipf("port %s is taken on 127.57.0.2 too: %v", port, err)
	}
	defer tcp.Close()
	var sources []string
	r, err := dnsrelay.StartFirstFree(dnsrelay.Config{Upstream: srv.Addr()},
		[]string{"127.57.0.1:" + port, "127.57.0.2:" + port, "127.57.0.3:" + port},
		func(addr string) string {
			sources = append(sources, addr)
			return strings.Replace(addr[:strings.LastIndex(addr, ":")], "127.57.", "127.58.", 1)
		})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Addr() != "127.57.0.3:"+port || len(sources) != 3 {
		t.Errorf("relay on %s after trying %v; want the third address", r.Addr(), sources)
	}
	_, err = dnsrelay.StartFirstFree(dnsrelay.Config{Upstream: srv.Addr()}, []string{"127.57.0.1:" + port, "127.57.0.2:" + port}, nil)
	if err == nil || !strings.Contains(err.Error(), "all 2 addresses tried are taken") {
		t.Errorf("every address taken: %v", err)
	}
	if _, err := dnsrelay.StartFirstFree(dnsrelay.Config{Upstream: "nowhere"}, []string{"127.57.0.4:" + port}, nil); err == nil || strings.Contains(err.Error(), "taken") {
		t.Errorf("a bad config: %v; want its own error, not a search", err)
	}
}
