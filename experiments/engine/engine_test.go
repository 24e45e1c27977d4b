package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/topology"
)

const east = "dynamodb.us-east-1.amazonaws.com."

func worldConfig() topology.Config {
	hc := nlb.DefaultHealthCheck()
	return topology.Config{Zone: "amazonaws.com.", RecordTTL: time.Second, NegativeTTL: time.Second, Table: "orders", Items: 5,
		Regions: []topology.Region{
			{Name: "us-east-1", Endpoint: east, Nodes: 2, Targets: 1, HealthCheck: hc},
			{Name: "us-west-2", Endpoint: "dynamodb.us-west-2.amazonaws.com.", Nodes: 1, Targets: 1, HealthCheck: hc},
		}}
}

// open starts an Engine on a small real world, closed at cleanup.
func open(t *testing.T, apps int) *Engine {
	t.Helper()
	e, err := Open(context.Background(), Config{Topology: worldConfig(), Journal: recordedJournal(), Apps: apps, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return e
}

// The journal streams and holds nothing: a test keeps its events with a
// Recorder observing it.
var recorders sync.Map // *journal.Journal → *journal.Recorder

func recordedJournal() *journal.Journal {
	j, rec := journal.New(nil), &journal.Recorder{}
	j.Observe(rec.Add)
	recorders.Store(j, rec)
	return j
}

func recorded(e *Engine) []journal.Event {
	r, _ := recorders.Load(e.Journal())
	return r.(*journal.Recorder).Events()
}

// answers asks the authoritative server for name's A records; -1: no answer.
func answers(addr, name string) int {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 500 * time.Millisecond}).Exchange(m, addr)
	if err != nil {
		return -1
	}
	return len(r.Answer)
}

