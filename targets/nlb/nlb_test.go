package nlb_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/targets/links"
	"github.com/faultline-dev/faultline/targets/links/linkstest"
	"github.com/faultline-dev/faultline/targets/netbind/netbindtest"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/nlb/nlbtest"
	"github.com/faultline-dev/faultline/targets/tlsca"
)

// fast checks keep the tests short: interval 80 ms, timeout 60 ms.
var fast = nlb.HealthCheck{Interval: 80 * time.Millisecond, Timeout: 60 * time.Millisecond, HealthyThreshold: 3, UnhealthyThreshold: 2}

func roundTrip(t *testing.T, addr, msg string) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		t.Errorf("echo returned %q, want %q", buf, msg)
	}
	return nil
}

func becomes(addr, state string) func(nlb.Event) bool {
	return func(e nlb.Event) bool { return e.Kind == "target.state" && e.Target == addr && e.To == state }
}

// count counts the events of kind for addr whose OK is ok.
func count(evs []nlb.Event, kind, addr string, ok bool) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind && e.Target == addr && e.OK == ok {
			n++
		}
	}
	return n
}

func TestForwardsRoundRobinOnSharedPort(t *testing.T) {
	a, b := linkstest.Echo(t), linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1", "127.0.1.2"}, Targets: []string{a, b}, HealthCheck: fast})
	nodes := lb.NodeAddrs()
	if len(nodes) != 2 || !strings.HasPrefix(nodes[0], "127.0.1.1:") || !strings.HasPrefix(nodes[1], "127.0.1.2:") {
		t.Fatalf("nodes = %v", nodes)
	}
	for _, n := range nodes {
		if !strings.HasSuffix(n, ":"+itoa(lb.Port())) {
			t.Errorf("node %s does not listen on the shared port %d", n, lb.Port())
		}
	}
	settled := max(len(rec.WaitFor(t, 5*time.Second, becomes(a, nlb.StateHealthy))),
		len(rec.WaitFor(t, 5*time.Second, becomes(b, nlb.StateHealthy))))
	for i := 0; i < 10; i++ {
		if err := roundTrip(t, nodes[i%2], "ping"); err != nil {
			t.Fatal(err)
		}
	}
	evs := rec.Events()
	for _, e := range evs[settled:] {
		if e.Kind == "target.state" {
			// A loaded machine failed a check and moved a target: the
			// healthy set changed under the round robin.
			t.Skipf("a target changed state during the round robin (%+v): 5/5 cannot be expected", e)
		}
	}
	if na, nb := count(evs, "conn.accepted", a, false), count(evs, "conn.accepted", b, false); na != 5 || nb != 5 {
		t.Errorf("connections to a/b = %d/%d, want 5/5 (round robin)", na, nb)
	}
}

// trailingRun is the length of the run of counted health-check results
// equal to ok that ends evs (the run that made the last state change).
func trailingRun(evs []nlb.Event, addr string, ok bool) int {
	run := 0
	for _, e := range evs {
		if e.Kind != "hc.result" || e.Target != addr || e.Discarded {
			continue
		}
		if e.OK == ok {
			run++
		} else {
			run = 0
		}
	}
	return run
}

