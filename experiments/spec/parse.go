package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/faultline-dev/faultline/experiments/assert"
	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/targets/dnscache"
	"github.com/faultline-dev/faultline/targets/dnsexec"
	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/nlb"
)

// maxFileSize bounds an experiment file.
const maxFileSize = 1 << 20

// Defaults (the README's reference states them).
const (
	DefaultEndpoint    = "dynamodb.{region}.amazonaws.com"
	DefaultZone        = "amazonaws.com."
	DefaultTTL         = 5 * time.Second
	DefaultTable       = "faultline"
	DefaultItems       = 100
	DefaultNodes       = 2
	DefaultTargets     = 2
	DefaultRate        = 20.0
	DefaultTimeout     = time.Second
	DefaultProbe       = 500 * time.Millisecond
	DefaultConsecutive = 5
	// DefaultHealthInterval paces an application's health probes.
	DefaultHealthInterval = 100 * time.Millisecond
	// DefaultHealthTimeout bounds one probe: not the interval, so that a
	// busy machine does not make a healthy application look unhealthy.
	DefaultHealthTimeout = time.Second
	// DefaultReadyTimeout bounds the wait for the applications to be ready.
	DefaultReadyTimeout = 2 * time.Minute
	// DefaultIdleTimeout is AWS NLB's TCP idle timeout, 350 s, scaled as
	// the health checks are (1/60): 5.8 s, rounded.
	DefaultIdleTimeout = 6 * time.Second
	// DefaultMaxConnectionAge is a connection's maximum age. NLB documents
	// none; ALB's HTTP client keepalive duration is 3600 s by default.
	// Scaled by 1/60 it would be 60 s, longer than every built-in run, so
	// no pooled connection would meet a fault; on October 20 the record
	// stayed empty 2.6 times that hour, so every pooled client looked the
	// name up again during the outage. 2 s keeps that ratio to the
	// flagship's 6 s fault.
	DefaultMaxConnectionAge = 2 * time.Second
)

// Bounds of the lifetimes (0s turns either off).
const (
	minLifetime    = 100 * time.Millisecond
	maxIdleTimeout = 2 * time.Hour
	maxAge         = 7 * 24 * time.Hour
)

// Default health check: AWS's NLB defaults scaled for short experiments
// (targets/nlb.DefaultHealthCheck says how).
var DefaultHealthCheck = HealthCheck{Interval: 500 * time.Millisecond, Timeout: 250 * time.Millisecond, HealthyThreshold: 3, UnhealthyThreshold: 2}

var (
	namePattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	clientPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	idPattern     = regexp.MustCompile(`^[a-z0-9_-]+$`)
	tablePattern  = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)
	yamlLine      = regexp.MustCompile(`line (\d+)`)
)

// Workloads of the reference clients (experiments/clients): the default,
// and read-your-writes, for global tables.
var Workloads = []string{WorkloadDefault, WorkloadReadYourWrites}

// The workloads.
const (
	WorkloadDefault        = "default"
	WorkloadReadYourWrites = "read-your-writes"
)

// Operations the reference clients send.
var Operations = []string{"GetItem", "PutItem"}

// ParseFile reads and parses an experiment file.
func ParseFile(path string) (*Experiment, error) {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such experiment file", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if info.Size() > maxFileSize {
		return nil, ErrorList{{Pos: Pos{path, 1, 1}, Msg: fmt.Sprintf("file is %d bytes; an experiment file is at most %d", info.Size(), maxFileSize)}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse parses an experiment. The error is an ErrorList naming every problem.
func Parse(file string, data []byte) (*Experiment, error) {
	d := &decoder{file: file}
	if len(data) > maxFileSize {
		d.errs = append(d.errs, &Error{Pos: Pos{file, 1, 1}, Msg: fmt.Sprintf("file is %d bytes; an experiment file is at most %d", len(data), maxFileSize)})
		return nil, d.errs
	}
	doc, err := oneDocument(data)
	if err != nil {
		d.errs = append(d.errs, yamlError(file, data, err))
		return nil, d.errs
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.errs = append(d.errs, &Error{Pos: Pos{file, 1, 1}, Msg: "the file is empty; expected an experiment (name, topology, clients, schedule)"})
		return nil, d.errs
	}
	exp := d.experiment(doc.Content[0])
	exp.File = file
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	// The parser found nothing wrong; the schema editors use must agree.
	if errs := checkSchema(file, doc.Content[0]); len(errs) > 0 {
		return nil, errs
	}
	return exp, nil
}

// errSecondDocument: the file holds more than one YAML document.
type errSecondDocument struct{ line, col int }

func (e errSecondDocument) Error() string {
	return "a second YAML document starts here: an experiment file holds one experiment, and faultline would ignore everything from here on; remove the --- or split the file"
}

// oneDocument reads the file's one YAML document. A second one is an
// error: a stray --- would otherwise turn the rest of the file, a CI gate's
// assertions say, into nothing.
func oneDocument(data []byte) (yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return doc, err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return doc, nil
	case err != nil:
		return doc, err
	case next.Kind == yaml.DocumentNode && len(next.Content) == 0:
		return doc, nil // a trailing --- with nothing after it
	default:
		return doc, errSecondDocument{line: next.Line, col: next.Column}
	}
}

// yamlError places a YAML error in the file: its line when the parser gave
// one, else where the offending text is (a control character, an unknown
// anchor), and says what went wrong.
func yamlError(file string, data []byte, err error) *Error {
	var second errSecondDocument
	if errors.As(err, &second) {
		return &Error{Pos: Pos{file, max(second.line, 1), max(second.col, 1)}, Msg: second.Error()}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Pos{file, 1, 1}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = strings.TrimPrefix(strings.TrimSpace(yamlLine.ReplaceAllString(msg, "")), ": ")
	} else if line, col, ok := offendingText(data, msg); ok {
		pos.Line, pos.Col = line, col
	}
	return &Error{Pos: pos, Msg: "YAML syntax error: " + msg}
}

// yamlAnchor finds the anchor an "unknown anchor" error names.
var yamlAnchor = regexp.MustCompile(`unknown anchor '([^']*)' referenced`)

// offendingText finds what a YAML error without a line is about: the first
// control character, or the alias of an unknown anchor.
func offendingText(data []byte, msg string) (line, col int, ok bool) {
	at := -1
	switch {
	case strings.Contains(msg, "control characters"):
		at = bytes.IndexFunc(data, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f })
	case yamlAnchor.MatchString(msg):
		at = bytes.Index(data, []byte("*"+yamlAnchor.FindStringSubmatch(msg)[1]))
	}
	if at < 0 {
		return 0, 0, false
	}
	line = 1 + bytes.Count(data[:at], []byte("\n"))
	col = 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:at], '\n')+1:at])
	return line, col, true
}

