package control

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/faults"
)

// The DNS routes serve DNS servers outside the world that apply its DNS
// faults themselves (the CoreDNS plugin of targets/coredns): they follow the
// active DNS faults as rules (GET /dns/rules, a long poll) and report every
// answer they shaped (POST /dns/answers), which is journaled as the world's
// own dns.query events, so the live journal, `faultline events`, the
// metrics and Prometheus include a cluster's clients.

// Bounds of the DNS routes.
const (
	// MaxRulesWait bounds a long poll of GET /dns/rules.
	MaxRulesWait = 30 * time.Second
	// MaxAnswers bounds one POST /dns/answers (MaxBody bounds its bytes).
	MaxAnswers = 256
	// ServerPrefix starts the Detail of a dns.query event a DNS server
	// outside the world reported: "coredns:INSTANCE".
	ServerPrefix = "coredns:"
)

// DNSRules is GET /api/v1/dns/rules.
type DNSRules struct {
	// Version changes whenever a DNS fault is applied or healed; a
	// follower passes it back as ?wait= to wait for the next change.
	Version uint64    `json:"version"`
	Rules   []DNSRule `json:"rules"` // oldest first: a newer rule wins where both select a query
}

// DNSRule is one active DNS fault, as a rule.
type DNSRule struct {
	Fault  string `json:"fault"` // its id: reported back with each answer it shaped
	Kind   string `json:"kind"`
	Target string `json:"target"` // a name, pattern or suffix (fqdn)
	// Params are every parameter of the kind with its value, defaults
	// filled in, typed: booleans and numbers as JSON's, durations and
	// strings as strings ("500ms").
	Params map[string]any `json:"params"`
}

// DNSAnswers is POST /api/v1/dns/answers: answers a DNS server shaped.
type DNSAnswers struct {
	Answers []DNSAnswer `json:"answers"`
}

// DNSAnswer is one answer a rule shaped.
type DNSAnswer struct {
	Time     time.Time `json:"time"`   // when it was sent (the server's clock; see dnsEventTime)
	Client   string    `json:"client"` // the client's address, "ip" or "ip:port"
	Name     string    `json:"name"`
	QType    string    `json:"qtype"` // A, AAAA, ...
	Rcode    string    `json:"rcode"` // NOERROR, NXDOMAIN, ..., DROPPED (nothing sent)
	Answers  int       `json:"answers"`
	Fault    string    `json:"fault"`
	Proto    string    `json:"proto"`    // udp or tcp
	Instance string    `json:"instance"` // the reporting server, e.g. its pod's name
}

// DNSAnswersResponse says how many answers were journaled.
type DNSAnswersResponse struct {
	Journaled int `json:"journaled"`
}

// ruleVersion is the version of the active DNS faults and a channel closed
// at its next change.
type ruleVersion struct {
	mu      sync.Mutex
	version uint64
	changed chan struct{}
}

func newRuleVersion() *ruleVersion { return &ruleVersion{version: 1, changed: make(chan struct{})} }

// bump marks a change of the active faults.
func (v *ruleVersion) bump() {
	v.mu.Lock()
	v.version++
	close(v.changed)
	v.changed = make(chan struct{})
	v.mu.Unlock()
}

func (v *ruleVersion) current() (uint64, <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.version, v.changed
}

// isDNSRule says whether a fault kind is one a DNS server applies as a
// rule: a DNS kind that shapes answers (not dns.plan-race, which acts on
// the world's DNS automation).
func isDNSRule(k faults.Kind) bool {
	return k.Target() == faults.TargetDNSName && !k.Meta().NeedsAutomation
}

func (s *Server) dnsRules() DNSRules {
	out := DNSRules{Rules: []DNSRule{}}
	out.Version, _ = s.rules.current()
	for _, a := range s.eng.Active() {
		k, ok := faults.Lookup(a.Fault.Kind)
		if !ok || !isDNSRule(k) {
			continue
		}
		r := DNSRule{Fault: a.Fault.ID, Kind: a.Fault.Kind, Target: dns.Fqdn(a.Fault.Target), Params: map[string]any{}}
		for _, p := range k.Params() {
			v, given := a.Fault.Params[p.Name]
			if !given {
				if p.Default == "" {
					continue
				}
				v = p.Default
			}
			r.Params[p.Name] = typedParam(p.Type, v)
		}
		out.Rules = append(out.Rules, r)
	}
	return out
}