func TestThresholdsCountExactly(t *testing.T) {
	a := linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{a}, HealthCheck: fast})
	evs := rec.WaitFor(t, 3*time.Second, becomes(a, nlb.StateHealthy))
	if n := trailingRun(evs, a, true); n != fast.HealthyThreshold {
		t.Errorf("healthy after a run of %d good checks, want exactly %d", n, fast.HealthyThreshold)
	}
	lb.HealthLink(a).Down()
	before := len(evs)
	evs = rec.WaitFor(t, 3*time.Second, func(e nlb.Event) bool { return becomes(a, nlb.StateUnhealthy)(e) })
	if n := trailingRun(evs[before:], a, false); n != fast.UnhealthyThreshold {
		t.Errorf("unhealthy after a run of %d failed checks, want exactly %d", n, fast.UnhealthyThreshold)
	}
	lb.HealthLink(a).Up()
	before = len(evs)
	deadline := time.Now().Add(3 * time.Second)
	var back []nlb.Event
	for back == nil && time.Now().Before(deadline) {
		all := rec.Events()
		for i := before; i < len(all); i++ {
			if becomes(a, nlb.StateHealthy)(all[i]) {
				back = all[:i+1]
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if back == nil {
		t.Fatal("the target never came back")
	}
	if n := trailingRun(back, a, true); n != fast.HealthyThreshold {
		t.Errorf("healthy again after a run of %d good checks, want exactly %d", n, fast.HealthyThreshold)
	}
	if st := lb.Targets()[0]; st.State != nlb.StateHealthy {
		t.Errorf("state = %s", st.State)
	}
}

func TestUnhealthyTargetIsAvoidedAndItsConnectionsReset(t *testing.T) {
	a, b := linkstest.Echo(t), linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{a, b}, HealthCheck: fast})
	rec.WaitFor(t, 5*time.Second, becomes(a, nlb.StateHealthy))
	rec.WaitFor(t, 5*time.Second, becomes(b, nlb.StateHealthy))
	node := lb.NodeAddrs()[0]
	// Hold one connection to each target. Which target a connection went
	// to is read from its conn.accepted event: on a loaded machine a health
	// check may fail and change the round robin.
	held := map[string]net.Conn{}
	for i := 0; i < 20 && len(held) < 2; i++ {
		before := len(rec.Events())
		c, err := net.Dial("tcp", node)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		var to string
		for _, e := range rec.Events()[before:] {
			if e.Kind == "conn.accepted" {
				to = e.Target
			}
		}
		if held[to] != nil || to == "" {
			c.Close()
			continue
		}
		held[to] = c
		defer c.Close()
	}
	if held[a] == nil || held[b] == nil {
		t.Fatalf("no connection to each target in 20 tries: %v", held)
	}
	lb.HealthLink(a).Down()
	rec.WaitFor(t, 5*time.Second, becomes(a, nlb.StateUnhealthy))
	// b's connection lives, unless a loaded machine failed b's checks too.
	bSteady := func() bool {
		for _, e := range rec.Events() {
			if e.Kind == "target.state" && e.Target == b && e.To != nlb.StateHealthy {
				return false
			}
		}
		return true
	}
	alive := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte("y"))
		_, err := io.ReadFull(c, make([]byte, 1))
		return err
	}
	if err := alive(held[a]); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Errorf("the connection to a after a turned unhealthy: %v; want it reset", err)
	}
	if err := alive(held[b]); err != nil && bSteady() {
		t.Errorf("the connection to b, which stayed healthy: %v; want it alive", err)
	}
	before := count(rec.Events(), "conn.accepted", a, false)
	for i := 0; i < 6; i++ {
		if err := roundTrip(t, node, "z"); err != nil {
			t.Fatal(err)
		}
	}
	// While b is healthy nothing goes to a (with b unhealthy too, the
	// load balancer would rightly fail open).
	if after := count(rec.Events(), "conn.accepted", a, false); after != before && bSteady() {
		t.Errorf("%d new connections went to the unhealthy target", after-before)
	}
}

func TestFailOpenWhenNoTargetIsHealthy(t *testing.T) {
	a, b := linkstest.Echo(t), linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{a, b}, HealthCheck: fast})
	lb.HealthLink(a).Down()
	lb.HealthLink(b).Down()
	rec.WaitFor(t, 3*time.Second, becomes(a, nlb.StateUnhealthy))
	rec.WaitFor(t, 3*time.Second, becomes(b, nlb.StateUnhealthy))
	for i := 0; i < 4; i++ {
		if err := roundTrip(t, lb.NodeAddrs()[0], "open"); err != nil {
			t.Fatalf("fail-open: %v", err)
		}
	}
	evs := rec.Events()
	if count(evs, "conn.accepted", a, false) == 0 || count(evs, "conn.accepted", b, false) == 0 {
		t.Error("fail-open did not route to every target")
	}
}

