package export

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/faults"
)

// Chaos Mesh (github.com/chaos-mesh/chaos-mesh, v2.8.3, whose CRDs are in
// testdata/chaos-mesh): the experiment becomes one Workflow. Its entry is a
// Parallel template with one branch per fault; a fault that starts after the
// beginning is a Serial of a Suspend (the offset) and the fault's chaos
// template, whose deadline is the fault's duration. A chaos template embeds
// a DNSChaos or NetworkChaos spec (api/v1alpha1/workflow_types.go:
// EmbedChaos). Standalone DNSChaos/NetworkChaos objects are not written
// beside it: each would start the moment it is applied, so applying the
// file would inject every fault twice and the offsets would be lost.
//
// What the two kinds can do (api/v1alpha1/dnschaos_type.go,
// networkchaos_types.go):
//   - DNSChaos: action error (the chaos DNS server answers SERVFAIL:
//     chaos-mesh/k8s_dns_chaos chaos.go returns dns.RcodeServerFailure) or
//     random (a random IPv4 address with TTL 10; AAAA a fixed 2001:db8::
//     address), for names matching patterns (? one character, * only at the
//     end), for the pods the selector picks.
//   - NetworkChaos: delay, loss, duplicate, corrupt, partition, bandwidth
//     (and netem, their combination) on the selected pods' traffic, here to
//     externalTargets: names the controller resolves once, when the chaos
//     is injected (controllers/podnetworkchaos/netutils/cidr.go ResolveCidr).

// ChaosMeshOptions are what the experiment does not know about the cluster.
type ChaosMeshOptions struct {
	Namespace string            // where the Workflow lives and the application pods run
	Selector  map[string]string // the application pods' labels (ANDed)
	TimeScale float64           // every start and duration multiplied by it (0 or 1: as written)
	// Objects writes standalone DNSChaos and NetworkChaos objects instead of
	// the Workflow: each starts when applied and lasts its fault's
	// duration, for a team that schedules them its own way.
	Objects bool
}

const chaosMeshAPIVersion = "chaos-mesh.org/v1alpha1"

// The objects, as the CRDs define them (field names are the CRDs').
type (
	cmWorkflow struct {
		APIVersion string         `yaml:"apiVersion"`
		Kind       string         `yaml:"kind"`
		Metadata   cmMeta         `yaml:"metadata"`
		Spec       cmWorkflowSpec `yaml:"spec"`
	}
	cmMeta struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels,omitempty"`
		Annotations map[string]string `yaml:"annotations,omitempty"`
	}
	cmWorkflowSpec struct {
		Entry     string       `yaml:"entry"`
		Templates []cmTemplate `yaml:"templates"`
	}
	cmTemplate struct {
		Name         string          `yaml:"name"`
		Type         string          `yaml:"templateType"` // Parallel, Serial, Suspend, DNSChaos, NetworkChaos
		Deadline     string          `yaml:"deadline,omitempty"`
		Children     []string        `yaml:"children,omitempty"`
		DNSChaos     *cmDNSChaos     `yaml:"dnsChaos,omitempty"`
		NetworkChaos *cmNetworkChaos `yaml:"networkChaos,omitempty"`
	}
	cmPodSelector struct {
		Selector cmSelector `yaml:"selector"`
		Mode     string     `yaml:"mode"` // all, or fixed-percent with Value
		Value    string     `yaml:"value,omitempty"`
	}
	cmSelector struct {
		Namespaces     []string          `yaml:"namespaces"`
		LabelSelectors map[string]string `yaml:"labelSelectors"`
	}
	cmDNSChaos struct {
		Action        string `yaml:"action"` // error or random
		cmPodSelector `yaml:",inline"`
		Patterns      []string `yaml:"patterns"`
		Duration      string   `yaml:"duration,omitempty"` // standalone objects; a template's deadline is its duration
	}
	// cmObject is a standalone chaos object (--objects).
	cmObject struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   cmMeta `yaml:"metadata"`
		Spec       any    `yaml:"spec"`
	}
	cmNetworkChaos struct {
		Action          string `yaml:"action"` // delay, partition, bandwidth
		cmPodSelector   `yaml:",inline"`
		Direction       string       `yaml:"direction"`
		ExternalTargets []string     `yaml:"externalTargets"`
		Duration        string       `yaml:"duration,omitempty"`
		Delay           *cmDelay     `yaml:"delay,omitempty"`
		Bandwidth       *cmBandwidth `yaml:"bandwidth,omitempty"`
	}
	cmDelay struct {
		Latency     string `yaml:"latency"`
		Jitter      string `yaml:"jitter"`
		Correlation string `yaml:"correlation"`
	}
	cmBandwidth struct {
		Rate   string `yaml:"rate"`
		Limit  uint32 `yaml:"limit"`
		Buffer uint32 `yaml:"buffer"`
	}
)

