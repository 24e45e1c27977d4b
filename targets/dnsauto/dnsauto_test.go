package dnsauto

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
)

const name = "dynamodb.us-east-1.amazonaws.com."

type steps struct {
	mu  sync.Mutex
	evs []Event
}

func (s *steps) add(e Event) { s.mu.Lock(); s.evs = append(s.evs, e); s.mu.Unlock() }
func (s *steps) has(step string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.evs {
		if e.Step == step {
			return true
		}
	}
	return false
}

func automation(t *testing.T, fix bool) (*Automation, *dnsstub.Server, *steps) {
	t.Helper()
	srv := dnsstubtest.Start(t, dnsstub.Zone{Origin: "amazonaws.com."})
	st := &steps{}
	a, err := Start(Config{Name: name, Addresses: []string{"127.0.1.1", "127.0.1.2"}, TTL: 1, Fix: fix, Records: srv, Observer: st.add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a, srv, st
}

func answers(t *testing.T, srv *dnsstub.Server) (int, int) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return r.Rcode, len(r.Answer)
}

// waitFor polls (bounded) until ok.
func waitFor(within time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if ok() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ok()
}

// The race of October 20: a delayed enactor applies an old plan, another
// enactor's cleanup deletes it, the record goes empty (NODATA: the name keeps
// its TXT), the automation is stuck, and only the operator's repair brings it
// back.
func TestDelayedEnactorEmptiesTheRecord(t *testing.T) {
	a, srv, st := automation(t, false)
	if rc, n := answers(t, srv); rc != dns.RcodeSuccess || n != 2 {
		t.Fatalf("before: rcode %d, %d answers", rc, n)
	}
	undo, err := a.Delay("enactor-1", 2250*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !waitFor(6*time.Second, func() bool { _, n := answers(t, srv); return n == 0 }) {
		t.Fatalf("the record never went empty; steps: %+v", st.evs)
	}
	if rc, _ := answers(t, srv); rc != dns.RcodeSuccess {
		t.Errorf("empty record answers %s, want NOERROR with no answers (NODATA)", dns.RcodeToString[rc])
	}
	for _, step := range []string{"pick", "apply", "cleanup", "emptied"} {
		if !st.has(step) {
			t.Errorf("no %q step journaled", step)
		}
	}
	if !waitFor(3*time.Second, func() bool { return st.has("stuck") }) {
		t.Error("the automation did not report itself stuck")
	}
	time.Sleep(time.Second)
	if _, n := answers(t, srv); n != 0 {
		t.Error("the automation repaired itself; on October 20 it could not")
	}
	undo()
	if err := a.Repair(); err != nil {
		t.Fatal(err)
	}
	if _, n := answers(t, srv); n != 2 || a.Applied() == 0 {
		t.Errorf("after the repair: %d answers, plan %d", n, a.Applied())
	}
	if !waitFor(3*time.Second, func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		last := st.evs[len(st.evs)-1]
		return last.Step == "apply" || last.Step == "cleanup" || last.Step == "plan"
	}) {
		t.Error("the enactors did not resume after the repair")
	}
}

// With the fix (generation checked again at apply time) the same delay never
// empties the record.
func TestFixPreventsTheRace(t *testing.T) {
	a, srv, st := automation(t, true)
	undo, _ := a.Delay("enactor-1", 2250*time.Millisecond)
	defer undo()
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if _, n := answers(t, srv); n != 2 {
			t.Fatalf("the record lost its addresses with the fix on; steps %+v", st.evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !st.has("abandon") {
		t.Error("the delayed enactor did not abandon its stale plan")
	}
}

func TestBadInput(t *testing.T) {
	a, _, _ := automation(t, false)
	if _, err := a.Delay("enactor-9", time.Second); err == nil || !strings.Contains(err.Error(), "enactor-1") {
		t.Errorf("unknown enactor: %v", err)
	}
	if _, err := Start(Config{}); err == nil {
		t.Error("an automation without a name started")
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	srv := dnsstubtest.Start(t, dnsstub.Zone{Origin: "amazonaws.com."})
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a, err := Start(Config{Name: name, Addresses: []string{"127.0.1.1"}, Records: srv})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	a.Close()
	a.Close()
}