func TestDataLinkDownResetsNewConnections(t *testing.T) {
	a := linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{a}, HealthCheck: fast})
	link := lb.DataLink(a)
	addr := link.Addr()
	if err := link.Down(); err != nil {
		t.Fatal(err)
	}
	// The client sees what a refused data path gives it: the node accepted,
	// then reset its connection.
	if err := roundTrip(t, lb.NodeAddrs()[0], "x"); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("through a downed data link: %v; want the connection reset", err)
	}
	evs := rec.WaitFor(t, time.Second, func(e nlb.Event) bool { return e.Kind == "conn.failed" && e.Target == a })
	if e := evs[len(evs)-1]; !strings.Contains(e.Detail, "connection refused") || e.Client == "" {
		t.Errorf("conn.failed %+v: want the refusal in its detail and the client's address", e)
	}
	// Health checks use their own link: the target stays healthy.
	rec.WaitFor(t, 3*time.Second, becomes(a, nlb.StateHealthy))
	if err := link.Up(); err != nil {
		t.Fatal(err)
	}
	if link.Addr() != addr {
		t.Errorf("the data link moved from %s to %s", addr, link.Addr())
	}
	if err := roundTrip(t, lb.NodeAddrs()[0], "y"); err != nil {
		t.Errorf("after the link came up: %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	hub := links.NewHub()
	defer hub.Close()
	cases := map[string]nlb.Config{
		"no nodes":            {Region: "r", Targets: []string{"127.0.0.1:1"}, Links: hub, HealthCheck: fast},
		"no targets":          {Region: "r", NodeIPs: []string{"127.0.1.1"}, Links: hub, HealthCheck: fast},
		"expected a loopback": {Region: "r", NodeIPs: []string{"10.0.0.1"}, Targets: []string{"127.0.0.1:1"}, Links: hub, HealthCheck: fast},
		"shorter than the interval": {Region: "r", NodeIPs: []string{"127.0.1.1"}, Targets: []string{"127.0.0.1:1"}, Links: hub,
			HealthCheck: nlb.HealthCheck{Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2}},
		"AWS's range": {Region: "r", NodeIPs: []string{"127.0.1.1"}, Targets: []string{"127.0.0.1:1"}, Links: hub,
			HealthCheck: nlb.HealthCheck{Interval: time.Second, Timeout: 100 * time.Millisecond, HealthyThreshold: 1, UnhealthyThreshold: 2}},
	}
	for want, cfg := range cases {
		if lb, err := nlb.Start(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), want) {
			if lb != nil {
				lb.Close()
			}
			t.Errorf("%s: err = %v", want, err)
		}
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	a := linkstest.Echo(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	hub := links.NewHub()
	lb, err := nlb.Start(t.Context(), nlb.Config{Region: "r", NodeIPs: []string{"127.0.1.1", "127.0.1.2"}, Targets: []string{a}, Links: hub, HealthCheck: fast})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", lb.NodeAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("x"))
	io.ReadFull(c, make([]byte, 1))
	nodes := lb.NodeAddrs()
	lb.Close()
	lb.Close()
	hub.Close()
	c.Close()
	for _, n := range nodes {
		if d, err := net.DialTimeout("tcp", n, 300*time.Millisecond); err == nil {
			d.Close()
			t.Errorf("%s still accepts after Close", n)
		}
	}
	time.Sleep(100 * time.Millisecond)
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestNodeDownAndUp(t *testing.T) {
	a := linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1", "127.0.1.2"}, Targets: []string{a}, HealthCheck: fast})
	nodes := lb.NodeAddrs()
	held, err := net.Dial("tcp", nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// One round trip first: a connection still in the accept backlog would
	// be dropped with the listener.
	held.SetDeadline(time.Now().Add(2 * time.Second))
	held.Write([]byte("w"))
	if _, err := io.ReadFull(held, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if err := lb.NodeDown(0); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, nodes[0], "x"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("node 1 while down: %v, want connection refused", err)
	}
	if err := roundTrip(t, nodes[1], "x"); err != nil {
		t.Errorf("node 2 while node 1 is down: %v", err)
	}
	held.SetDeadline(time.Now().Add(time.Second))
	held.Write([]byte("y"))
	if _, err := io.ReadFull(held, make([]byte, 1)); err != nil {
		t.Errorf("a connection node 1 already carried: %v (it should go on)", err)
	}
	if err := lb.NodeUp(0); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, nodes[0], "z"); err != nil {
		t.Errorf("node 1 after up: %v", err)
	}
	rec.WaitFor(t, time.Second, func(e nlb.Event) bool { return e.Kind == "node.up" })
	if err := lb.NodeDown(5); err == nil {
		t.Error("node 6 of 2 went down")
	}
}

// A target that turns healthy refuses data for the propagation delay, then
// serves: health passed before the data path worked. What is checked holds
// however late the test runs: a connection made wholly within the delay is
// refused, the data link stays down for the delay at least, then serves.
func TestPropagationDelay(t *testing.T) {
	a := linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{a}, HealthCheck: fast})
	const delay = 500 * time.Millisecond
	lb.SetPropagationDelay(delay)
	rec.WaitFor(t, 10*time.Second, becomes(a, nlb.StateHealthy))
	evs := rec.WaitFor(t, 5*time.Second, func(e nlb.Event) bool { return e.Kind == "target.propagating" })
	began := evs[len(evs)-1].Time // the data link went down just before
	err := roundTrip(t, lb.NodeAddrs()[0], "x")
	if within := time.Since(began); within < delay && err == nil {
		t.Errorf("a connection went through %s into the %s the data path had not propagated", within, delay)
	}
	link := lb.DataLink(a)
	deadline := began.Add(delay + 10*time.Second)
	for link.IsDown() {
		if time.Now().After(deadline) {
			t.Fatalf("the data link is still down %s after the propagation began", time.Since(began))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if up := time.Since(began); up < delay {
		t.Errorf("the data link came up %s after the propagation began, before the %s delay", up, delay)
	}
	if err := roundTrip(t, lb.NodeAddrs()[0], "y"); err != nil {
		t.Errorf("after the propagation delay: %v", err)
	}
}

// publications records what the load balancer asked DNS to answer.
type publications struct {
	mu  sync.Mutex
	all []string
}

func (p *publications) add(ips []string) {
	p.mu.Lock()
	p.all = append(p.all, strings.Join(ips, ","))
	p.mu.Unlock()
}
func (p *publications) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.all) == 0 {
		return ""
	}
	return p.all[len(p.all)-1]
}

func waitPublished(t *testing.T, p *publications, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for p.last() != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.last(); got != want {
		t.Fatalf("published %q, want %q (history %v)", got, want, p.all)
	}
}

// An AZ with no healthy target leaves DNS and comes back; with every AZ
// down, DNS fails open; each node routes to its own AZ only.
func TestAZsAndDNSRemoval(t *testing.T) {
	a, b := linkstest.Echo(t), linkstest.Echo(t)
	pub := &publications{}
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1", "127.0.1.2"}, Targets: []string{a, b}, HealthCheck: fast, Publish: pub.add})
	waitPublished(t, pub, "127.0.1.1,127.0.1.2")
	rec.WaitFor(t, 3*time.Second, becomes(b, nlb.StateHealthy))
	for i := 0; i < 4; i++ {
		roundTrip(t, lb.NodeAddrs()[1], "x")
	}
	if n := count(rec.Events(), "conn.accepted", a, false); n != 0 {
		t.Errorf("node 2 (AZ 2) sent %d connections to AZ 1's target without cross-zone", n)
	}
	lb.HealthLink(a).Down() // AZ 1 loses its only target
	waitPublished(t, pub, "127.0.1.2")
	lb.HealthLink(b).Down() // and AZ 2: nothing healthy anywhere, DNS fails open
	waitPublished(t, pub, "127.0.1.1,127.0.1.2")
	lb.HealthLink(a).Up()
	waitPublished(t, pub, "127.0.1.1")
	lb.HealthLink(b).Up()
	waitPublished(t, pub, "127.0.1.1,127.0.1.2")
}

// The velocity limit keeps a node in DNS when removing it would take out more
// capacity at once than allowed.
func TestVelocityLimit(t *testing.T) {
	targets := []string{linkstest.Echo(t), linkstest.Echo(t), linkstest.Echo(t)}
	pub := &publications{}
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1", "127.0.1.2", "127.0.1.3"}, Targets: targets,
		HealthCheck: fast, Publish: pub.add, Velocity: &nlb.Velocity{MaxShare: 0.34, Window: time.Minute}})
	for _, tg := range targets {
		rec.WaitFor(t, 3*time.Second, becomes(tg, nlb.StateHealthy))
	}
	lb.HealthLink(targets[0]).Down()
	waitPublished(t, pub, "127.0.1.2,127.0.1.3") // one of three: within the limit
	lb.HealthLink(targets[1]).Down()
	rec.WaitFor(t, 3*time.Second, becomes(targets[1], nlb.StateUnhealthy))
	rec.WaitFor(t, time.Second, func(e nlb.Event) bool { return e.Kind == "dns.held" })
	if got := pub.last(); got != "127.0.1.2,127.0.1.3" {
		t.Errorf("a second removal within the window went through: %q", got)
	}
}