// cmChaos is a fault's chaos template body: one of the two kinds.
type cmChaos struct {
	dns *cmDNSChaos
	net *cmNetworkChaos
	// flap, when set, alternates the chaos (the first duty of every
	// period) with a Suspend (the rest).
	flap *faults.DNSFlap
}

// ChaosMesh writes the experiment as a Chaos Mesh Workflow, or as
// standalone chaos objects.
func ChaosMesh(exp *spec.Experiment, o ChaosMeshOptions) (Result, error) {
	if err := o.check(); err != nil {
		return Result{}, err
	}
	if o.Objects {
		return o.objects(exp)
	}
	res := Result{Engine: "chaos-mesh"}
	names := templateNames{}
	entry := cmTemplate{Name: names.unique("entry"), Type: "Parallel"}
	var templates []cmTemplate
	for _, f := range exp.Faults {
		m, chaos, err := o.mapFault(exp, f)
		if err != nil {
			return Result{}, err
		}
		res.Mappings = append(res.Mappings, m)
		if chaos == nil {
			continue
		}
		branch := o.branch(f, chaos, &names)
		entry.Children = append(entry.Children, branch[0].Name)
		templates = append(templates, branch...)
	}
	if len(exp.StopWhen) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("stop_when (%d conditions) is not exported: Chaos Mesh stops a Workflow on its StatusCheck templates (HTTP probes), not on faultline's metrics; watch the run yourself", len(exp.StopWhen)))
	}
	if entry.Children == nil {
		return res, nil // nothing expressible: no document
	}
	wf := cmWorkflow{
		APIVersion: chaosMeshAPIVersion,
		Kind:       "Workflow",
		Metadata: cmMeta{
			Name:        dns1123(exp.Name),
			Namespace:   o.Namespace,
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "faultline"},
			Annotations: map[string]string{"faultline.dev/experiment": exp.Name},
		},
		Spec: cmWorkflowSpec{Entry: entry.Name, Templates: append([]cmTemplate{entry}, templates...)},
	}
	doc, err := yamlDocuments(fmt.Sprintf("faultline export --to chaos-mesh: %s (Chaos Mesh v2.8 Workflow; kubectl apply -f this file)", exp.Name), wf)
	res.Document = doc
	return res, err
}

// objects writes each expressible fault as a standalone DNSChaos or
// NetworkChaos object: it starts when applied, so a later start is lost (an
// approximation the table names), and a flap, which needs a schedule, is
// not expressible.
func (o ChaosMeshOptions) objects(exp *spec.Experiment) (Result, error) {
	res := Result{Engine: "chaos-mesh"}
	names := templateNames{}
	var objs []any
	for _, f := range exp.Faults {
		m, chaos, err := o.mapFault(exp, f)
		if err != nil {
			return Result{}, err
		}
		switch {
		case chaos == nil:
		case chaos.flap != nil:
			m = notExpressible(f, "a flap alternates chaos and quiet phases, which needs the Workflow (export without --objects)")
			chaos = nil
		case f.Start > 0:
			m.Fidelity = max(m.Fidelity, Approximated)
			m.How = joinNonEmpty([]string{m.How, fmt.Sprintf("starts when applied, not %s after the others (the Workflow keeps the starts)", scale(f.Start, o.TimeScale))})
		}
		res.Mappings = append(res.Mappings, m)
		if chaos == nil {
			continue
		}
		obj := cmObject{APIVersion: chaosMeshAPIVersion, Metadata: cmMeta{
			Name: names.unique(exp.Name + "-" + f.ID), Namespace: o.Namespace,
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "faultline"},
			Annotations: map[string]string{"faultline.dev/experiment": exp.Name, "faultline.dev/fault": f.ID},
		}}
		d := goDuration(scale(f.Duration, o.TimeScale))
		if chaos.dns != nil {
			body := *chaos.dns
			body.Duration = d
			obj.Kind, obj.Spec = "DNSChaos", body
		} else {
			body := *chaos.net
			body.Duration = d
			obj.Kind, obj.Spec = "NetworkChaos", body
		}
		objs = append(objs, obj)
	}
	if objs == nil {
		return res, nil
	}
	doc, err := yamlDocuments(fmt.Sprintf("faultline export --to chaos-mesh --objects: %s (each starts when applied; kubectl apply -f this file)", exp.Name), objs...)
	res.Document = doc
	return res, err
}