func (d *decoder) experiment(root *yaml.Node) *Experiment {
	exp := &Experiment{Metrics: Metrics{ConsecutiveSuccesses: DefaultConsecutive, MetastableAfter: DefaultMetastableAfter}, ReadyTimeout: DefaultReadyTimeout}
	exp.Topology = Topology{Endpoint: DefaultEndpoint, Zone: DefaultZone, RecordTTL: DefaultTTL, NegativeTTL: DefaultTTL,
		Table: Table{Name: DefaultTable, Items: DefaultItems}}
	var n experimentNodes
	d.mapping(root, "experiment", d.experimentFields(exp, &n))
	// Order matters: clients name regions, faults name endpoints and regions,
	// assertions name clients and faults.
	if n.topology != nil {
		d.topology(n.topology, &exp.Topology)
	}
	if n.clients != nil {
		exp.Clients = d.clients(n.clients, exp.Topology)
	}
	if n.schedule != nil {
		d.schedule(n.schedule, exp)
	}
	d.checkMetastableAfter(exp)
	if g := exp.Topology.Table.Global; g != nil && g.Consistency != ConsistencyStrong && exp.Duration > 0 && g.ReplicationLag+g.Jitter >= exp.Duration {
		d.errorf(d.global, "topology.table.global: a write replicates after up to %s, not within the run (schedule.duration %s)", g.ReplicationLag+g.Jitter, exp.Duration)
	}
	if n.assertions != nil {
		exp.Assertions = d.assertions(n.assertions, exp, "assertions")
	}
	if n.steady != nil {
		exp.SteadyState = d.steadyState(n.steady, exp, "steady_state")
	}
	if n.stop != nil {
		exp.StopWhen = d.steadyState(n.stop, exp, "stop_when")
	}
	return exp
}

// experimentNodes are the parts of the file parsed after its keys.
type experimentNodes struct{ topology, clients, schedule, assertions, steady, stop *yaml.Node }

// experimentFields is the format's top: the root of the tables Schema walks.
func (d *decoder) experimentFields(exp *Experiment, n *experimentNodes) []field {
	assertion := d.assertionValue()
	return []field{
		keyOf("name", stringValue(namePattern.String(), "the experiment's name"), func(_, v *yaml.Node) {
			d.str(v, "name", &exp.Name)
			if exp.Name != "" && !namePattern.MatchString(exp.Name) {
				d.errorf(v, "name: %q: expected lowercase letters, digits and dashes, like dynamodb-empty-dns", exp.Name)
			}
		}).must(),
		keyOf("description", stringValue("", "one line, shown by faultline list"), func(_, v *yaml.Node) { d.str(v, "description", &exp.Description) }),
		keyOf("seed", integerValue(math64Min, math64Max, "seed for random choices"), func(_, v *yaml.Node) {
			if i, ok := d.integer(v, "seed", math64Min, math64Max); ok {
				exp.Seed = &i
			}
		}),
		keyOf("topology", objectValue("", func() []field { return d.topologyFields(&Topology{}, &topologyNodes{}) }),
			func(_, v *yaml.Node) { n.topology = v }).must(),
		keyOf("clients", listValue(d.clientValue(), 1, "the clients"), func(_, v *yaml.Node) { n.clients = v }).must(),
		keyOf("metrics", objectValue("", func() []field { return d.metricsFields(&Metrics{}) }), func(_, v *yaml.Node) {
			d.mapping(v, "metrics", d.metricsFields(&exp.Metrics))
		}),
		keyOf("schedule", objectValue("", func() []field { return d.scheduleFields(&Experiment{}, new(*yaml.Node)) }),
			func(_, v *yaml.Node) { n.schedule = v }).must(),
		keyOf("assertions", listValue(assertion, 0, "checked after the run"), func(_, v *yaml.Node) { n.assertions = v }),
		keyOf("steady_state", listValue(assertion, 0, "checked before the first fault and after the last heal"), func(_, v *yaml.Node) { n.steady = v }),
		keyOf("stop_when", listValue(assertion, 0, "a condition that heals everything and ends the run early"), func(_, v *yaml.Node) { n.stop = v }),
	}
}

func (d *decoder) metricsFields(m *Metrics) []field {
	return append([]field{
		d.integerKey("metrics", "consecutive_successes", integerValue(1, 1000, "K in the failover and recover definitions"), &m.ConsecutiveSuccesses),
		d.durationKey("metrics", "latency_objective", durationValue(time.Millisecond, time.Hour,
			"a request slower than this counts as unavailable, in availability and in detect, failover and recover"), &m.LatencyObjective),
	}, d.stormMetricsFields(m)...)
}

const (
	math64Min = -1 << 63
	math64Max = 1<<63 - 1
)

// topologyNodes are the topology's keys checked after its mapping.
type topologyNodes struct{ endpoint, zone, regions *yaml.Node }

func (d *decoder) topology(n *yaml.Node, t *Topology) {
	var nodes topologyNodes
	d.mapping(n, "topology", d.topologyFields(t, &nodes))
	if t.Backend == "" {
		t.Backend = BackendEmbedded
	}
	if !strings.Contains(t.Endpoint, "{region}") {
		d.errorf(nodes.endpoint, "topology.endpoint: %q must contain {region}, like dynamodb.{region}.amazonaws.com", t.Endpoint)
	}
	t.Zone = strings.ToLower(dns.Fqdn(t.Zone))
	if _, ok := dns.IsDomainName(t.Zone); !ok || t.Zone == "." {
		d.errorf(nodes.zone, "topology.zone: %q is not a domain name", t.Zone)
	}
	if nodes.regions == nil {
		return
	}
	seen := map[string]bool{}
	d.list(nodes.regions, "topology.regions", func(i int, el *yaml.Node) {
		r := Region{Nodes: DefaultNodes, Targets: DefaultTargets, HealthCheck: DefaultHealthCheck,
			IdleTimeout: DefaultIdleTimeout, MaxConnectionAge: DefaultMaxConnectionAge}
		what := fmt.Sprintf("topology.regions[%d]", i)
		var nameNode *yaml.Node
		d.mapping(el, what, d.regionFields(what, &r, &nameNode))
		if nameNode == nil {
			return
		}
		switch {
		case r.Name != "" && !namePattern.MatchString(r.Name):
			d.errorf(nameNode, "%s.name: %q: expected lowercase letters, digits and dashes, like us-east-1", what, r.Name)
		case seen[r.Name]:
			d.errorf(nameNode, "%s.name: region %q is listed twice", what, r.Name)
		default:
			endpoint := t.EndpointName(r.Name)
			if _, ok := dns.IsDomainName(endpoint); !ok || !dns.IsSubDomain(t.Zone, endpoint) {
				d.errorf(nameNode, "%s.name: the endpoint %s is not a name inside the zone %s", what, endpoint, t.Zone)
			}
		}
		seen[r.Name] = true
		if r.Backend == "" {
			r.Backend = t.Backend
		}
		t.Regions = append(t.Regions, r)
	})
	if len(t.Regions) == 0 {
		d.errorf(nodes.regions, "topology.regions: expected at least one region")
	}
	if len(t.Regions) > 16 {
		d.errorf(nodes.regions, "topology.regions: %d regions; at most 16", len(t.Regions))
	}
	if t.Table.Global != nil && len(t.Regions) == 1 {
		d.errorf(d.global, "topology.table.global: a global table has a replica in each of at least two regions; the topology has one (%s)", t.Regions[0].Name)
	}
	d.checkGlobal(t)
}

