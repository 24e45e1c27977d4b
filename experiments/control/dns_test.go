package control_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/control"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// A DNS server outside the world follows the active DNS faults by long
// polls and reports the answers it shaped, which are journaled as the
// world's dns.query events of that server.
func TestDNSRulesFollowTheFaults(t *testing.T) {
	l := start(t, control.Options{DefaultBound: time.Minute})
	rules := func(query string) control.DNSRules {
		t.Helper()
		code, data := l.call("GET", "/api/v1/dns/rules"+query, nil, true)
		if code != 200 {
			t.Fatalf("GET /dns/rules%s: %d %s", query, code, data)
		}
		var r control.DNSRules
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r0 := rules("")
	if len(r0.Rules) != 0 || r0.Version == 0 {
		t.Fatalf("before any fault: %+v, want no rules and a version", r0)
	}
	// A follower waits; a DNS fault for a pod's address wakes it.
	woke := make(chan control.DNSRules, 1)
	go func() { woke <- rules(fmt.Sprintf("?wait=%d", r0.Version)) }()
	time.Sleep(200 * time.Millisecond) // let it wait (a late start only answers at once: same result)
	code, data := l.call("POST", "/api/v1/faults", map[string]any{"id": "pods", "kind": "dns.empty", "target": "dynamodb.us-east-1.amazonaws.com",
		"params": map[string]any{"client": "10.244.1.7", "qtype": "A"}, "for": "30s"}, true)
	if code != 201 {
		t.Fatalf("apply: %d %s", code, data)
	}
	// A region fault is no DNS rule.
	if code, data := l.call("POST", "/api/v1/faults", map[string]any{"id": "lb", "kind": "link.down", "target": "us-west-2", "for": "30s"}, true); code != 201 {
		t.Fatalf("apply link.down: %d %s", code, data)
	}
	var r1 control.DNSRules
	select {
	case r1 = <-woke:
	case <-time.After(40 * time.Second):
		t.Fatal("the long poll did not answer")
	}
	if r1.Version == r0.Version {
		r1 = rules(fmt.Sprintf("?wait=%d", r0.Version)) // woken by the wait's end on a very slow machine
	}
	if len(r1.Rules) != 1 {
		t.Fatalf("rules after the apply: %+v, want the dns.empty alone", r1)
	}
	got := r1.Rules[0]
	if got.Fault != "pods" || got.Kind != "dns.empty" || got.Target != "dynamodb.us-east-1.amazonaws.com." ||
		got.Params["client"] != "10.244.1.7" || got.Params["qtype"] != "A" || got.Params["soa"] != true || got.Params["probability"] != float64(1) {
		t.Errorf("rule: %+v; want fault pods, the fqdn, client and qtype given, soa true and probability 1 typed", got)
	}
	// Nothing changes: the wait runs out and answers the same version.
	if r := rules(fmt.Sprintf("?wait=%d&timeout=1", r1.Version)); r.Version != r1.Version || len(r.Rules) != 1 {
		t.Errorf("after a wait without change: %+v, want version %d", r, r1.Version)
	}
	// The heal: a new version without the rule.
	if code, data := l.call("DELETE", "/api/v1/faults/pods", nil, true); code != 200 {
		t.Fatalf("heal: %d %s", code, data)
	}
	deadline := time.Now().Add(30 * time.Second)
	for r := rules(fmt.Sprintf("?wait=%d&timeout=5", r1.Version)); len(r.Rules) != 0; r = rules(fmt.Sprintf("?wait=%d&timeout=5", r.Version)) {
		if time.Now().After(deadline) {
			t.Fatalf("the healed fault is still a rule: %+v", r)
		}
	}

	// Shaped answers are journaled as dns.query events of the instance.
	at := time.Now().Add(-2 * time.Second)
	code, data = l.call("POST", "/api/v1/dns/answers", control.DNSAnswers{Answers: []control.DNSAnswer{
		{Time: at, Client: "10.244.1.7:53124", Name: "dynamodb.us-east-1.amazonaws.com.", QType: "A", Rcode: "NOERROR", Answers: 0, Fault: "pods", Proto: "udp", Instance: "coredns-7d9f-abc"},
		{Time: at, Client: "10.244.1.8", Name: "Dynamodb.us-east-1.amazonaws.com", QType: "aaaa", Rcode: "DROPPED", Fault: "pods", Proto: "tcp", Instance: "coredns-7d9f-abc"},
	}}, true)
	if code != 200 || !strings.Contains(string(data), `"journaled": 2`) {
		t.Fatalf("answers: %d %s", code, data)
	}
	var found []journal.Event
	for _, e := range l.tb.Events() {
		if e.Type == journal.DNSQuery && e.Detail == "coredns:coredns-7d9f-abc" {
			found = append(found, e)
		}
	}
	if len(found) != 2 || found[0].Addr != "10.244.1.7:53124" || found[0].Fault != "pods" || found[0].Answers == nil || *found[0].Answers != 0 ||
		found[1].Name != "dynamodb.us-east-1.amazonaws.com." || found[1].QType != "AAAA" || found[1].Rcode != "DROPPED" || found[1].Proto != "tcp" {
		t.Errorf("journaled: %+v", found)
	}

	// Bad input: each refusal names the field and says what was expected.
	good := control.DNSAnswer{Time: at, Client: "10.244.1.7", Name: "x.amazonaws.com.", QType: "A", Rcode: "NOERROR", Fault: "f1", Proto: "udp", Instance: "pod"}
	bad := func(mut func(*control.DNSAnswer), field, want string) {
		t.Helper()
		a := good
		mut(&a)
		code, data := l.call("POST", "/api/v1/dns/answers", control.DNSAnswers{Answers: []control.DNSAnswer{good, a}}, false)
		if code != http.StatusBadRequest {
			t.Fatalf("%s: %d %s, want 400", field, code, data)
		}
		if e := errorOf(t, data); e.Field != field || !strings.Contains(e.Message, want) {
			t.Errorf("%s: %+v, want field %s and %q", field, e, field, want)
		}
	}
	bad(func(a *control.DNSAnswer) { a.Client = "pod-a" }, "answers[1].client", "expected the client's address")
	bad(func(a *control.DNSAnswer) { a.Name = "bad name" }, "answers[1].name", "expected a DNS name")
	bad(func(a *control.DNSAnswer) { a.QType = "BOGUS" }, "answers[1].qtype", "expected a query type")
	bad(func(a *control.DNSAnswer) { a.Rcode = "FINE" }, "answers[1].rcode", "expected an rcode")
	bad(func(a *control.DNSAnswer) { a.Answers = -1 }, "answers[1].answers", "record count")
	bad(func(a *control.DNSAnswer) { a.Fault = "" }, "answers[1].fault", "expected the id of the fault")
	bad(func(a *control.DNSAnswer) { a.Proto = "quic" }, "answers[1].proto", "expected udp or tcp")
	bad(func(a *control.DNSAnswer) { a.Instance = "" }, "answers[1].instance", "reporting server's name")
	many := make([]control.DNSAnswer, control.MaxAnswers+1)
	for i := range many {
		many[i] = good
	}
	if code, data := l.call("POST", "/api/v1/dns/answers", control.DNSAnswers{Answers: many}, false); code != 400 || errorOf(t, data).Field != "answers" {
		t.Errorf("too many answers: %d %s", code, data)
	}
	if code, data := l.call("POST", "/api/v1/dns/answers", `{"answers": [{"client": 7}]}`, false); code != 400 || errorOf(t, data).Code != "bad_json" {
		t.Errorf("a number for a string: %d %s", code, data)
	}
	if code, data := l.call("POST", "/api/v1/dns/answers", `{"answer": []}`, false); code != 400 || errorOf(t, data).Field != "answer" {
		t.Errorf("an unknown field: %d %s", code, data)
	}
	for _, q := range []string{"?wait=latest", "?timeout=31", "?timeout=-1"} {
		if code, data := l.call("GET", "/api/v1/dns/rules"+q, nil, false); code != 400 || !strings.Contains(errorOf(t, data).Message, "expected") {
			t.Errorf("GET /dns/rules%s: %d %s, want 400 saying what was expected", q, code, data)
		}
	}
	// Without the token: refused, as every route.
	req, _ := http.NewRequest("GET", l.base+"/api/v1/dns/rules", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("without a token: %d, want 401", resp.StatusCode)
	}
}
