package clients

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
	"github.com/faultline-dev/faultline/targets/netbind/netbindtest"
)

// Real errors from real servers, as Go's resolver and dialer return them,
// classified from the chain alone.
func TestClassifyRealErrors(t *testing.T) {
	srv := dnsstubtest.Start(t, dnsstub.Zone{Origin: "amazonaws.com."})
	resolver := dnsstubtest.GoResolver(srv.Addr())
	name := "dynamodb.us-east-1.amazonaws.com."
	if err := srv.SetRecords(name, dns.TypeA, 5, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	// Deadlines: generous where the answer must come before it (a loaded
	// machine must not turn an answer into a timeout), short where the
	// timeout is the case.
	lookupWithin := func(a dnsstub.Action, within time.Duration) error {
		remove := dnsstubtest.Rule(t, srv, dnsstub.Rule{Name: name, Action: a})
		defer remove()
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		_, err := resolver.LookupHost(ctx, name)
		return err
	}
	lookup := func(a dnsstub.Action) error { return lookupWithin(a, 5*time.Second) }
	dialWithin := func(addr string, within time.Duration) error {
		c, err := net.DialTimeout("tcp", addr, within)
		if err == nil {
			c.Close()
		}
		return err
	}
	readAfterReset := func() error {
		c, err := net.Dial("tcp", resetter(t))
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte("x"))
		_, err = c.Read(make([]byte, 1))
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		err  error
		want string
	}{
		{lookup(dnsstub.Empty(dnsstub.EmptyOptions{})), ClassDNSNotFound},
		{lookup(dnsstub.NXDomain()), ClassDNSNotFound},
		{lookup(dnsstub.ServFail()), ClassDNSServFail},
		{lookup(dnsstub.Refused()), ClassDNSServFail},
		{lookupWithin(dnsstub.Timeout(), 400*time.Millisecond), ClassDNSTimeout},
		{lookup(dnsstub.Empty(dnsstub.EmptyOptions{NoAA: true})), ClassDNSOther},
		{dialWithin(netbindtest.ClosedPort(t), 5*time.Second), ClassConnectRefused},
		{readAfterReset(), ClassReset},
		{ctx.Err(), ClassCancelled},
		{context.DeadlineExceeded, ClassTimeout},
		{errors.New("something else"), ClassOther},
	}
	if addr := fullBacklog(t); addr != "" {
		cases = append(cases, struct {
			err  error
			want string
		}{dialWithin(addr, 300*time.Millisecond), ClassConnectTimeout})
	}
	for i, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("case %d: Classify(%v) = %q, want %s", i, c.err, got, c.want)
		}
	}
	if Classify(nil) != "" {
		t.Error("nil error has a class")
	}
}

// Every class through the whole client: aws-sdk-go-v2 with its retryer, Go's
// resolver dialing faultline's DNS server, real servers behind. The stock
// retryer of the single-region client often sleeps past the deadline, and
// the SDK then returns only "context deadline exceeded": the class must
// still name the cause that the attempts met.
func TestClassesThroughTheSDK(t *testing.T) {
	srv := dnsstubtest.Start(t, dnsstub.Zone{Origin: "amazonaws.com."})
	hang := listen(t, func(c net.Conn) { io.Copy(io.Discard, c); c.Close() }) // reads, never answers
	cases := []struct {
		name   string
		action dnsstub.Action // shapes the endpoint's name, or nil
		addr   string         // what the endpoint's port leads to
		want   string
		detail string // in the journaled detail
	}{
		{"empty", dnsstub.Empty(dnsstub.EmptyOptions{}), "", ClassDNSNotFound, "no such host"},
		{"nxdomain", dnsstub.NXDomain(), "", ClassDNSNotFound, "no such host"},
		{"lame", dnsstub.Empty(dnsstub.EmptyOptions{NoAA: true}), "", ClassDNSOther, "lame referral"},
		{"servfail", dnsstub.ServFail(), "", ClassDNSServFail, "server misbehaving"},
		{"dns-timeout", dnsstub.Timeout(), "", ClassDNSTimeout, "no DNS answer"},
		{"refused", nil, netbindtest.ClosedPort(t), ClassConnectRefused, "connection refused"},
		{"connect-timeout", nil, fullBacklog(t), ClassConnectTimeout, "no TCP connection"},
		{"reset", nil, resetter(t), ClassReset, "reset by peer"},
		{"hang", nil, hang, ClassTimeout, "no response"},
		{"5xx", nil, answering(t, 500, "InternalServerError"), ClassHTTP5xx, "HTTP 500 InternalServerError"},
		{"throttled", nil, answering(t, 400, "ProvisionedThroughputExceededException"), ClassThrottled, "ProvisionedThroughputExceededException"},
	}
	// Every case's request at once (go test runs only GOMAXPROCS parallel
	// subtests, and a case may take its whole deadline), then a subtest
	// each to check what it journaled.
	type result struct {
		ev   journal.Event
		err  error
		skip string
	}
	results := map[string]*result{}
	var wg sync.WaitGroup
	for _, strategy := range []string{SingleRegion, Failover} {
		for _, tc := range cases {
			res := &result{}
			results[strategy+"/"+tc.name] = res
			region := strategy + "-" + tc.name // a name of its own, so the cases run at once
			name := "dynamodb." + region + ".amazonaws.com."
			if err := srv.SetRecords(name, dns.TypeA, 5, []string{"127.0.0.1"}); err != nil {
				t.Fatal(err)
			}
			if tc.action != nil {
				dnsstubtest.Rule(t, srv, dnsstub.Rule{Name: name, Action: tc.action})
			}
			port := "1" // never dialed: DNS fails first
			if tc.action == nil {
				if tc.addr == "" {
					res.skip = "no address for this case on this machine"
					continue
				}
				_, port, _ = net.SplitHostPort(tc.addr)
			}
			// 2 s: long enough for the first attempt to meet its cause on a
			// loaded machine (a deadline that passed while resolving would
			// be a DNS timeout whatever the case), short enough that the
			// single-region client's back-off often outlasts it.
			cfg := Config{Name: "c", Strategy: strategy, Regions: []string{region, "unused"},
				Endpoints: map[string]string{region: fmt.Sprintf("http://dynamodb.%s.amazonaws.com:%s", region, port)},
				DNSServer: srv.Addr(), SourceIP: "127.0.0.30", Timeout: 2 * time.Second, Table: "orders", Items: 1,
				Record: func(e journal.Event) {
					if e.Type == journal.Request { // not the conn.refused events of the attempts
						res.ev = e
					}
				}, Now: func() float64 { return 0 }}
			wg.Add(1)
			go func() {
				defer wg.Done()
				res.err = newClient(cfg).do(region, GetItem, 0, false, time.Now(), 0, nil)
			}()
		}
	}
	wg.Wait()
	for _, strategy := range []string{SingleRegion, Failover} {
		for _, tc := range cases {
			t.Run(strategy+"/"+tc.name, func(t *testing.T) {
				res := results[strategy+"/"+tc.name]
				if res.skip != "" {
					t.Skip(res.skip)
				}
				got := res.ev
				if res.err == nil {
					t.Fatal("the request succeeded")
				}
				if got.Error != tc.want || !strings.Contains(got.Detail, tc.detail) {
					t.Errorf("class %s, detail %q; want %s, a detail with %q", got.Error, got.Detail, tc.want, tc.detail)
				}
				if got.Succeeded() || len(got.Detail) > maxDetail+len("…") {
					t.Errorf("event %s: want a failure with a detail of at most %d bytes", show(got), maxDetail)
				}
			})
		}
	}
}

