package faultline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/dnsstub"
)

// The wire of the control API's DNS routes (experiments/control/dns.go,
// described in its openapi.yaml), kept here so that CoreDNS does not link
// faultline's engine.
type (
	rulesAnswer struct {
		Version uint64 `json:"version"`
		Rules   []struct {
			Fault  string         `json:"fault"`
			Kind   string         `json:"kind"`
			Target string         `json:"target"`
			Params map[string]any `json:"params"`
		} `json:"rules"`
	}
	shapedAnswer struct {
		Time     time.Time `json:"time"`
		Client   string    `json:"client"`
		Name     string    `json:"name"`
		QType    string    `json:"qtype"`
		Rcode    string    `json:"rcode"`
		Answers  int       `json:"answers"`
		Fault    string    `json:"fault"`
		Proto    string    `json:"proto"`
		Instance string    `json:"instance"`
	}
)

// pollWait is how long one long poll of the rules waits at most (the API
// allows 30 s).
const pollWait = 25 * time.Second

// follower keeps the control API's active DNS faults in the rule set. While
// the API is unreachable or refuses the token it holds none of them: the
// plugin never faults by accident, and answers normally.
type follower struct {
	base, tokenFile string
	rules           *dnsstub.RuleSet
	report          *reporter
	done            <-chan struct{}
	client          *http.Client

	ctx     context.Context        // ends with the plugin
	applied map[string]appliedRule // fault id → its rule in the set
	state   string                 // "" (not yet), "up", or why it is down: logged once per change
}

type appliedRule struct {
	key    string // kind, target and parameters: a changed fault is replaced
	remove func()
}

func newFollower(base, tokenFile string, rules *dnsstub.RuleSet, report *reporter, done <-chan struct{}) *follower {
	return &follower{base: base, tokenFile: tokenFile, rules: rules, report: report, done: done,
		client: &http.Client{Timeout: pollWait + 15*time.Second}, applied: map[string]appliedRule{}}
}