var backends = []string{BackendEmbedded, BackendContainer}

func (d *decoder) topologyFields(t *Topology, n *topologyNodes) []field {
	return []field{
		keyOf("endpoint", stringValue(`\{region\}`, "each region's endpoint name, with {region}"), func(_, v *yaml.Node) {
			n.endpoint = v
			d.str(v, "topology.endpoint", &t.Endpoint)
		}),
		keyOf("zone", stringValue("", "the zone the DNS server is authoritative for"), func(_, v *yaml.Node) {
			n.zone = v
			d.str(v, "topology.zone", &t.Zone)
		}),
		keyOf("dns", objectValue("", func() []field { return d.dnsFields(&Topology{}) }), func(_, v *yaml.Node) {
			d.mapping(v, "topology.dns", d.dnsFields(t))
		}),
		keyOf("resolver", resolverValue(d), func(_, v *yaml.Node) {
			d.mapping(v, "topology.resolver", d.resolverFields(t))
			d.resolverChoice(v)
		}),
		keyOf("automation", objectValue("", func() []field { return d.automationFields(&Automation{}) }), func(_, v *yaml.Node) {
			t.Automation = &Automation{Enactors: 3, PlanInterval: 500 * time.Millisecond}
			d.mapping(v, "topology.automation", d.automationFields(t.Automation))
		}),
		keyOf("table", objectValue("", func() []field { return d.tableFields(&Table{}) }), func(_, v *yaml.Node) {
			d.mapping(v, "topology.table", d.tableFields(&t.Table))
		}),
		keyOf("regions", listValue(objectValue("", func() []field { return d.regionFields("", &Region{}, new(*yaml.Node)) }), 1, "the regions"),
			func(_, v *yaml.Node) { n.regions = v }).must(),
		keyOf("backend", enumValue(backends, "every region's DynamoDB"), func(_, v *yaml.Node) { d.backend(v, "topology.backend", &t.Backend) }),
		keyOf("images", objectValue("", func() []field { return d.imagesFields(&Topology{}) }), func(_, v *yaml.Node) {
			d.mapping(v, "topology.images", d.imagesFields(t))
		}),
	}
}

func (d *decoder) dnsFields(t *Topology) []field {
	return []field{
		d.durationKey("topology.dns", "ttl", durationValue(0, 24*time.Hour, "TTL of the endpoint records, whole seconds"), &t.RecordTTL,
			d.wholeSeconds("topology.dns.ttl", &t.RecordTTL)),
		d.durationKey("topology.dns", "negative_ttl", durationValue(0, 24*time.Hour, "SOA TTL and MINIMUM, whole seconds"), &t.NegativeTTL,
			d.wholeSeconds("topology.dns.negative_ttl", &t.NegativeTTL)),
	}
}

// lifetime refuses a connection lifetime between 0s (off) and minLifetime.
func (d *decoder) lifetime(what string, hi time.Duration, dst *time.Duration) func(*yaml.Node, bool) {
	return func(n *yaml.Node, ok bool) {
		if ok && *dst > 0 && *dst < minLifetime {
			d.errorf(n, "%s: expected 0s (off) or %s to %s, got %s", what, minLifetime, hi, *dst)
		}
	}
}

// wholeSeconds refuses a DNS TTL with a fraction of a second.
func (d *decoder) wholeSeconds(what string, dst *time.Duration) func(*yaml.Node, bool) {
	return func(n *yaml.Node, ok bool) {
		if ok && *dst%time.Second != 0 {
			d.errorf(n, "%s: DNS TTLs are whole seconds, got %s", what, *dst)
		}
	}
}

func (d *decoder) resolverFields(t *Topology) []field {
	return []field{
		keyOf("preset", enumValue(dnscache.PresetNames(), "a model of a caching resolver between clients and the server"), func(_, v *yaml.Node) {
			d.str(v, "topology.resolver.preset", &t.Resolver)
			if _, err := dnscache.LookupPreset(t.Resolver); err != nil && t.Resolver != "" {
				d.errorf(v, "topology.resolver.preset: %v", err)
			}
		}),
		keyOf("exec", enumValue(dnsexec.Names(), "a real caching resolver run between clients and the server, one process per client"), func(_, v *yaml.Node) {
			d.str(v, "topology.resolver.exec", &t.ResolverExec)
			if _, err := dnsexec.LookupKind(t.ResolverExec); err != nil {
				d.errorf(v, "topology.resolver.exec: %v", err)
			}
		}),
		d.booleanKey("topology.resolver", "serve_stale", "answer from expired entries when the server fails (RFC 8767; models only)", &t.ServeStale),
	}
}

// resolverValue is the resolver mapping: a model (preset) or a real
// resolver (exec), exactly one.
func resolverValue(d *decoder) value {
	v := objectValue("", func() []field { return d.resolverFields(&Topology{}) })
	v.extra = func() obj {
		return obj{"oneOf": []obj{{"required": []string{"preset"}}, {"required": []string{"exec"}}}}
	}
	return v
}

// resolverChoice says what the resolver mapping n lacks or has too much
// of: preset or exec, one of them; serve_stale with a model only.
func (d *decoder) resolverChoice(n *yaml.Node) {
	preset, exec, stale := mappingValue(n, "preset"), mappingValue(n, "exec"), mappingValue(n, "serve_stale")
	switch {
	case preset == nil && exec == nil:
		d.errorf(n, "topology.resolver: expected preset (a model: %s) or exec (a real resolver: %s)",
			strings.Join(dnscache.PresetNames(), ", "), strings.Join(dnsexec.Names(), ", "))
	case preset != nil && exec != nil:
		d.errorf(exec, "topology.resolver: preset (a model) or exec (a real resolver), not both")
	case exec != nil && stale != nil:
		d.errorf(stale, "topology.resolver.serve_stale: applies to the models (preset); a real resolver runs with its own defaults")
	}
}