// yamlDocuments encodes values as a multi-document YAML under a comment.
func yamlDocuments(comment string, docs ...any) ([]byte, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# %s\n", comment)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var labelKey = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
var labelValue = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)

func (o ChaosMeshOptions) check() error {
	if o.Namespace == "" {
		return &InputError{Flag: "--namespace", Msg: "required with --to chaos-mesh: the namespace of the Workflow and of the application pods it faults"}
	}
	if dns1123(o.Namespace) != o.Namespace || len(o.Namespace) > 63 {
		return &InputError{Flag: "--namespace", Msg: fmt.Sprintf("%q is not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)", o.Namespace)}
	}
	if len(o.Selector) == 0 {
		return &InputError{Flag: "--selector", Msg: "required with --to chaos-mesh: the application pods' labels, like --selector app=orders (without it every pod of the namespace would be faulted)"}
	}
	for k, v := range o.Selector {
		if !labelKey.MatchString(k) || len(k) > 317 || !labelValue.MatchString(v) || len(v) > 63 {
			return &InputError{Flag: "--selector", Msg: fmt.Sprintf("%s=%s is not a Kubernetes label (KEY=VALUE, like app=orders)", k, v)}
		}
	}
	return nil
}

// branch is a fault's templates: the first is the one the entry runs.
func (o ChaosMeshOptions) branch(f faults.Fault, c *cmChaos, names *templateNames) []cmTemplate {
	id := dns1123(f.ID)
	start, dur := scale(f.Start, o.TimeScale), scale(f.Duration, o.TimeScale)
	chaosTemplate := func(name string, d time.Duration) cmTemplate {
		t := cmTemplate{Name: name, Deadline: goDuration(d)}
		if c.dns != nil {
			t.Type, t.DNSChaos = "DNSChaos", c.dns
		} else {
			t.Type, t.NetworkChaos = "NetworkChaos", c.net
		}
		return t
	}
	var steps []cmTemplate
	if start > 0 {
		steps = append(steps, cmTemplate{Name: names.unique(id + "-wait"), Type: "Suspend", Deadline: goDuration(start)})
	}
	if c.flap == nil {
		steps = append(steps, chaosTemplate(names.unique(id), dur))
	} else {
		period := scale(c.flap.Period, o.TimeScale)
		on := time.Duration(float64(period) * c.flap.Duty)
		for t, i := time.Duration(0), 1; t < dur; t, i = t+period, i+1 {
			if d := min(on, dur-t); d > 0 {
				steps = append(steps, chaosTemplate(names.unique(fmt.Sprintf("%s-on-%d", id, i)), d))
			}
			if d := min(period-on, dur-t-on); d > 0 {
				steps = append(steps, cmTemplate{Name: names.unique(fmt.Sprintf("%s-off-%d", id, i)), Type: "Suspend", Deadline: goDuration(d)})
			}
		}
	}
	if len(steps) == 1 {
		return steps
	}
	serial := cmTemplate{Name: names.unique(id + "-schedule"), Type: "Serial"}
	for _, s := range steps {
		serial.Children = append(serial.Children, s.Name)
	}
	return append([]cmTemplate{serial}, steps...)
}

// maxFlapPhases bounds a flap's alternation: each phase is a chaos object
// the controller injects and recovers, which takes it a moment; hundreds of
// them would be a different fault (and a Workflow nobody can read).
const maxFlapPhases = 60

