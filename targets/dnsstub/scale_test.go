package dnsstub

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A large zone answers every name, and record sets and rules change while
// queries run without any answer ever mixing the old and the new set.
func TestLargeZoneAndAtomicChanges(t *testing.T) {
	s, _ := start(t)
	const names = 100_000
	for i := 0; i < names; i++ {
		if err := s.SetRecords(fmt.Sprintf("svc-%06d.amazonaws.com.", i), dns.TypeA, 60, []string{fmt.Sprintf("127.1.%d.%d", i/250%250, 1+i%250)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{0, 12345, names - 1} {
		if r := ask(t, s, "udp", fmt.Sprintf("svc-%06d.amazonaws.com.", i), dns.TypeA); len(r.Answer) != 1 {
			t.Errorf("svc-%06d: %d answers", i, len(r.Answer))
		}
	}
	setA, setB := []string{"127.0.1.1", "127.0.1.2"}, []string{"127.0.3.1", "127.0.3.2", "127.0.3.3"}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // flip the endpoint's set and a rule as fast as possible
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			set := setA
			if i%2 == 1 {
				set = setB
			}
			s.SetRecords(endpoint, dns.TypeA, 5, set)
			remove, _ := s.AddRule(Rule{Name: "svc-000001.amazonaws.com.", Action: ServFail()})
			remove()
		}
	}()
	want := map[string]bool{strings.Join(setA, ","): true, strings.Join(setB, ","): true}
	deadline := time.Now().Add(time.Second)
	n := 0
	for time.Now().Before(deadline) {
		r := ask(t, s, "udp", endpoint, dns.TypeA)
		var got []string
		for _, rr := range r.Answer {
			got = append(got, rr.(*dns.A).A.String())
		}
		sort.Strings(got)
		if !want[strings.Join(got, ",")] {
			t.Fatalf("answer %v mixes the record sets", got)
		}
		n++
	}
	stop.Store(true)
	wg.Wait()
	if n == 0 {
		t.Fatal("no query answered")
	}
}

// Thousands of exact-name rules: each shapes only its own name.
func TestManyRules(t *testing.T) {
	s, _ := start(t)
	for i := 0; i < 5000; i++ {
		rule(t, s, Rule{Name: fmt.Sprintf("svc-%04d.amazonaws.com.", i), Fault: fmt.Sprint(i), Action: NXDomain()})
	}
	rule(t, s, Rule{Name: ".deep.amazonaws.com.", Fault: "deep", Action: ServFail()})
	if r := ask(t, s, "udp", "svc-4321.amazonaws.com.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("ruled name: %s", dns.RcodeToString[r.Rcode])
	}
	if r := ask(t, s, "udp", endpoint, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 {
		t.Errorf("unruled name: %v", r)
	}
	if r := ask(t, s, "udp", "a.b.deep.amazonaws.com.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("suffix rule: %s", dns.RcodeToString[r.Rcode])
	}
}

// Answers share the store's records; many clients at once must not race on
// them (run with -race).
func TestConcurrentQueriesShareRecords(t *testing.T) {
	s, _ := start(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(proto string) {
			defer wg.Done()
			c := &dns.Client{Net: proto, Timeout: 5 * time.Second} // an answer must come, however loaded the machine
			for i := 0; i < 100; i++ {
				m := new(dns.Msg)
				m.SetQuestion(endpoint, dns.TypeA)
				if i%2 == 0 {
					m.SetEdns0(1232, false)
				}
				r, _, err := c.Exchange(m, s.Addr())
				if err != nil || len(r.Answer) != 2 {
					errs <- fmt.Errorf("%s query %d: %v", proto, i, err)
					return
				}
			}
		}([]string{"udp", "tcp"}[g%2])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