// mappingValue is the value of key in mapping n, nil when it has none.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func (d *decoder) automationFields(a *Automation) []field {
	return []field{
		d.integerKey("topology.automation", "enactors", integerValue(2, 9, "enactors of the DNS automation model"), &a.Enactors),
		d.durationKey("topology.automation", "plan_interval", durationValue(100*time.Millisecond, time.Minute, "how often the planner plans"), &a.PlanInterval),
		d.booleanKey("topology.automation", "fix", "enactors check the plan's generation at apply time", &a.Fix),
	}
}

func (d *decoder) tableFields(tb *Table) []field {
	return []field{
		keyOf("name", stringValue(tablePattern.String(), "the table seeded in every region"), func(_, v *yaml.Node) {
			d.str(v, "topology.table.name", &tb.Name)
			if !tablePattern.MatchString(tb.Name) {
				d.errorf(v, "topology.table.name: %q: expected 3 to 255 letters, digits, '_', '-' or '.' (DynamoDB's rule)", tb.Name)
			}
		}),
		d.integerKey("topology.table", "items", integerValue(1, 100000, "items seeded"), &tb.Items),
		d.globalKey(tb),
	}
}

func (d *decoder) imagesFields(t *Topology) []field {
	return []field{
		keyOf("dynamodb", stringValue(`^\S+$`, "the container backend's image"), func(_, v *yaml.Node) {
			d.image(v, "topology.images.dynamodb", &t.DynamoDBImage)
		}),
	}
}

func (d *decoder) regionFields(what string, r *Region, nameNode **yaml.Node) []field {
	return []field{
		keyOf("name", stringValue(namePattern.String(), "e.g. us-east-1"), func(_, v *yaml.Node) { *nameNode = v; d.str(v, what+".name", &r.Name) }).must(),
		d.integerKey(what, "nodes", integerValue(1, 8, "NLB nodes, one per availability zone"), &r.Nodes),
		d.integerKey(what, "targets", integerValue(1, 8, "targets in front of the region's backend"), &r.Targets),
		keyOf("health_check", objectValue("", func() []field { return d.healthCheckFields("", &HealthCheck{}, new(*yaml.Node)) }), func(_, v *yaml.Node) {
			d.healthCheck(v, what+".health_check", &r.HealthCheck)
		}),
		d.booleanKey(what, "cross_zone", "route across availability zones", &r.CrossZone),
		keyOf("backend", enumValue(backends, "this region's DynamoDB"), func(_, v *yaml.Node) { d.backend(v, what+".backend", &r.Backend) }),
		keyOf("connection_termination", booleanValue("reset connections to a target that turns unhealthy"), func(_, v *yaml.Node) {
			terminate := true
			d.boolean(v, what+".connection_termination", &terminate)
			r.KeepConnections = !terminate
		}),
		d.durationKey(what, "idle_timeout", durationValue(0, maxIdleTimeout, "an idle connection is forgotten (next packet: RST); 0s: off, else at least 100ms"),
			&r.IdleTimeout, d.lifetime(join(what, "idle_timeout"), maxIdleTimeout, &r.IdleTimeout)),
		d.durationKey(what, "max_connection_age", durationValue(0, maxAge, "a connection this old is closed between exchanges; 0s: off, else at least 100ms"),
			&r.MaxConnectionAge, d.lifetime(join(what, "max_connection_age"), maxAge, &r.MaxConnectionAge)),
		keyOf("velocity_limit", objectValue("", func() []field { return d.velocityFields("", &Velocity{}) }), func(_, v *yaml.Node) {
			r.Velocity = &Velocity{MaxShare: 0.5, Window: 10 * time.Second}
			d.mapping(v, what+".velocity_limit", d.velocityFields(what+".velocity_limit", r.Velocity))
		}),
		d.capacityKey(what, r),
	}
}

func (d *decoder) velocityFields(what string, vl *Velocity) []field {
	return []field{
		d.numberKey(what, "max_share", numberValue(0.01, 1, "share of nodes that may leave DNS within the window"), &vl.MaxShare),
		d.durationKey(what, "window", durationValue(100*time.Millisecond, time.Hour, "the velocity window"), &vl.Window),
	}
}

func (d *decoder) healthCheck(n *yaml.Node, what string, hc *HealthCheck) {
	var timeoutNode *yaml.Node
	d.mapping(n, what, d.healthCheckFields(what, hc, &timeoutNode))
	if hc.Protocol == "http" {
		if err := nlb.HealthCheck(*hc).Validate(); err != nil {
			d.errorf(n, "%s: %v", what, err)
		}
	}
	if hc.Timeout >= hc.Interval {
		at := timeoutNode
		if at == nil {
			at = n
		}
		d.errorf(at, "%s.timeout: %s must be shorter than the interval %s", what, hc.Timeout, hc.Interval)
	}
}

func (d *decoder) healthCheckFields(what string, hc *HealthCheck, timeoutNode **yaml.Node) []field {
	return []field{
		d.durationKey(what, "interval", durationValue(50*time.Millisecond, 5*time.Minute, "between checks of a target"), &hc.Interval),
		d.durationKey(what, "timeout", durationValue(10*time.Millisecond, 2*time.Minute, "of one check; shorter than the interval"), &hc.Timeout,
			func(n *yaml.Node, _ bool) { *timeoutNode = n }),
		d.integerKey(what, "healthy_threshold", integerValue(2, 10, "consecutive successes that make a target healthy"), &hc.HealthyThreshold),
		d.integerKey(what, "unhealthy_threshold", integerValue(2, 10, "consecutive failures that make a target unhealthy"), &hc.UnhealthyThreshold),
		keyOf("protocol", enumValue([]string{"tcp", "http"}, "how a target is checked"), func(_, v *yaml.Node) {
			d.str(v, what+".protocol", &hc.Protocol)
			if hc.Protocol != "tcp" && hc.Protocol != "http" {
				d.errorf(v, "%s.protocol: %q: expected tcp or http", what, hc.Protocol)
			}
		}),
		keyOf("path", stringValue(`^/`, "http: the path to GET"), func(_, v *yaml.Node) { d.str(v, what+".path", &hc.Path) }),
		keyOf("matcher", stringValue(`^[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*$`, "http: healthy status codes, like 200 or 200-399"),
			func(_, v *yaml.Node) { d.str(v, what+".matcher", &hc.Matcher) }),
	}
}

// clientNodes are a client's keys checked after its mapping.
type clientNodes struct{ name, strategy, regions, probe, image, command, health, workload, fleet *yaml.Node }

// tunedKeys are the reference client's settings, which an application
// sets itself.
var tunedKeys = []string{"rate", "operations", "workload", "timeout", "keep_alive", "probe_interval"}