// minFlapPhase is the shortest phase worth asking the controller for.
const minFlapPhase = time.Second

func (o ChaosMeshOptions) mapFault(exp *spec.Experiment, f faults.Fault) (Mapping, *cmChaos, error) {
	p, err := params(f)
	if err != nil {
		return Mapping{}, nil, err
	}
	if isDNSKind(f.Kind) {
		m, c := o.mapDNS(exp, f, p)
		return m, c, nil
	}
	m, c := o.mapRegion(exp, f, p)
	return m, c, nil
}

// dnsAction is what DNSChaos does for one DNS kind on its defaults.
func dnsAction(kind string, p faults.Applier) (action string, fidelity Fidelity, how string) {
	switch p := p.(type) {
	case faults.DNSServFail:
		return "error", Exact, ""
	case faults.DNSEmpty:
		return "error", Approximated, "DNSChaos has no empty answer (NOERROR without records): it answers SERVFAIL, so Go says \"server misbehaving\" instead of \"no such host\", resolvers do not cache it as an empty answer (RFC 2308) and SDKs retry it; faultline's CoreDNS plugin answers it exactly"
	case faults.DNSNXDomain:
		return "error", Approximated, "DNSChaos has no NXDOMAIN: it answers SERVFAIL, without the SOA, which resolvers do not cache negatively and SDKs retry"
	case faults.DNSRefused:
		return "error", Approximated, "DNSChaos has no REFUSED: it answers SERVFAIL"
	case faults.DNSPlanRace:
		return "error", Approximated, "there is no DNS automation to slow down in a cluster: the race's outcome (the record empty until the repair) stands in, from the fault's start rather than when the race lands, as SERVFAIL since DNSChaos has no empty answer"
	case faults.DNSRedirect:
		if p.Region != "" {
			return "", NotExpressible, "DNSChaos cannot answer with another name's records (its random action makes up an address)"
		}
		return "random", Approximated, "DNSChaos answers a random IPv4 address (AAAA: a fixed 2001:db8:: address) with TTL 10, not the given addresses: connections go to an address that may answer or not, rather than be refused"
	case faults.DNSTimeout:
		return "", NotExpressible, "DNSChaos answers every query it matches; it cannot withhold the answer, and dropping DNS packets with a NetworkChaos would time out every name, not these"
	case faults.DNSDelay:
		return "", NotExpressible, "DNSChaos has no delay; a NetworkChaos delay toward the cluster DNS would slow every name, not these"
	case faults.DNSTruncate:
		return "", NotExpressible, "DNSChaos cannot set TC on UDP answers nor shape the TCP retry"
	case faults.DNSPartial:
		return "", NotExpressible, "DNSChaos cannot drop records from an answer"
	case faults.DNSStale:
		return "", NotExpressible, "DNSChaos cannot answer with a name's previous records"
	case faults.DNSTTL:
		return "", NotExpressible, "DNSChaos cannot change an answer's TTL"
	}
	return "", NotExpressible, fmt.Sprintf("no DNSChaos action for %s", kind)
}