// HTTP health checks: a target answering outside the matcher is unhealthy.
func TestHTTPHealthChecks(t *testing.T) {
	status := atomic.Int32{}
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ping" {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	target := strings.TrimPrefix(srv.URL, "http://")
	hc := fast
	hc.Protocol, hc.Path, hc.Matcher = "http", "/ping", "200,202-204"
	_, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{target}, HealthCheck: hc})
	rec.WaitFor(t, 3*time.Second, becomes(target, nlb.StateHealthy))
	status.Store(503)
	rec.WaitFor(t, 3*time.Second, becomes(target, nlb.StateUnhealthy))
	status.Store(203)
	rec.WaitFor(t, 3*time.Second, func(e nlb.Event) bool { return becomes(target, nlb.StateHealthy)(e) && e.From == nlb.StateUnhealthy })
	for _, bad := range []nlb.HealthCheck{
		{Interval: time.Second, Timeout: 100 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2, Protocol: "udp"},
		{Interval: time.Second, Timeout: 100 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2, Protocol: "http", Path: "ping"},
		{Interval: time.Second, Timeout: 100 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2, Protocol: "http", Matcher: "ok"},
		{Interval: time.Second, Timeout: 100 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2, Protocol: "http", Matcher: "399-200"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// A deregistered target drains: no new connections, its open ones live for
// the deregistration delay and are then closed; it ends unused.
func TestDeregistrationDrains(t *testing.T) {
	a, b := linkstest.Echo(t), linkstest.Echo(t)
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{a, b}, HealthCheck: fast})
	rec.WaitFor(t, 5*time.Second, becomes(a, nlb.StateHealthy))
	rec.WaitFor(t, 5*time.Second, becomes(b, nlb.StateHealthy))
	node := lb.NodeAddrs()[0]
	var toA net.Conn
	for i := 0; i < 20 && toA == nil; i++ { // round robin: one of the first two goes to a, unless a check failed
		c, err := net.Dial("tcp", node)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("x"))
		io.ReadFull(c, make([]byte, 1))
		if count(rec.Events(), "conn.accepted", a, false) > 0 {
			toA = c
		}
	}
	if toA == nil {
		t.Fatal("no connection reached a")
	}
	const delay = time.Second
	deregistered := time.Now()
	if err := lb.Deregister(a, delay); err != nil {
		t.Fatal(err)
	}
	rec.WaitFor(t, 5*time.Second, becomes(a, nlb.StateDraining))
	before := count(rec.Events(), "conn.accepted", a, false)
	for i := 0; i < 4; i++ {
		if err := roundTrip(t, node, "y"); err != nil {
			t.Fatal(err)
		}
	}
	if after := count(rec.Events(), "conn.accepted", a, false); after != before {
		t.Errorf("%d new connections went to a draining target", after-before)
	}
	toA.SetDeadline(time.Now().Add(time.Second))
	toA.Write([]byte("z"))
	_, err := io.ReadFull(toA, make([]byte, 1))
	// Checked only if the round trip ended within the delay: a loaded
	// machine may get here after it.
	if within := time.Since(deregistered); err != nil && within < delay {
		t.Errorf("the draining target's open connection died %s into the %s deregistration delay: %v", within, delay, err)
	}
	rec.WaitFor(t, delay+5*time.Second, becomes(a, nlb.StateUnused))
	toA.SetDeadline(time.Now().Add(time.Second))
	toA.Write([]byte("w"))
	if _, err := io.ReadFull(toA, make([]byte, 1)); err == nil {
		t.Error("the drained target's connection is still open after the delay")
	}
}