// clientValue is one client; the schema says how its keys go together as
// the parser does: a reference client needs a strategy and regions; an
// application (image or command) takes neither a strategy nor the
// reference client's settings, and is one or the other.
func (d *decoder) clientValue() value {
	v := objectValue("", func() []field { return d.clientFields("", &Client{}, &clientNodes{}) })
	v.extra = func() obj {
		var tuned []obj
		for _, k := range append([]string{"strategy"}, tunedKeys...) {
			tuned = append(tuned, obj{"required": []string{k}})
		}
		return obj{
			"allOf": []obj{{
				"if":   obj{"anyOf": []obj{{"required": []string{"image"}}, {"required": []string{"command"}}}},
				"then": obj{"not": obj{"anyOf": tuned}},
				"else": obj{"not": obj{"anyOf": []obj{{"required": []string{"env"}}, {"required": []string{"health"}}}},
					// a fleet (storm.go) takes regions and none of a reference client's keys
					"if":   obj{"required": []string{"fleet"}},
					"then": obj{"required": []string{"regions"}, "not": obj{"anyOf": tuned}},
					"else": obj{"required": []string{"strategy", "regions"}}},
			}, {
				// read-your-writes sends its own operations
				"if":   obj{"required": []string{"workload"}, "properties": obj{"workload": obj{"const": WorkloadReadYourWrites}}},
				"then": obj{"not": obj{"required": []string{"operations"}}},
			}},
			"not": obj{"anyOf": []obj{{"required": []string{"image", "command"}}, {"required": []string{"fleet", "image"}}, {"required": []string{"fleet", "command"}}}},
		}
	}
	return v
}

func (d *decoder) clientFields(what string, c *Client, n *clientNodes) []field {
	return []field{
		keyOf("name", stringValue(clientPattern.String(), "the client's name"), func(_, v *yaml.Node) { n.name = v; d.str(v, what+".name", &c.Name) }).must(),
		keyOf("strategy", enumValue([]string{StrategySingleRegion, StrategyFailover}, "the reference client's strategy (not with image)"), func(_, v *yaml.Node) {
			n.strategy = v
			d.str(v, what+".strategy", &c.Strategy)
		}),
		keyOf("regions", listValue(stringValue(namePattern.String(), "a region"), 1, "the first is primary"), func(_, v *yaml.Node) {
			n.regions = v
			d.strList(v, what+".regions", &c.Regions)
		}),
		keyOf("image", stringValue(`^\S+$`, "your application's image: the client runs it as a container"), func(_, v *yaml.Node) {
			n.image = v
			d.image(v, what+".image", &c.Image)
		}),
		keyOf("command", listValue(rawValue(obj{"type": "string"}), 1, "your application's command: faultline runs it in its sandbox"), func(_, v *yaml.Node) {
			n.command = v
			d.strList(v, what+".command", &c.Command)
			if len(c.Command) == 0 || c.Command[0] == "" {
				d.errorf(v, "%s.command: expected the program and its arguments, like [python3, app.py]", what)
			}
		}),
		keyOf("health", objectValue("", func() []field { return d.healthFields("", &Health{}) }), func(_, v *yaml.Node) {
			n.health = v
			c.Health = &Health{Interval: DefaultHealthInterval, Timeout: DefaultHealthTimeout}
			d.mapping(v, what+".health", d.healthFields(what+".health", c.Health))
		}),
		keyOf("env", rawValue(obj{"type": "object", "propertyNames": obj{"pattern": envPattern.String()}, "additionalProperties": obj{"type": []string{"string", "number", "boolean"}}, "description": "with image: the application's environment"}),
			func(_, v *yaml.Node) { c.Env = d.env(v, what+".env") }),
		d.numberKey(what, "rate", numberValue(0.1, 1000, "requests per second"), &c.Rate),
		keyOf("operations", listValue(enumValue(Operations, "an operation"), 1, "sent in turn"), func(_, v *yaml.Node) {
			d.strList(v, what+".operations", &c.Operations)
			for j, op := range c.Operations {
				if !contains(Operations, op) {
					d.errorf(deref(v).Content[j], "%s.operations[%d]: unknown operation %q; expected one of: %s", what, j, op, strings.Join(Operations, ", "))
				}
			}
			if len(c.Operations) == 0 {
				d.errorf(v, "%s.operations: expected at least one operation", what)
			}
		}),
		keyOf("workload", enumValue(Workloads, "default: the operations in turn on the seeded items; read-your-writes: versioned writes of items of the client's own, each read back (not with operations)"), func(_, v *yaml.Node) {
			n.workload = v
			d.str(v, what+".workload", &c.Workload)
		}),
		d.durationKey(what, "timeout", durationValue(10*time.Millisecond, time.Minute, "per SDK call"), &c.Timeout),
		d.booleanKey(what, "keep_alive", "reuse connections", &c.KeepAlive),
		d.durationKey(what, "probe_interval", durationValue(10*time.Millisecond, time.Minute, "failover: how often to try the primary while away"), &c.ProbeInterval,
			func(v *yaml.Node, _ bool) { n.probe = v }),
		d.durationKey(what, "latency_objective", durationValue(time.Millisecond, time.Hour, "a request slower than this counts as unavailable (default: metrics.latency_objective)"), &c.LatencyObjective),
		d.fleetKey(what, c, n),
	}
}

func (d *decoder) healthFields(what string, h *Health) []field {
	return []field{
		keyOf("url", stringValue(`^http://`, "the application's health endpoint"), func(_, v *yaml.Node) {
			d.str(v, what+".url", &h.URL)
			if u, err := url.Parse(h.URL); err != nil || u.Scheme != "http" || u.Host == "" {
				d.errorf(v, "%s.url: %q: expected an http:// URL of the application's health endpoint, like http://127.0.0.1:8080/healthz", what, h.URL)
			}
		}).must(),
		d.durationKey(what, "interval", durationValue(10*time.Millisecond, time.Minute, "how often it is probed"), &h.Interval),
		d.durationKey(what, "timeout", durationValue(10*time.Millisecond, time.Minute, "how long one probe may take (default 1s)"), &h.Timeout),
	}
}