func (f *follower) run() {
	defer f.dropAll()
	// A long poll in flight ends with the plugin (CoreDNS's shutdown or
	// reload waits for this loop).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-f.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	f.ctx = ctx
	var version uint64
	backoff := time.Second
	for {
		got, err := f.poll(version)
		select {
		case <-f.done:
			return
		default:
		}
		if err != nil {
			f.down(err)
			version = 0
			select {
			case <-f.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = time.Second
		f.up()
		f.sync(got)
		version = got.Version
	}
}

// errToken is a refused token: said apart from an unreachable API.
var errToken = errors.New("the control API refused the token")

func (f *follower) poll(version uint64) (rulesAnswer, error) {
	var out rulesAnswer
	url := f.base + "/api/v1/dns/rules"
	if version > 0 {
		url += fmt.Sprintf("?wait=%d&timeout=%d", version, int(pollWait.Seconds()))
	}
	resp, err := f.call("GET", url, nil)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&out); err != nil {
		controlErrors.WithLabelValues("answer").Inc()
		return out, fmt.Errorf("the control API's rules are not the JSON expected: %w", err)
	}
	return out, nil
}

// call makes an authorized call whose answer is 200, or fails saying why.
func (f *follower) call(method, url string, body []byte) (*http.Response, error) {
	return call(f.ctx, f.client, f.tokenFile, method, url, body)
}

func call(ctx context.Context, client *http.Client, tokenFile, method, url string, body []byte) (*http.Response, error) {
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		controlErrors.WithLabelValues("token").Inc()
		return nil, fmt.Errorf("reading the token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		controlErrors.WithLabelValues("unreachable").Inc()
		return nil, fmt.Errorf("the control API is unreachable: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		controlErrors.WithLabelValues("token").Inc()
		return nil, errToken
	}
	controlErrors.WithLabelValues("answer").Inc()
	return nil, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(msg))
}

func (f *follower) up() {
	controlUp.Set(1)
	f.report.setUp(true)
	if f.state != "up" {
		log.Infof("following the DNS faults of %s", f.base)
		f.state = "up"
	}
}

func (f *follower) down(err error) {
	controlUp.Set(0)
	f.report.setUp(false)
	f.dropAll()
	why := err.Error()
	if errors.Is(err, errToken) {
		why = errToken.Error()
	}
	if f.state != why {
		// Once per change of state, not per retry.
		log.Warningf("%s: no fault of it applies; answering normally (static faults stay) until it answers again", why)
		f.state = why
	}
}

// sync makes the rule set hold exactly the API's rules: a fault kept
// unchanged keeps its rule (a dns.flap keeps its phase).
func (f *follower) sync(got rulesAnswer) {
	seen := map[string]bool{}
	for _, r := range got.Rules {
		fault := faults.Fault{ID: r.Fault, Kind: r.Kind, Target: r.Target, Params: map[string]string{}}
		for k, v := range r.Params {
			fault.Params[k] = paramText(v)
		}
		key := ruleKey(fault)
		seen[r.Fault] = true
		if a, ok := f.applied[r.Fault]; ok {
			if a.key == key {
				continue
			}
			a.remove()
			delete(f.applied, r.Fault)
		}
		rule, err := faults.DNSRule(fault, rand.New(rand.NewSource(time.Now().UnixNano())))
		if err == nil {
			var remove func()
			if remove, err = f.rules.AddRule(rule); err == nil {
				f.applied[r.Fault] = appliedRule{key: key, remove: remove}
				log.Infof("applying fault %s: %s on %s", r.Fault, r.Kind, r.Target)
				continue
			}
		}
		controlErrors.WithLabelValues("rule").Inc()
		log.Warningf("fault %s (%s on %s) cannot be applied here: %v", r.Fault, r.Kind, r.Target, err)
	}
	for id, a := range f.applied {
		if !seen[id] {
			a.remove()
			delete(f.applied, id)
			log.Infof("fault %s healed", id)
		}
	}
	rulesActive.WithLabelValues("control").Set(float64(len(f.applied)))
}

func (f *follower) dropAll() {
	for id, a := range f.applied {
		a.remove()
		delete(f.applied, id)
	}
	rulesActive.WithLabelValues("control").Set(0)
}

// paramText is a typed parameter as the text faultline's kinds parse.
func paramText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

func ruleKey(f faults.Fault) string {
	keys := make([]string, 0, len(f.Params))
	for k := range f.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(f.Kind + " " + f.Target)
	for _, k := range keys {
		b.WriteString(" " + k + "=" + f.Params[k])
	}
	return b.String()
}

// reporter sends shaped answers to the control API in batches, at least
// once a second; its queue is bounded, and what cannot be sent (the API is
// gone, the queue is full) is dropped and counted.
type reporter struct {
	url, tokenFile string
	done           <-chan struct{}
	client         *http.Client
	queue          chan shapedAnswer

	mu sync.Mutex
	up bool
}

const (
	reportQueue = 8192
	reportBatch = 256 // the API's bound per call
	reportEvery = time.Second
)

func newReporter(base, tokenFile string, done <-chan struct{}) *reporter {
	return &reporter{url: base + "/api/v1/dns/answers", tokenFile: tokenFile, done: done,
		client: &http.Client{Timeout: 10 * time.Second}, queue: make(chan shapedAnswer, reportQueue)}
}

func (r *reporter) setUp(up bool) {
	r.mu.Lock()
	r.up = up
	r.mu.Unlock()
}

func (r *reporter) isUp() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

// add queues an answer without ever blocking the query.
func (r *reporter) add(a shapedAnswer) {
	select {
	case r.queue <- a:
	default:
		reportsDropped.Inc()
	}
}

func (r *reporter) run() {
	t := time.NewTicker(reportEvery)
	defer t.Stop()
	batch := make([]shapedAnswer, 0, reportBatch)
	for {
		select {
		case <-r.done:
			r.send(batch) // what was shaped before the end, once
			return
		case a := <-r.queue:
			batch = append(batch, a)
			if len(batch) < reportBatch {
				continue
			}
		case <-t.C:
		}
		r.send(batch)
		batch = batch[:0]
	}
}

func (r *reporter) send(batch []shapedAnswer) {
	if len(batch) == 0 {
		return
	}
	if !r.isUp() {
		reportsDropped.Add(float64(len(batch)))
		return
	}
	body, _ := json.Marshal(map[string]any{"answers": batch})
	// Not cancelled by the plugin's end: the last batch goes out, bounded
	// by the client's timeout.
	resp, err := call(context.Background(), r.client, r.tokenFile, "POST", r.url, body)
	if err != nil {
		reportsDropped.Add(float64(len(batch)))
		return
	}
	resp.Body.Close()
	reportsSent.Add(float64(len(batch)))
}