// A node goes down and comes back three times on the same sockets: while
// down its plain and TLS ports refuse connections and stay its own (no other
// listener can bind them, so coming back cannot fail for want of them) and
// a connection it carried goes on; after each up both accept again, on the
// same ports, served by a restarted accept goroutine. Nothing leaks.
func TestNodeDownKeepsItsPortsAndComesBack(t *testing.T) {
	a := linkstest.Echo(t)
	ca, err := tlsca.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cert, err := ca.Issue("node.test")
	if err != nil {
		t.Fatal(err)
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	hub := links.NewHub()
	defer hub.Close()
	rec := &nlbtest.Recorder{}
	var lb *nlb.LB
	var tlsPort int
	for try := 0; lb == nil; try++ {
		// A free port for the TLS listener, which another process may
		// take before the load balancer binds it: then another.
		free, err := net.Listen("tcp", "127.0.1.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tlsPort = free.Addr().(*net.TCPAddr).Port
		free.Close()
		lb, err = nlb.Start(t.Context(), nlb.Config{Region: "r", NodeIPs: []string{"127.0.1.1", "127.0.1.2"}, Targets: []string{a},
			Links: hub, HealthCheck: fast, Observer: rec.Add, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, TLSPort: tlsPort})
		if err != nil && (try == 4 || !errors.Is(err, syscall.EADDRINUSE)) {
			t.Fatal(err)
		}
	}
	defer lb.Close()
	nodes := lb.NodeAddrs()
	plain, overTLS := nodes[0], net.JoinHostPort("127.0.1.1", strconv.Itoa(tlsPort))
	tlsTrip := func() error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", overTLS, &tls.Config{RootCAs: ca.Pool(), ServerName: "node.test"})
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("s")); err != nil {
			return err
		}
		_, err = io.ReadFull(c, make([]byte, 1))
		return err
	}
	held, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldTrip := func() error {
		held.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := held.Write([]byte("h")); err != nil {
			return err
		}
		_, err := io.ReadFull(held, make([]byte, 1))
		return err
	}
	if err := heldTrip(); err != nil { // carried, not waiting in the accept queue
		t.Fatal(err)
	}
	const cycles = 3
	for cycle := 1; cycle <= cycles; cycle++ {
		for range 2 { // idempotent
			if err := lb.NodeDown(0); err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
		}
		for _, addr := range []string{plain, overTLS} {
			if c, err := net.DialTimeout("tcp", addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
				if c != nil {
					c.Close()
				}
				t.Errorf("cycle %d: connecting to %s while the node is down: %v; want connection refused", cycle, addr, err)
			}
			if ln, err := net.Listen("tcp", addr); err == nil {
				ln.Close()
				t.Errorf("cycle %d: another listener bound %s while the node was down", cycle, addr)
			}
		}
		if err := heldTrip(); err != nil {
			t.Errorf("cycle %d: a connection the node carried: %v; want it to go on", cycle, err)
		}
		if err := roundTrip(t, nodes[1], "o"); err != nil {
			t.Errorf("cycle %d: the other node while node 1 is down: %v", cycle, err)
		}
		for range 2 {
			if err := lb.NodeUp(0); err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
		}
		if got := lb.NodeAddrs(); got[0] != plain {
			t.Errorf("cycle %d: node 1 at %s after up, want %s", cycle, got[0], plain)
		}
		for j := range 3 { // several: the accept goroutine loops again
			if err := roundTrip(t, plain, "p"); err != nil {
				t.Errorf("cycle %d: plain connection %d after up: %v", cycle, j, err)
			}
			if err := tlsTrip(); err != nil {
				t.Errorf("cycle %d: TLS connection %d after up: %v", cycle, j, err)
			}
		}
	}
	downs, ups := 0, 0
	for _, e := range rec.Events() {
		switch e.Kind {
		case "node.down":
			downs++
		case "node.up":
			ups++
		}
	}
	if downs != cycles || ups != cycles {
		t.Errorf("%d node.down and %d node.up events, want %d each", downs, ups, cycles)
	}
	held.Close()
	lb.Close()
	hub.Close()
}