func (d *decoder) clients(n *yaml.Node, t Topology) []Client {
	var out []Client
	seen := map[string]bool{}
	d.list(n, "clients", func(i int, el *yaml.Node) {
		c := Client{Rate: DefaultRate, Operations: []string{"GetItem"}, Timeout: DefaultTimeout, ProbeInterval: DefaultProbe}
		what := fmt.Sprintf("clients[%d]", i)
		var cn clientNodes
		var tuned []*yaml.Node // settings of the reference client, which an application sets itself
		d.mapping(el, what, d.clientFields(what, &c, &cn))
		nameNode, strategyNode, regionsNode, probeNode := cn.name, cn.strategy, cn.regions, cn.probe
		for _, k := range tunedKeys {
			if kn := key(el, k); kn != nil {
				tuned = append(tuned, kn)
			}
		}
		if cn.workload != nil && c.Workload == WorkloadReadYourWrites {
			if on := key(el, "operations"); on != nil {
				d.errorf(on, "%s.operations: the read-your-writes workload sends PutItem and GetItem in turn; expected no operations with it", what)
			}
			c.Operations = []string{"PutItem", "GetItem"}
		}
		if cn.image != nil && cn.command != nil {
			d.errorf(cn.command, "%s.command: a client is an image or a command, not both", what)
		}
		if cn.fleet != nil {
			d.fleetClient(&c, what, el, cn)
			strategyNode = nil // checked
		} else if cn.image != nil || cn.command != nil {
			d.appClient(&c, what, strategyNode, tuned, t)
			strategyNode = nil // checked
		} else {
			if cn.health != nil {
				d.errorf(cn.health, "%s.health: only an application (image or command) has a health endpoint", what)
			}
			if strategyNode == nil {
				d.errorf(el, "%s: missing required key \"strategy\" (single-region or failover; or an image or a command, for an application of your own)", what)
			}
			if regionsNode == nil {
				d.errorf(el, "%s: missing required key \"regions\"", what)
			}
			if c.Env != nil {
				d.errorf(key(el, "env"), "%s.env: only an application (image or command) takes an environment", what)
			}
		}
		if nameNode != nil {
			switch {
			case c.Name != "" && !clientPattern.MatchString(c.Name):
				d.errorf(nameNode, "%s.name: %q: expected lowercase letters, digits, '_' and '-'", what, c.Name)
			case seen[c.Name]:
				d.errorf(nameNode, "%s.name: client %q is listed twice", what, c.Name)
			}
			seen[c.Name] = true
		}
		if strategyNode != nil {
			switch c.Strategy {
			case StrategySingleRegion:
				if len(c.Regions) != 1 && regionsNode != nil {
					d.errorf(regionsNode, "%s.regions: a single-region client takes exactly one region, got %d", what, len(c.Regions))
				}
				if probeNode != nil {
					d.errorf(probeNode, "%s.probe_interval: only failover clients probe their primary", what)
				}
			case StrategyFailover:
				if len(c.Regions) < 2 && regionsNode != nil {
					d.errorf(regionsNode, "%s.regions: a failover client needs at least two regions (the first is its primary), got %d", what, len(c.Regions))
				}
			default:
				d.errorf(strategyNode, "%s.strategy: unknown strategy %q; expected single-region or failover", what, c.Strategy)
			}
		}
		if regionsNode != nil && deref(regionsNode).Kind == yaml.SequenceNode {
			dup := map[string]bool{}
			for j, r := range c.Regions {
				el := deref(regionsNode).Content[j]
				if _, ok := t.Region(r); !ok && r != "" {
					d.errorf(el, "%s.regions[%d]: unknown region %q; the topology has: %s", what, j, r, regionNames(t))
				}
				if dup[r] {
					d.errorf(el, "%s.regions[%d]: region %q is listed twice", what, j, r)
				}
				dup[r] = true
			}
		}
		out = append(out, c)
	})
	if len(out) == 0 {
		d.errorf(n, "clients: expected at least one client")
	}
	if len(out) > 32 {
		d.errorf(n, "clients: %d clients; at most 32", len(out))
	}
	d.checkFleets(out, n)
	return out
}

func regionNames(t Topology) string {
	var names []string
	for _, r := range t.Regions {
		names = append(names, r.Name)
	}
	if len(names) == 0 {
		return "no regions"
	}
	return strings.Join(names, ", ")
}

func (d *decoder) scheduleFields(exp *Experiment, faultsNode **yaml.Node) []field {
	return []field{
		d.durationKey("schedule", "duration", positiveDuration(time.Hour, "how long clients run, from when every application is ready"), &exp.Duration).must(),
		keyOf("faults", listValue(d.faultValue(), 0, "the faults"), func(_, v *yaml.Node) { *faultsNode = v }),
		d.durationKey("schedule", "ready_timeout", durationValue(time.Second, time.Hour, "how long the applications may take to be ready (default 2m)"), &exp.ReadyTimeout),
	}
}

func (d *decoder) schedule(n *yaml.Node, exp *Experiment) {
	var faultsNode *yaml.Node
	d.mapping(n, "schedule", d.scheduleFields(exp, &faultsNode))
	if faultsNode == nil {
		return
	}
	ids := map[string]bool{}
	var kindNodes []*yaml.Node
	defer func() { d.dnsConflicts(exp, kindNodes) }()
	d.list(faultsNode, "schedule.faults", func(i int, el *yaml.Node) {
		what := fmt.Sprintf("schedule.faults[%d]", i)
		f := faults.Fault{ID: fmt.Sprintf("f%d", i+1), Params: map[string]string{}}
		fn := faultNodes{params: map[string]*yaml.Node{}}
		d.mapping(el, what, d.faultFields(what, &f, &fn))
		idNode, kindNode, targetNode, durationNode, paramsNode, paramNodes := fn.id, fn.kind, fn.target, fn.duration, fn.paramsNode, fn.params
		if idNode != nil && !idPattern.MatchString(f.ID) {
			d.errorf(idNode, "%s.id: %q: expected lowercase letters, digits, '_' and '-'", what, f.ID)
		}
		if ids[f.ID] {
			d.errorf(idNode, "%s.id: fault id %q is used twice", what, f.ID)
		}
		ids[f.ID] = true
		if fn.startOK && fn.durOK && exp.Duration > 0 && f.End() > exp.Duration {
			d.errorf(durationNode, "%s: the fault ends at %s, after the experiment (%s)", what, f.End(), exp.Duration)
		}
		if kindNode != nil && f.Kind != "" {
			kind, ok := faults.Lookup(f.Kind)
			if !ok {
				d.errorf(kindNode, "%s.kind: unknown fault kind %q; expected one of: %s", what, f.Kind, strings.Join(faults.Names(), ", "))
			} else {
				d.faultTarget(targetNode, what, kind, &f, exp.Topology)
				if kind.Meta().NeedsAutomation && exp.Topology.Automation == nil {
					d.errorf(kindNode, "%s.kind: %s acts on the DNS automation; add topology.automation", what, f.Kind)
				}
				if kind.Meta().NeedsReplication && exp.Topology.Table.Global == nil {
					d.errorf(kindNode, "%s.kind: %s acts on a global table's replication; add topology.table.global", what, f.Kind)
				} else if kind.Meta().NeedsReplication && exp.Topology.Strong() {
					d.errorf(kindNode, "%s.kind: %s acts on an eventually consistent table's asynchronous replication; a strongly consistent table has none (isolate a region with a DNS, link or node fault)", what, f.Kind)
				}
				for _, p := range kind.Params() {
					if v, given := f.Params[p.Name]; given && p.Region {
						if _, ok := exp.Topology.Region(v); !ok {
							d.errorf(paramNodes[p.Name], "%s.params: parameter %q: no region %q; the topology has: %s", what, p.Name, v, regionNames(exp.Topology))
						}
					}
				}
				if vals, err := kind.Parse(f.Params); err == nil {
					if l, ok := vals.(interface{ AddedLag() time.Duration }); ok && exp.Duration > 0 && l.AddedLag() >= exp.Duration {
						at := paramNodes["lag"]
						if at == nil {
							at = kindNode
						}
						d.errorf(at, "%s.params: lag: a write held back %s more would not replicate within the run (schedule.duration %s)", what, l.AddedLag(), exp.Duration)
					}
				}
				if _, err := kind.Parse(f.Params); err != nil {
					var pe *faults.ParamError
					at := paramsNode
					if errors.As(err, &pe) && paramNodes[pe.Param] != nil {
						at = paramNodes[pe.Param]
					}
					if at == nil {
						at = kindNode
					}
					d.errorf(at, "%s.params: %v", what, err)
				}
			}
		}
		exp.Faults = append(exp.Faults, f)
		kindNodes = append(kindNodes, kindNode)
	})
}