func (o ChaosMeshOptions) mapDNS(exp *spec.Experiment, f faults.Fault, p faults.Applier) (Mapping, *cmChaos) {
	var flap *faults.DNSFlap
	var hows []string
	action, fidelity, how := dnsAction(f.Kind, p)
	if fl, ok := p.(faults.DNSFlap); ok {
		flap = &fl
		inner, err := params(faults.Fault{ID: f.ID, Kind: fl.With})
		if err != nil {
			return notExpressible(f, err.Error()), nil
		}
		action, fidelity, how = dnsAction(fl.With, inner)
		if fidelity == NotExpressible {
			return notExpressible(f, fmt.Sprintf("its faulty phase (%s) cannot be expressed: %s", fl.With, how)), nil
		}
		period := scale(fl.Period, o.TimeScale)
		on := time.Duration(float64(period) * fl.Duty)
		phases := 2 * int(math.Ceil(float64(scale(f.Duration, o.TimeScale))/float64(period)))
		if on < minFlapPhase || period-on < minFlapPhase && fl.Duty < 1 || phases > maxFlapPhases {
			return notExpressible(f, fmt.Sprintf("a flap of period %s (duty %g) over %s needs %d chaos/suspend phases of %s and %s; each is injected and recovered by the controller, so phases under %s or more than %d of them would be a different fault (--time-scale stretches them)",
				period, fl.Duty, scale(f.Duration, o.TimeScale), phases, on, period-on, minFlapPhase, maxFlapPhases)), nil
		}
		fidelity = Approximated
		hows = append(hows, fmt.Sprintf("the flap alternates DNSChaos (%s) and Suspend templates in a Serial: each phase starts when the controller has injected or recovered it, a little late", fl.With))
	}
	if fidelity == NotExpressible {
		return notExpressible(f, how), nil
	}
	if how != "" {
		hows = append(hows, how)
	}
	sel, ok := faults.SelectorOf(p)
	if !ok {
		sel = faults.DNSSelect{Probability: 1} // a kind without selectors (dns.plan-race) acts on every query
	}
	ps, selHows := o.podSelector(sel)
	hows = append(hows, selHows...)
	if flap != nil && sel.Probability < 1 {
		hows = append(hows, "each faulty phase picks its own share of the pods")
	}
	if sel.QType != nil {
		hows = append(hows, "DNSChaos faults every query type of the names, not only the one selected")
	}
	eps, pattern := selected(exp, f)
	if pattern {
		hows = append(hows, fmt.Sprintf("the pattern %s becomes the names it selects in the experiment (%s): other names it would match in a cluster are not faulted", strings.TrimSuffix(f.Target, "."), strings.Join(names(eps), ", ")))
	}
	if len(hows) > 0 {
		fidelity = Approximated
	}
	m := Mapping{Fault: f, Fidelity: fidelity, As: "DNSChaos " + action, How: strings.Join(hows, "; ")}
	return m, &cmChaos{dns: &cmDNSChaos{Action: action, cmPodSelector: ps, Patterns: names(eps)}, flap: flap}
}

// podSelector is the application pods, narrowed as a DNS fault's selectors
// allow: a share of queries becomes a share of pods.
func (o ChaosMeshOptions) podSelector(sel faults.DNSSelect) (cmPodSelector, []string) {
	ps := cmPodSelector{Selector: cmSelector{Namespaces: []string{o.Namespace}, LabelSelectors: o.Selector}, Mode: "all"}
	var hows []string
	if sel.Probability < 1 {
		pct := max(1, int(math.Round(sel.Probability*100)))
		ps.Mode, ps.Value = "fixed-percent", strconv.Itoa(pct)
		hows = append(hows, fmt.Sprintf("probability %g of the queries becomes %d%% of the pods (mode fixed-percent): a pod's queries are all faulted or none", sel.Probability, pct))
	}
	if sel.Client != nil {
		hows = append(hows, fmt.Sprintf("client %s is one of faultline's loopback clients: the pods --selector picks stand for it", sel.Client[0]))
	}
	return ps, hows
}