// A check whose timer ran later than the check's timeout is discarded: it
// is reported with its lag and Discarded, and does not count towards the
// thresholds. Every check of a target that fails them is made late here (its
// due time moved into the past) until the hook lets go: the target stays
// initial through more discarded failures than the threshold, then turns
// unhealthy after exactly UnhealthyThreshold counted ones.
func TestLateChecksAreDiscarded(t *testing.T) {
	late := 3 * fast.Timeout
	var making atomic.Bool
	making.Store(true)
	restore := nlb.SetDueHook(func(_ string, due time.Time) time.Time {
		if making.Load() {
			return due.Add(-late)
		}
		return due
	})
	t.Cleanup(restore)                // after the load balancer's Close, which nlbtest registers later
	gone := netbindtest.ClosedPort(t) // the health link accepts, then finds nothing behind: every check fails
	lb, rec := nlbtest.Start(t, nlb.Config{NodeIPs: []string{"127.0.1.1"}, Targets: []string{gone}, HealthCheck: fast})
	discarded := func(evs []nlb.Event) []nlb.Event {
		var out []nlb.Event
		for _, e := range evs {
			if e.Kind == "hc.result" && e.Discarded {
				out = append(out, e)
			}
		}
		return out
	}
	want := fast.UnhealthyThreshold + 2
	deadline := time.Now().Add(5 * time.Second)
	for len(discarded(rec.Events())) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d discarded checks within 5 s, want %d: %+v", len(discarded(rec.Events())), want, rec.Events())
		}
		time.Sleep(10 * time.Millisecond)
	}
	evs := rec.Events()
	for _, e := range evs {
		if e.Kind == "target.state" {
			t.Fatalf("the target changed state on discarded checks: %+v", e)
		}
		if e.Kind == "hc.result" && (!e.Discarded || e.OK || e.Lag < late) {
			t.Errorf("check %+v while every check was made %s late: want a failed, discarded check with its lag", e, late)
		}
	}
	if st := lb.Targets()[0]; st.State != nlb.StateInitial || st.ConsecFail != 0 {
		t.Errorf("after %d discarded failures: %+v; want initial, no failure counted", len(discarded(evs)), st)
	}
	making.Store(false)
	evs = rec.WaitFor(t, 5*time.Second, becomes(gone, nlb.StateUnhealthy))
	if n := trailingRun(evs, gone, false); n != fast.UnhealthyThreshold {
		t.Errorf("unhealthy after %d counted failures, want exactly %d", n, fast.UnhealthyThreshold)
	}
	for _, e := range evs {
		if e.Kind == "hc.result" && !e.Discarded && e.Lag > fast.Timeout {
			t.Errorf("check %+v counted with a lag beyond the timeout %s", e, fast.Timeout)
		}
	}
}
