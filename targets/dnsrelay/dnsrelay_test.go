package dnsrelay_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/dnsrelay"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
)

const name = "dynamodb.us-east-1.amazonaws.com."

func start(t *testing.T) (*dnsstub.Server, *dnsrelay.Relay, func() []dnsstub.QueryEvent) {
	t.Helper()
	var mu sync.Mutex
	var seen []dnsstub.QueryEvent
	srv := dnsstubtest.StartConfig(t, dnsstub.Config{Addr: "127.0.0.1:0",
		Zones:    []dnsstub.Zone{{Origin: "amazonaws.com."}},
		Observer: func(q dnsstub.QueryEvent) { mu.Lock(); seen = append(seen, q); mu.Unlock() }})
	if err := srv.SetRecords(name, dns.TypeA, 5, []string{"127.0.1.1", "127.0.1.2"}); err != nil {
		t.Fatal(err)
	}
	// Generous timeouts: an answer must come however loaded the machine.
	r, err := dnsrelay.Start(dnsrelay.Config{Addr: "127.0.99.53:0", Upstream: srv.Addr(), Source: "127.0.99.54", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return srv, r, func() []dnsstub.QueryEvent {
		mu.Lock()
		defer mu.Unlock()
		return append([]dnsstub.QueryEvent(nil), seen...)
	}
}

// Queries over UDP and TCP (miekg's client) and Go's own resolver get the
// server's answers through the relay, and the server sees them from the
// relay's source address.
func TestRelayForwardsOverUDPAndTCP(t *testing.T) {
	_, r, seen := start(t)
	for _, proto := range []string{"udp", "tcp"} {
		c := dns.Client{Net: proto, Timeout: 5 * time.Second}
		resp, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), r.Addr())
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 2 || !resp.Authoritative {
			t.Errorf("%s: %v; want the server's authoritative answer with two A records", proto, resp)
		}
	}
	addrs, err := dnsstubtest.GoResolver(r.Addr()).LookupHost(context.Background(), name)
	if err != nil || len(addrs) != 2 {
		t.Errorf("Go's resolver: %v, %v", addrs, err)
	}
	got := seen()
	if len(got) < 3 {
		t.Fatalf("the server saw %d queries; want at least 3", len(got))
	}
	for _, q := range got {
		if !strings.HasPrefix(q.Client, "127.0.99.54:") {
			t.Errorf("the server saw a query from %s; want the relay's source 127.0.99.54", q.Client)
		}
	}
}

// Faults reach the client through the relay as they are: an empty answer
// stays empty, and a query the server drops is not answered.
func TestRelayPassesFaultsThrough(t *testing.T) {
	srv, r, _ := start(t)
	remove := dnsstubtest.Rule(t, srv, dnsstub.Rule{Name: name, Action: dnsstub.Empty(dnsstub.EmptyOptions{})})
	c := dns.Client{Net: "udp", Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), r.Addr())
	if err != nil || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 || len(resp.Ns) != 1 {
		t.Errorf("empty fault: %v, %v; want NOERROR, no answers, the SOA", resp, err)
	}
	remove()
	dnsstubtest.Rule(t, srv, dnsstub.Rule{Name: name, Action: dnsstub.Timeout()})
	c.Timeout = 1500 * time.Millisecond
	if resp, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), r.Addr()); err == nil {
		t.Errorf("timeout fault: answered %v; want no answer", resp)
	}
}

func TestRelayBadConfig(t *testing.T) {
	for _, cfg := range []dnsrelay.Config{
		{Addr: "127.0.99.53:0", Upstream: "nowhere"},
		{Addr: "127.0.99.53:0", Upstream: "127.0.0.1:53", Source: "not-an-ip"},
		{Addr: "203.0.113.1:0", Upstream: "127.0.0.1:53"},
	} {
		if r, err := dnsrelay.Start(cfg); err == nil {
			r.Close()
			t.Errorf("Start(%+v) succeeded; want an error", cfg)
		}
	}
}