func eventsOf(e *Engine, typ string) []journal.Event {
	var out []journal.Event
	for _, ev := range recorded(e) {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// Apply and Heal act on the real world and journal who did it; a fault is
// healed once, whoever asks.
func TestApplyHealOnceWhoeverAsks(t *testing.T) {
	e := open(t, 0)
	dnsAddr := e.World().DNSAddr()
	if n := answers(dnsAddr, east); n != 2 {
		t.Fatalf("%s answers %d records before the fault, want 2", east, n)
	}
	a, err := e.Apply(faults.Fault{Kind: "dns.empty", Target: "DynamoDB.us-east-1.amazonaws.com"}, "test", Late(3*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if a.Fault.ID != "f1" || a.Fault.Target != east || a.By != "test" {
		t.Errorf("applied %+v; want id f1, the target normalised, by test", a)
	}
	if n := answers(dnsAddr, east); n != 0 {
		t.Errorf("%s answers %d records while emptied", east, n)
	}
	if act := e.Active(); len(act) != 1 || act[0].Fault.ID != "f1" {
		t.Errorf("active %+v, want f1", act)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- e.Heal("f1", "scheduled", "schedule") }()
	}
	wg.Wait()
	close(errs)
	healedOK := 0
	for err := range errs {
		switch {
		case err == nil:
			healedOK++
		case !errors.Is(err, ErrHealed):
			t.Errorf("a concurrent heal: %v", err)
		}
	}
	if healedOK != 1 {
		t.Errorf("%d heals succeeded, want exactly one", healedOK)
	}
	if n := answers(dnsAddr, east); n != 2 {
		t.Errorf("%s answers %d records after the heal, want 2", east, n)
	}
	if err := e.Heal("f9", "x", "test"); !errors.Is(err, ErrUnknownFault) {
		t.Errorf("healing an id never applied: %v", err)
	}
	applied, healed := eventsOf(e, journal.FaultApplied), eventsOf(e, journal.FaultHealed)
	if len(applied) != 1 || len(healed) != 1 {
		t.Fatalf("journal has %d fault.applied and %d fault.healed, want one each", len(applied), len(healed))
	}
	if ap := applied[0]; ap.By != "test" || ap.Reach != faults.ReachDNS || ap.LagMS != 3 || ap.Target != east {
		t.Errorf("fault.applied %+v; want by test, reach dns, lag 3 ms", ap)
	}
	if h := healed[0]; h.By != "schedule" || h.Detail != "scheduled" {
		t.Errorf("fault.healed %+v; want by schedule, detail scheduled", h)
	}
	if len(e.Active()) != 0 {
		t.Errorf("active after the heal: %+v", e.Active())
	}
	// A region fault journals the region's endpoint name; a node fault its node.
	if _, err := e.Apply(faults.Fault{ID: "down", Kind: "nlb.node-down", Target: "us-east-1", Params: map[string]string{"node": "2"}}, "test"); err != nil {
		t.Fatal(err)
	}
	lb, _ := e.World().NLB("us-east-1")
	if ap := eventsOf(e, journal.FaultApplied)[1]; ap.Name != east || ap.Node != lb.NodeAddrs()[1] || ap.Reach != faults.ReachNode {
		t.Errorf("node fault journaled as %+v; want name %s, node %s", ap, east, lb.NodeAddrs()[1])
	}
	if _, err := e.Apply(faults.Fault{ID: "down", Kind: "dns.empty", Target: east}, "test"); !errors.Is(err, ErrDuplicate) {
		t.Errorf("a second fault with id down: %v", err)
	}
}

// Bad input says what was expected, and nothing is applied.
func TestApplyRefusesBadInput(t *testing.T) {
	e := open(t, 0)
	for _, c := range []struct {
		f    faults.Fault
		want string
	}{
		{faults.Fault{Kind: "dns.nope", Target: east}, "unknown kind \"dns.nope\"; expected one of:"},
		{faults.Fault{Kind: "dns.empty", Target: "dynamodb.eu-west-1.amazonaws.com"}, "expected one of: dynamodb.us-east-1.amazonaws.com, dynamodb.us-west-2.amazonaws.com"},
		{faults.Fault{Kind: "link.down", Target: "eu-west-1"}, "link.down acts on a region; \"eu-west-1\" is not one (expected one of: us-east-1, us-west-2)"},
		{faults.Fault{Kind: "dns.delay", Target: east, Params: map[string]string{"delay": "soon"}}, "delay"},
		{faults.Fault{Kind: "nlb.node-down", Target: "us-east-1", Params: map[string]string{"node": "7"}}, "applying fault"},
	} {
		_, err := e.Apply(c.f, "test")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Apply(%+v) = %v; want an error containing %q", c.f, err, c.want)
		}
		// Bad input is ErrInvalid; the world refusing a valid fault is not.
		if bad := c.want != "applying fault"; errors.Is(err, ErrInvalid) != bad {
			t.Errorf("Apply(%+v) = %v: errors.Is(ErrInvalid) = %v, want %v", c.f, err, !bad, bad)
		}
	}
	if n := len(eventsOf(e, journal.FaultApplied)); n != 0 || len(e.Active()) != 0 {
		t.Errorf("%d faults journaled, %d active after bad input; want none", n, len(e.Active()))
	}
	if answers(e.World().DNSAddr(), east) != 2 {
		t.Error("the record changed")
	}
	if _, err := e.ApplyFor(faults.Fault{Kind: "dns.empty", Target: east}, "test", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("ApplyFor with no bound: %v", err)
	}
	var pe *faults.ParamError
	if _, err := e.Apply(faults.Fault{Kind: "dns.delay", Target: east, Params: map[string]string{"delay": "soon"}}, "test"); !errors.As(err, &pe) || pe.Param != "delay" {
		t.Errorf("a bad parameter: %v; want a *faults.ParamError naming it", err)
	}
}

// A fault applied for a bound heals by itself, journaled by "bound"; one
// healed before its bound is not healed again.
func TestApplyForHealsAtItsBound(t *testing.T) {
	e := open(t, 0)
	a, err := e.ApplyFor(faults.Fault{Kind: "dns.servfail", Target: east}, "api:alice", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if a.Bound != 200*time.Millisecond {
		t.Errorf("bound %s", a.Bound)
	}
	early, err := e.ApplyFor(faults.Fault{Kind: "dns.empty", Target: "dynamodb.us-west-2.amazonaws.com"}, "api:bob", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Heal(early.Fault.ID, "healed by hand", "api:bob"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(e.Active()) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the second's bound passes too
	healed := eventsOf(e, journal.FaultHealed)
	if len(healed) != 2 {
		t.Fatalf("%d fault.healed events, want 2: %+v", len(healed), healed)
	}
	byID := map[string]journal.Event{}
	for _, h := range healed {
		byID[h.Fault] = h
	}
	if h := byID[a.Fault.ID]; h.By != "bound" || !strings.Contains(h.Detail, "bound of 200ms reached") {
		t.Errorf("bounded fault healed as %+v; want by bound", h)
	}
	if h := byID[early.Fault.ID]; h.By != "api:bob" {
		t.Errorf("fault healed by hand journaled as %+v", h)
	}
	if ap := eventsOf(e, journal.FaultApplied)[0]; ap.By != "api:alice" || !strings.Contains(ap.Detail, "200ms") {
		t.Errorf("fault.applied %+v; want by api:alice and its bound", ap)
	}
}

// Close heals everything still applied (rollback), once, refuses new
// faults, tears the world down and is idempotent.
func TestCloseHealsEverythingAndTearsDown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e, err := Open(context.Background(), Config{Topology: worldConfig(), Journal: recordedJournal()})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []faults.Fault{{Kind: "dns.empty", Target: east}, {Kind: "link.down", Target: "us-west-2"}} {
		if _, err := e.Apply(f, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ApplyFor(faults.Fault{Kind: "dns.nxdomain", Target: "dynamodb.us-west-2.amazonaws.com"}, "test", time.Hour); err != nil {
		t.Fatal(err)
	}
	dnsAddr := e.World().DNSAddr()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	healed := eventsOf(e, journal.FaultHealed)
	if len(healed) != 3 || healed[0].Fault != "f3" || healed[2].Fault != "f1" {
		t.Errorf("healed %+v; want all three, newest first", healed)
	}
	for _, h := range healed {
		if h.By != "rollback" || h.Detail != "rollback" {
			t.Errorf("healed at close as %+v; want by rollback", h)
		}
	}
	if _, err := e.Apply(faults.Fault{Kind: "dns.empty", Target: east}, "test"); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
	if answers(dnsAddr, east) != -1 {
		t.Error("the DNS server still answers after Close")
	}
	n := 0
	for range sub.C() {
		n++
	}
	if !errors.Is(sub.Err(), ErrClosed) || n == 0 {
		t.Errorf("subscription ended with %v after %d events; want ErrClosed after the faults' events", sub.Err(), n)
	}
}

// panicky is a kind whose apply or heal panics.
type panicky struct{ onApply bool }

func (p panicky) Apply(faults.World, faults.Fault) (func() error, error) {
	if p.onApply {
		panic("boom at apply")
	}
	return func() error { panic("boom at heal") }, nil
}

// panicAtApply is panicky, at apply.
type panicAtApply struct{ panicky }

func (panicAtApply) Apply(w faults.World, f faults.Fault) (func() error, error) {
	return panicky{onApply: true}.Apply(w, f)
}

func init() {
	faults.Register(faults.Define[panicAtApply](faults.Meta{Name: "test.panic-apply", Summary: "panics", Target: faults.TargetRegion}))
	faults.Register(faults.Define[panicky](faults.Meta{Name: "test.panic-heal", Summary: "panics", Target: faults.TargetRegion}))
}

// A kind that panics is an error, not a crash; its heal still counts as done.
func TestPanickingKind(t *testing.T) {
	e := open(t, 0)
	if _, err := e.Apply(faults.Fault{Kind: "test.panic-apply", Target: "us-east-1"}, "test"); err == nil || !strings.Contains(err.Error(), "boom at apply") {
		t.Errorf("apply that panics: %v", err)
	}
	a, err := e.Apply(faults.Fault{Kind: "test.panic-heal", Target: "us-east-1"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.HealAll("rollback", "rollback"); err == nil || !strings.Contains(err.Error(), "boom at heal") {
		t.Errorf("heal that panics: %v", err)
	}
	if err := e.Heal(a.Fault.ID, "again", "test"); !errors.Is(err, ErrHealed) {
		t.Errorf("healing it again: %v", err)
	}
	if h := eventsOf(e, journal.FaultHealed); len(h) != 1 || !strings.Contains(h[0].Detail, "boom at heal") {
		t.Errorf("fault.healed %+v; want one, with the panic", h)
	}
}

// The stream delivers what is journaled, in order; a subscriber that falls
// behind is cut off without holding the world up, and may resume.
func TestEventStream(t *testing.T) {
	e := open(t, 0)
	fast, err := e.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := e.Subscribe(2)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 50 {
		e.Record(journal.Event{Type: journal.Phase, Detail: fmt.Sprint(i)})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("recording 50 events took %s: a slow subscriber held the world up", d)
	}
	var last uint64
	var seen []string
	for len(seen) < 50 {
		d := <-fast.C()
		if d.Seq <= last {
			t.Fatalf("sequence %d after %d", d.Seq, last)
		}
		last = d.Seq
		if d.Event.Type == journal.Phase {
			seen = append(seen, d.Event.Detail)
			if d.Event.T == 0 {
				t.Error("an event streamed without its journal time")
			}
		}
	}
	if seen[0] != "0" || seen[49] != "49" {
		t.Errorf("stream order %v", seen)
	}
	got := 0
	var lastSlow uint64
	for d := range slow.C() {
		got++
		lastSlow = d.Seq
	}
	var lag *LaggedError
	if !errors.As(slow.Err(), &lag) || got != 2 || lag.Missed != lastSlow+1 {
		t.Fatalf("slow subscriber: %d events, err %v; want 2 and cut off at the third", got, slow.Err())
	}
	// It resumes where it stopped: the retained events replay in order.
	again, err := e.Resume(lastSlow, 64)
	if err != nil {
		t.Fatal(err)
	}
	if d := <-again.C(); d.Seq != lastSlow+1 {
		t.Errorf("resumed at %d, want %d", d.Seq, lastSlow+1)
	}
	again.Close()
	fast.Close()
	if fast.Err() != nil {
		t.Errorf("a closed subscription's err: %v", fast.Err())
	}
	for range Retained {
		e.Record(journal.Event{Type: journal.Phase})
	}
	if _, err := e.Resume(1, 0); !errors.Is(err, ErrGone) {
		t.Errorf("resuming past what is retained: %v", err)
	}
	var subs []*Subscription
	for {
		s, err := e.Subscribe(1)
		if err != nil {
			if !errors.Is(err, ErrTooManySubscribers) || len(subs) != MaxSubscribers {
				t.Errorf("after %d subscriptions: %v", len(subs), err)
			}
			break
		}
		subs = append(subs, s)
	}
}

// The Engine names every client of a connection and journals an
// application's server-side view, for any driver.
func TestAttribution(t *testing.T) {
	e := open(t, 1)
	e.AddClient("ref", ReferenceIP(0))
	lb, _ := e.World().NLB("us-east-1")
	url, _ := e.World().EndpointURL("us-east-1")
	port := url[strings.LastIndex(url, ":")+1:]
	dial := func(src, dst string) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
		c, err := d.Dial("tcp", net.JoinHostPort(dst, port))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	dial(ReferenceIP(0), strings.Split(lb.NodeAddrs()[0], ":")[0])

	served := make(chan struct{}, 16)
	app, err := e.AddApp("app", func() { served <- struct{}{} })
	if err != nil {
		if strings.Contains(err.Error(), "permission") {
			t.Skipf("no relay on port 53 here: %v", err)
		}
		t.Fatal(err)
	}
	if _, err := e.AddApp("second", nil); err == nil {
		t.Error("a second application with one identity reserved")
	}
	alias := topology.AliasIP(app.Set, 0, 0)
	// The app's queries through its relay: answers rewritten to its alias;
	// with the record emptied, a failed request of its server view.
	m := new(dns.Msg)
	m.SetQuestion(east, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, net.JoinHostPort(app.DNS, "53"))
	if err != nil || len(r.Answer) == 0 || !strings.Contains(r.Answer[0].String(), "127.64.1.") {
		t.Fatalf("the relay answered %v, %v; want the app's aliases", r, err)
	}
	if _, err := e.Apply(faults.Fault{Kind: "dns.empty", Target: east}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, net.JoinHostPort(app.DNS, "53")); err != nil {
		t.Fatal(err)
	}
	e.HealAll("done", "test")
	// An HTTP exchange at its alias: a request of its server view, and served.
	resp, err := http.Post("http://"+net.JoinHostPort(alias, port)+"/", "application/x-amz-json-1.0", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("served was never called")
	}
	var refConn, appConn, dnsView, httpView bool
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !(refConn && appConn && dnsView && httpView) {
		for _, ev := range recorded(e) {
			switch {
			case ev.Type == journal.ConnAccepted && ev.Client == "ref":
				refConn = true
			case ev.Type == journal.ConnAccepted && ev.Client == "app":
				appConn = true
			case ev.Type == journal.Request && ev.Client == "app.server" && ev.Op == "dns A" && ev.Error != "":
				dnsView = true
			case ev.Type == journal.Request && ev.Client == "app.server" && ev.Op != "dns A":
				httpView = true
			case ev.Type == journal.DNSQuery && ev.Addr != "" && !strings.HasPrefix(ev.Addr, app.Source+":") && ev.Name == east && ev.Fault != "":
				t.Errorf("the app's query came from %s, not its relay's source %s", ev.Addr, app.Source)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !refConn || !appConn || !dnsView || !httpView {
		t.Errorf("reference conn named %v, app conn named %v, server view of the DNS fault %v, of the HTTP exchange %v; want all",
			refConn, appConn, dnsView, httpView)
	}
}

// Faults healing at their bounds while Close heals everything: each is
// healed exactly once, and nothing is applied after Close began.
func TestBoundsRacingClose(t *testing.T) {
	e, err := Open(context.Background(), Config{Topology: worldConfig(), Journal: recordedJournal()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				_, err := e.ApplyFor(faults.Fault{ID: fmt.Sprintf("g%d-%d", i, j), Kind: "dns.delay", Target: east,
					Params: map[string]string{"delay": "1ms"}}, "test", time.Duration(j%3+1)*time.Millisecond)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(150 * time.Millisecond)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	time.Sleep(20 * time.Millisecond) // a bound's timer that fired late finds its fault healed
	applied := map[string]int{}
	for _, ev := range eventsOf(e, journal.FaultApplied) {
		applied[ev.Fault]++
	}
	healed := map[string]int{}
	for _, ev := range eventsOf(e, journal.FaultHealed) {
		healed[ev.Fault]++
	}
	if len(applied) == 0 {
		t.Fatal("nothing was applied")
	}
	for id, n := range applied {
		if n != 1 || healed[id] != 1 {
			t.Errorf("fault %s applied %d times, healed %d times; want once each", id, n, healed[id])
		}
	}
	if len(healed) != len(applied) {
		t.Errorf("%d faults healed, %d applied", len(healed), len(applied))
	}
	if len(e.Active()) != 0 {
		t.Errorf("active after Close: %d", len(e.Active()))
	}
}

// Many goroutines recording at once (clients ending requests, the DNS
// server answering): every event is journaled once, each goroutine's in the
// order it recorded them, the stream's sequence follows the journal's
// order, and Close waits for the queue.
func TestRecordFromManyGoroutines(t *testing.T) {
	e, err := Open(context.Background(), Config{Topology: worldConfig(), Journal: recordedJournal(), Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.Subscribe(MaxBuffer)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 16, 500 // 8,000 events: within the subscriber's buffer
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e.Record(journal.Event{Type: "test.mark", Client: fmt.Sprint(w), Detail: fmt.Sprint(i)})
			}
		}()
	}
	wg.Wait()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	for _, ev := range recorded(e) {
		if ev.Type != "test.mark" {
			continue
		}
		if ev.Detail != fmt.Sprint(next[ev.Client]) {
			t.Fatalf("writer %s: event %s journaled after %d of its events", ev.Client, ev.Detail, next[ev.Client])
		}
		next[ev.Client]++
	}
	for w := range writers {
		if next[fmt.Sprint(w)] != each {
			t.Errorf("writer %d: %d events journaled, want %d", w, next[fmt.Sprint(w)], each)
		}
	}
	var last uint64
	n := 0
	for d := range sub.C() {
		if d.Seq <= last {
			t.Fatalf("sequence %d after %d", d.Seq, last)
		}
		last = d.Seq
		if d.Event.Type == "test.mark" {
			n++
		}
	}
	if n != writers*each {
		t.Errorf("the stream delivered %d events, want %d", n, writers*each)
	}
}