// typedParam is a parameter's text as its JSON type.
func typedParam(t faults.ParamType, v string) any {
	switch t {
	case faults.Bool:
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	case faults.Int, faults.Float:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	return v
}

// getDNSRules answers the active DNS faults as rules; with ?wait=VERSION it
// waits (at most ?timeout= seconds, MaxRulesWait) until the version is
// another.
func (s *Server) getDNSRules(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	wait := MaxRulesWait
	if t := q.Get("timeout"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || time.Duration(n)*time.Second > MaxRulesWait {
			writeError(w, http.StatusBadRequest, "bad_query", "timeout", fmt.Sprintf("expected whole seconds from 0 to %d, got %q", int(MaxRulesWait.Seconds()), t))
			return
		}
		wait = time.Duration(n) * time.Second
	}
	if ws := q.Get("wait"); ws != "" {
		known, err := strconv.ParseUint(ws, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_query", "wait", fmt.Sprintf("expected the version of a previous answer (a whole number), got %q", ws))
			return
		}
		version, changed := s.rules.current()
		if version == known {
			// The server's write timeout is shorter than the longest wait.
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 15*time.Second))
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-changed:
			case <-t.C:
			case <-r.Context().Done():
				return
			case <-s.done:
			}
		}
	}
	writeJSON(w, http.StatusOK, s.dnsRules())
}

var (
	dnsName  = regexp.MustCompile(`^([A-Za-z0-9_*-]([A-Za-z0-9_-]{0,62})?\.)*[A-Za-z0-9_-]{0,63}\.?$`)
	instance = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)
)

// postDNSAnswers journals a batch of shaped answers as dns.query events of
// the reporting server (Detail "coredns:INSTANCE").
func (s *Server) postDNSAnswers(w http.ResponseWriter, r *http.Request) {
	var req DNSAnswers
	if !decode(w, r, &req) {
		return
	}
	if len(req.Answers) > MaxAnswers {
		writeError(w, http.StatusBadRequest, "too_many_answers", "answers", fmt.Sprintf("at most %d answers a call, got %d: send them in batches", MaxAnswers, len(req.Answers)))
		return
	}
	events := make([]journal.Event, 0, len(req.Answers))
	now := time.Now()
	for i, a := range req.Answers {
		field, msg := checkAnswer(a)
		if msg != "" {
			writeError(w, http.StatusBadRequest, "bad_answer", fmt.Sprintf("answers[%d].%s", i, field), msg)
			return
		}
		n := a.Answers
		events = append(events, journal.Event{T: s.eng.Journal().Since(dnsEventTime(a.Time, now)), Type: journal.DNSQuery,
			Addr: a.Client, Proto: a.Proto, Name: dns.CanonicalName(a.Name), QType: strings.ToUpper(a.QType), Rcode: strings.ToUpper(a.Rcode),
			Answers: &n, Fault: a.Fault, Detail: ServerPrefix + a.Instance})
	}
	for _, ev := range events {
		s.eng.Record(ev)
	}
	writeJSON(w, http.StatusOK, DNSAnswersResponse{Journaled: len(events)})
}

// dnsEventTime is when a reported answer is journaled: the reporter's
// time when it is within the last minute by our clock (a batch is at most
// seconds old), else now: another machine's clock may be off.
func dnsEventTime(t, now time.Time) time.Time {
	if t.IsZero() || t.After(now) || now.Sub(t) > time.Minute {
		return now
	}
	return t
}

// checkAnswer says which field of a reported answer is wrong and what was
// expected ("" when none is).
func checkAnswer(a DNSAnswer) (field, msg string) {
	if _, err := netip.ParseAddrPort(a.Client); err != nil {
		if _, err := netip.ParseAddr(a.Client); err != nil {
			return "client", fmt.Sprintf("expected the client's address, like 10.244.1.7 or 10.244.1.7:53124, got %q", a.Client)
		}
	}
	switch {
	case a.Name == "" || len(a.Name) > 255 || !dnsName.MatchString(a.Name):
		return "name", fmt.Sprintf("expected a DNS name like dynamodb.us-east-1.amazonaws.com., got %q", a.Name)
	case dns.StringToType[strings.ToUpper(a.QType)] == 0 && !strings.HasPrefix(strings.ToUpper(a.QType), "TYPE"):
		return "qtype", fmt.Sprintf("expected a query type like A or AAAA, got %q", a.QType)
	case !knownRcode(a.Rcode):
		return "rcode", fmt.Sprintf("expected an rcode like NOERROR, NXDOMAIN, SERVFAIL or DROPPED, got %q", a.Rcode)
	case a.Answers < 0 || a.Answers > 65535:
		return "answers", fmt.Sprintf("expected the answer section's record count (0 to 65535), got %d", a.Answers)
	case !faultID.MatchString(a.Fault):
		return "fault", fmt.Sprintf("expected the id of the fault whose rule shaped the answer (lowercase letters, digits, '_' and '-'), got %q", a.Fault)
	case a.Proto != "udp" && a.Proto != "tcp":
		return "proto", fmt.Sprintf("expected udp or tcp, got %q", a.Proto)
	case !instance.MatchString(a.Instance):
		return "instance", fmt.Sprintf("expected the reporting server's name (letters, digits, '.', '_' and '-', at most 63), got %q", a.Instance)
	}
	return "", ""
}

func knownRcode(s string) bool {
	s = strings.ToUpper(s)
	if s == "DROPPED" {
		return true
	}
	_, ok := dns.StringToRcode[s]
	return ok
}