// faultNodes are a fault's keys checked after its mapping.
type faultNodes struct {
	id, kind, target, duration, paramsNode *yaml.Node
	params                                 map[string]*yaml.Node // each parameter's key
	startOK, durOK                         bool
}

// faultValue is one scheduled fault; the schema states each kind's
// parameters as its parameter struct declares them.
func (d *decoder) faultValue() value {
	v := objectValue("", func() []field {
		return d.faultFields("", &faults.Fault{Params: map[string]string{}}, &faultNodes{params: map[string]*yaml.Node{}})
	})
	v.extra = func() obj {
		var perKind []obj
		for _, name := range faults.Names() {
			kind, _ := faults.Lookup(name)
			props := obj{}
			var required []string
			for _, p := range kind.Params() {
				props[p.Name] = paramSchema(p)
				if p.Required {
					required = append(required, p.Name)
				}
			}
			params := object(required, props)
			then := obj{"properties": obj{"params": params}}
			if len(required) > 0 {
				then["required"] = []string{"params"}
			}
			perKind = append(perKind, obj{"if": obj{"properties": obj{"kind": obj{"const": name}}, "required": []string{"kind"}}, "then": then})
		}
		return obj{"allOf": perKind}
	}
	return v
}

func (d *decoder) faultFields(what string, f *faults.Fault, n *faultNodes) []field {
	return []field{
		keyOf("id", stringValue(idPattern.String(), "how the journal and assertions name the fault"), func(_, v *yaml.Node) { n.id = v; d.str(v, what+".id", &f.ID) }),
		keyOf("kind", enumValue(faults.Names(), "the fault kind"), func(_, v *yaml.Node) { n.kind = v; d.str(v, what+".kind", &f.Kind) }).must(),
		keyOf("target", stringValue("", "an endpoint name (DNS kinds) or a region (link and health-check kinds)"), func(_, v *yaml.Node) {
			n.target = v
			d.str(v, what+".target", &f.Target)
		}).must(),
		d.durationKey(what, "start", durationValue(0, time.Hour, "from the start of the experiment"), &f.Start,
			func(_ *yaml.Node, ok bool) { n.startOK = ok }).must(),
		d.durationKey(what, "duration", positiveDuration(time.Hour, "how long the fault is applied"), &f.Duration,
			func(v *yaml.Node, ok bool) { n.duration, n.durOK = v, ok }).must(),
		keyOf("params", rawValue(obj{"type": "object", "description": "the kind's parameters"}), func(_, v *yaml.Node) {
			n.paramsNode = v
			v = deref(v)
			if v.Kind != yaml.MappingNode {
				d.errorf(v, "%s.params: expected a mapping of parameter names to values, got %s", what, kindName(v))
				return
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				k, val := v.Content[j], v.Content[j+1]
				if first, dup := n.params[k.Value]; dup {
					d.errorf(k, "%s.params: parameter %q appears twice (first at line %d); give it once", what, k.Value, first.Line)
					continue
				}
				if s, ok := d.scalar(val, what+".params."+k.Value); ok {
					f.Params[k.Value] = s
					n.params[k.Value] = k
				}
			}
		}),
	}
}
func (d *decoder) faultTarget(n *yaml.Node, what string, kind faults.Kind, f *faults.Fault, t Topology) {
	if n == nil || f.Target == "" {
		return
	}
	switch kind.Target() {
	case faults.TargetDNSName:
		var names []string
		for _, r := range t.Regions {
			names = append(names, strings.TrimSuffix(t.EndpointName(r.Name), "."))
		}
		target := strings.ToLower(f.Target)
		if !strings.HasPrefix(target, ".") {
			target = dns.Fqdn(target)
		} else {
			target = "." + dns.Fqdn(target[1:])
		}
		matches, err := dnsstub.NamePattern(target)
		if err != nil {
			d.errorf(n, "%s.target: %v", what, err)
			return
		}
		isPattern := strings.HasPrefix(target, ".") || strings.Contains(target, "*")
		for _, r := range t.Regions {
			if e := t.EndpointName(r.Name); (isPattern && matches(e)) || e == target {
				f.Target = target
				return
			}
		}
		if isPattern {
			d.errorf(n, "%s.target: the pattern %q selects no endpoint (endpoints: %s)", what, f.Target, strings.Join(names, ", "))
			return
		}
		d.errorf(n, "%s.target: %s acts on an endpoint name or a pattern (*.label, .suffix); %q is not one (expected one of: %s)", what, kind.Name(), f.Target, strings.Join(names, ", "))
	case faults.TargetRegion:
		if _, ok := t.Region(f.Target); !ok {
			d.errorf(n, "%s.target: %s acts on a region; %q is not one (expected one of: %s)", what, kind.Name(), f.Target, regionNames(t))
		}
	}
}

// assertionValue is one assertion.
func (d *decoder) assertionValue() value {
	return objectValue("", func() []field { return d.assertionFields("", &Assertion{}, &assertionNodes{}) })
}

type assertionNodes struct{ client, expr, fault *yaml.Node }