func TestKeepTail(t *testing.T) {
	if got := keepTail("short", 10); got != "short" {
		t.Errorf("keepTail(short) = %q", got)
	}
	long := strings.Repeat("é", 100) + " connection refused"
	got := keepTail(long, 50)
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "connection refused") || len(got) > 50 || !strings.HasPrefix(got, "…") {
		t.Errorf("keepTail = %q (%d bytes): want valid UTF-8, the tail kept, at most 50 bytes", got, len(got))
	}
}

func TestRooted(t *testing.T) {
	for in, want := range map[string]string{
		"dynamodb.us-east-1.amazonaws.com:80":  "dynamodb.us-east-1.amazonaws.com.:80",
		"dynamodb.us-east-1.amazonaws.com.:80": "dynamodb.us-east-1.amazonaws.com.:80",
		"127.0.0.1:80":                         "127.0.0.1:80",
		"[::1]:80":                             "[::1]:80",
		"no-port":                              "no-port",
	} {
		if got := rooted(in); got != want {
			t.Errorf("rooted(%q) = %q, want %q", in, got, want)
		}
	}
}

// listen accepts connections on loopback and hands each to serve.
func listen(t *testing.T, serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

// resetter accepts and closes with SO_LINGER 0 once the client has sent
// something: the client's read sees a reset.
func resetter(t *testing.T) string {
	return listen(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		c.Read(make([]byte, 1))
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
}

// fullBacklog is a listener with backlog 0 that never accepts, its accept
// queue filled: Linux drops further SYNs, so connecting times out. "" if the
// queue would not fill.
func fullBacklog(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 8 {
		// A second: a loaded machine may take a while to complete a
		// connect that has room, and one taken for full would not be.
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return addr // the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	return "" // this kernel accepted them all: no way to time a connect out here
}

// answering is an HTTP server that answers every request with a DynamoDB
// error of the given status and type.
func answering(t *testing.T, status int, errType string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected by the test"}`, errType)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// The retryer's jittered back-off may start an attempt just before the
// deadline, and a loaded machine may not let it even resolve: the request
// then ends with the bare deadline error, and the attempt before says why
// it failed. An attempt the deadline cut after it had run a while keeps the
// class of where it was cut.
func TestOutcomeOfAnAttemptCutAsItBegan(t *testing.T) {
	lame := &net.DNSError{Err: "lame referral", Name: "dynamodb.us-east-1.amazonaws.com", Server: "127.0.0.1:53"}
	final := fmt.Errorf("operation error DynamoDB: GetItem, https response error StatusCode: 0, RequestID: , canceled, %w", context.DeadlineExceeded)
	const timeout = 2 * time.Second
	tried := func(secondRan time.Duration, ph phase) *attempts {
		a := &attempts{}
		a.end(a.begin(), lame)
		a.begin()
		a.began = time.Now().Add(-secondRan)
		a.phase = ph
		a.end(2, final)
		return a
	}
	class, detail := tried(time.Millisecond, phaseWaiting).outcome(final, timeout, "")
	if class != ClassDNSOther || !strings.Contains(detail, "deadline passed as attempt 2 began; attempt 1: ") || !strings.Contains(detail, "lame referral") {
		t.Errorf("cut as it began: %s, %q; want dns-other, saying attempt 2 was cut and attempt 1 met a lame referral", class, detail)
	}
	class, _ = tried(50*time.Millisecond, phaseResolving).outcome(final, timeout, "")
	if class != ClassDNSOther {
		t.Errorf("cut 50 ms into resolving: %s; want dns-other (it had no time to meet anything)", class)
	}
	class, detail = tried(1500*time.Millisecond, phaseResolving).outcome(final, timeout, "")
	if class != ClassDNSTimeout || !strings.Contains(detail, "no DNS answer") {
		t.Errorf("cut after 1.5 s of resolving: %s, %q; want dns-timeout", class, detail)
	}
}