func (o ChaosMeshOptions) mapRegion(exp *spec.Experiment, f faults.Fault, p faults.Applier) (Mapping, *cmChaos) {
	host := strings.TrimSuffix(exp.Topology.EndpointName(f.Target), ".")
	packets := fmt.Sprintf("the pods' packets to %s's addresses (resolved once, when the chaos is injected: addresses the name takes later escape)", host)
	const notLinks = "rather than the load balancer's links to its targets"
	net := func(action string) *cmNetworkChaos {
		return &cmNetworkChaos{Action: action, Direction: "to", ExternalTargets: []string{host},
			cmPodSelector: cmPodSelector{Selector: cmSelector{Namespaces: []string{o.Namespace}, LabelSelectors: o.Selector}, Mode: "all"}}
	}
	var toxic faults.ToxicOpts
	var c *cmNetworkChaos
	var hows []string
	switch p := p.(type) {
	case faults.LinkLatency:
		toxic, c = p.ToxicOpts, net("delay")
		c.Delay = &cmDelay{Latency: unitDuration(p.Latency), Jitter: unitDuration(p.Jitter), Correlation: "0"}
		hows = append(hows, "netem delays "+packets+" "+notLinks+"; a request still pays the latency once")
	case faults.LinkBandwidth:
		toxic, c = p.ToxicOpts, net("bandwidth")
		// Chaos Mesh's rate units: "bps means bytes per second", so kbps is
		// faultline's KB/s. tbf's bucket (buffer) must hold at least a full
		// packet or nothing passes; its queue (limit) holds a second's worth.
		rate := uint32(min(p.Rate, math.MaxUint32/1024)) * 1024
		c.Bandwidth = &cmBandwidth{Rate: fmt.Sprintf("%dkbps", p.Rate), Limit: max(rate, 65536), Buffer: max(rate/100, 9000)}
		hows = append(hows, "tbf limits the rate of "+packets+", that is the requests, "+notLinks+", where toxiproxy limited the "+p.Stream+" stream")
	case faults.LinkDown:
		c = net("partition")
		hows = append(hows, "a partition drops "+packets+" "+notLinks+": connections time out instead of being refused")
	case faults.LinkTimeout:
		toxic, c = p.ToxicOpts, net("partition")
		held := "until the heal"
		if p.Timeout > 0 {
			held = "and closed them after " + p.Timeout.String()
		}
		hows = append(hows, "a partition drops "+packets+" "+notLinks+": connections hang until their own timeouts, where toxiproxy held the data "+held)
	case faults.LinkReset:
		return notExpressible(f, "NetworkChaos cannot reset connections (no RST action)"), nil
	case faults.LinkSlowClose:
		return notExpressible(f, "NetworkChaos cannot delay a connection's close alone"), nil
	case faults.LinkSlicer:
		return notExpressible(f, "NetworkChaos cannot slice a stream into small packets"), nil
	case faults.LinkLimitData:
		return notExpressible(f, "NetworkChaos cannot close a connection after a number of bytes"), nil
	case faults.HCFail, faults.HCReset, faults.HCSlow, faults.HCFlap, faults.HCPropagationDelay:
		return notExpressible(f, "a load balancer's health checks are the cloud's: nothing in the cluster can fail them (--to fis maps a one-AZ flap to a zonal shift)"), nil
	case faults.NLBNodeDown, faults.NLBResetConnections:
		return notExpressible(f, "a load balancer's nodes are the cloud's: nothing in the cluster can stop one or reset its connections"), nil
	case faults.DDBReplicationPause:
		return notExpressible(f, "a global table's replication is AWS's; Chaos Mesh cannot touch it (--to fis pauses it with aws:dynamodb:global-table-pause-replication)"), nil
	case faults.DDBReplicationLag:
		return notExpressible(f, "a global table's replication is AWS's; Chaos Mesh cannot slow it (nor can FIS: it can only pause it)"), nil
	default:
		return notExpressible(f, fmt.Sprintf("no Chaos Mesh action for %s", f.Kind)), nil
	}
	if toxic.Stream != "" && toxic.Toxicity < 1 {
		hows = append(hows, fmt.Sprintf("every connection is affected, not a share (toxicity %g)", toxic.Toxicity))
	}
	return approximated(f, "NetworkChaos "+c.Action, strings.Join(hows, "; ")), &cmChaos{net: c}
}

// goDuration is a duration as Chaos Mesh parses it (time.ParseDuration).
func goDuration(d time.Duration) string { return d.String() }

// unitDuration is a duration in one unit, as NetworkChaos's delay fields
// require (pattern ^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)$).
func unitDuration(d time.Duration) string {
	switch {
	case d%time.Millisecond == 0:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d%time.Microsecond == 0:
		return strconv.FormatInt(d.Microseconds(), 10) + "us"
	}
	return strconv.FormatInt(d.Nanoseconds(), 10) + "ns"
}

// dns1123 makes a name a DNS-1123 label, as Kubernetes names and workflow
// template names must be: lowercase, '-' for anything else.
func dns1123(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	out := strings.Trim(string(b), "-")
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-")
	}
	if out == "" {
		out = "x"
	}
	return out
}

// templateNames keeps a Workflow's template names unique (the webhook
// refuses duplicates), as fault ids differing only in '_' and '-' would not be.
type templateNames map[string]bool

func (n templateNames) unique(name string) string {
	name = dns1123(name)
	out := name
	for i := 2; n[out]; i++ {
		out = fmt.Sprintf("%s-%d", name, i)
	}
	n[out] = true
	return out
}