func (d *decoder) assertionFields(what string, a *Assertion, n *assertionNodes) []field {
	return []field{
		keyOf("client", stringValue(`^(\*|[a-z0-9][a-z0-9_-]*(\.server|\.probe)?)$`, "a client's name, an application's NAME.server or NAME.probe, or * for every client"),
			func(_, v *yaml.Node) { n.client = v; d.str(v, what+".client", &a.Client) }).must(),
		keyOf("expr", stringValue(`^\s*([a-z0-9]+\()?[a-z_0-9]+\)?\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+|true|false)\s*$`, "METRIC OP NUMBER, e.g. failover_ms < 2000 (or METRIC == true|false for metastable)"),
			func(_, v *yaml.Node) { n.expr = v; d.str(v, what+".expr", &a.Expr) }).must(),
		keyOf("fault", stringValue(idPattern.String(), "the fault the metric is relative to (default: the first)"),
			func(_, v *yaml.Node) { n.fault = v; d.str(v, what+".fault", &a.Fault) }),
	}
}

func (d *decoder) assertions(n *yaml.Node, exp *Experiment, list string) []Assertion {
	var out []Assertion
	d.list(n, list, func(i int, el *yaml.Node) {
		what := fmt.Sprintf("%s[%d]", list, i)
		a := Assertion{Pos: d.pos(el)}
		var an assertionNodes
		d.mapping(el, what, d.assertionFields(what, &a, &an))
		clientNode, exprNode, faultNode := an.client, an.expr, an.fault
		if clientNode != nil && a.Client != "*" && a.Client != "" && !hasClient(exp.Clients, a.Client) {
			d.errorf(clientNode, "%s.client: %s; expected a client's name, an application's NAME.server (or NAME.probe, with health), or \"*\" for every client", what, noClient(exp.Clients, a.Client))
		}
		if exprNode != nil && a.Expr != "" {
			e, err := assert.ParseExpr(a.Expr)
			if err != nil {
				d.errorf(exprNode, "%s.expr: %v", what, err)
			}
			a.Metric, a.Op, a.Value = e.Metric, e.Op, e.Value
		}
		if faultNode != nil && a.Fault != "" && !hasFault(exp.Faults, a.Fault) {
			d.errorf(faultNode, "%s.fault: no fault with id %q", what, a.Fault)
		}
		out = append(out, a)
	})
	return out
}

// steadyState parses the steady-state hypothesis: assertions on the metrics
// a window of requests has (no fault-relative ones).
func (d *decoder) steadyState(n *yaml.Node, exp *Experiment, what string) []Assertion {
	out := d.assertions(n, exp, what)
	for i, a := range out {
		switch {
		case a.Metric != "" && slices.Contains(assert.StormMetrics, a.Metric):
			d.errorf(deref(n).Content[i], "%s[%d].expr: %s is the run's load, measured from the whole run (put it in assertions); %s takes %s", what, i, a.Metric, what, strings.Join(assert.SteadyMetrics, ", "))
		case a.Metric != "" && !assert.SteadyMetric(a.Metric):
			d.errorf(deref(n).Content[i], "%s[%d].expr: %s is relative to a fault; %s takes %s", what, i, a.Metric, what, strings.Join(assert.SteadyMetrics, ", "))
		}
		if a.Fault != "" {
			d.errorf(deref(n).Content[i], "%s[%d]: not about one fault; remove fault", what, i)
		}
	}
	return out
}

// Holds compares v with the assertion's value.
func (a Assertion) Holds(v float64) bool {
	return assert.Expr{Metric: a.Metric, Op: a.Op, Value: a.Value}.Holds(v)
}

// MetricNames are the metrics an assertion may name.
func MetricNames() []string { return append([]string(nil), assert.MetricNames...) }

// hasClient: name is one of the clients' views (Client.Views).
func hasClient(cs []Client, name string) bool {
	for _, c := range cs {
		if contains(c.Views(), name) {
			return true
		}
	}
	return false
}

// noClient says why name is not a view.
func noClient(cs []Client, name string) string {
	for _, suffix := range []string{ServerView, ProbeView} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		for _, c := range cs {
			switch {
			case c.Name != base:
			case !c.App():
				return fmt.Sprintf("%q: %s is a reference client; only an application (image or command) has a %s view", name, base, suffix)
			case suffix == ProbeView:
				return fmt.Sprintf("%q: %s has no health endpoint to probe (clients[].health)", name, base)
			}
		}
	}
	return fmt.Sprintf("no client named %q", name)
}

func hasFault(fs []faults.Fault, id string) bool {
	for _, f := range fs {
		if f.ID == id {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// backend reads a backend name.
func (d *decoder) backend(n *yaml.Node, what string, dst *string) {
	d.str(n, what, dst)
	if *dst != BackendEmbedded && *dst != BackendContainer {
		d.errorf(n, "%s: unknown backend %q; expected embedded or container", what, *dst)
		*dst = ""
	}
}

// image reads an image reference: no spaces, not empty.
func (d *decoder) image(n *yaml.Node, what string, dst *string) {
	d.str(n, what, dst)
	if *dst == "" || strings.ContainsAny(*dst, " \t\n") {
		d.errorf(n, "%s: %q: expected an image reference, like amazon/dynamodb-local:2.6.1 or registry.example.com/team/app:1.0", what, *dst)
	}
}

// env reads a mapping of environment variables.
func (d *decoder) env(n *yaml.Node, what string) map[string]string {
	out := map[string]string{}
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping of variables to values, got %s", what, kindName(n))
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if !envPattern.MatchString(k.Value) {
			d.errorf(k, "%s: %q: expected a variable name (letters, digits and '_', not starting with a digit)", what, k.Value)
			continue
		}
		if v == nil || v.Kind != yaml.ScalarNode {
			d.errorf(n.Content[i+1], "%s.%s: expected a string value, got %s", what, k.Value, kindName(v))
			continue
		}
		out[k.Value] = v.Value
	}
	return out
}

var envPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// appClient checks a client with an image: the application brings its own
// strategy, rate and timeouts; its regions default to every region.
func (d *decoder) appClient(c *Client, what string, strategyNode *yaml.Node, tuned []*yaml.Node, t Topology) {
	if strategyNode != nil {
		d.errorf(strategyNode, "%s.strategy: a client with an image or a command is an application with its own strategy; remove strategy (faultline records it as %q)", what, StrategyApp)
	}
	for _, kn := range tuned {
		d.errorf(kn, "%s.%s: an application (image or command) sets its own %s; pass it through env if it reads it", what, kn.Value, kn.Value)
	}
	c.Strategy = StrategyApp
	if len(c.Regions) == 0 {
		for _, r := range t.Regions {
			c.Regions = append(c.Regions, r.Name)
		}
	}
}

// key finds a mapping's key node.
func key(n *yaml.Node, name string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i]
		}
	}
	return nil
}
