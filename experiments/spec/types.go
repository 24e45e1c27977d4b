// Package spec parses and validates an experiment file (YAML) into plain Go
// values. Every error names file:line:column and what was expected, and all
// errors of a file are reported at once. Nothing runs before a file is valid.
// README.md is the experiment file reference.
package spec

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/faults"
	"go.yaml.in/yaml/v3"
)

// Strategies of the reference clients.
const (
	StrategySingleRegion = "single-region"
	StrategyFailover     = "failover"
	// StrategyApp is an application's own: faultline runs it and reads
	// its outcomes (clients with an image).
	StrategyApp = "app"
)

// Backends of a region's DynamoDB.
const (
	BackendEmbedded  = "embedded"
	BackendContainer = "container"
)

// Experiment is a valid experiment.
type Experiment struct {
	File        string
	Name        string
	Description string
	Seed        *int64
	Topology    Topology
	Clients     []Client
	Metrics     Metrics
	Duration    time.Duration
	Faults      []faults.Fault // Params raw; the Engine validates them again into typed values
	Assertions  []Assertion
	SteadyState []Assertion // checked before the first fault and after the last heal
	StopWhen    []Assertion // checked while the run goes; one that holds heals everything and ends it

	// ReadyTimeout bounds the wait for the applications to be ready before
	// the schedule's clock starts (0: DefaultReadyTimeout).
	ReadyTimeout time.Duration
}

// Topology is the world the experiment runs in.
type Topology struct {
	Endpoint    string // pattern with {region}, e.g. "dynamodb.{region}.amazonaws.com"
	Zone        string // fqdn, e.g. "amazonaws.com."
	RecordTTL   time.Duration
	NegativeTTL time.Duration
	Resolver    string // caching resolver preset (a model) between clients and the server; "" for none
	// ResolverExec is the real resolver run between clients and the server
	// instead ("unbound", "dnsmasq", "coredns"); "" for none.
	ResolverExec string
	ServeStale   bool
	Automation   *Automation // DNS automation publishing the endpoints; nil for none
	Table        Table
	Regions      []Region
	Backend      string // every region's default: embedded or container
	// DynamoDBImage is the container backend's image; "" for the default.
	DynamoDBImage string
}

// EndpointName is a region's endpoint as a lowercase fqdn.
func (t Topology) EndpointName(region string) string {
	return strings.ToLower(strings.TrimSuffix(strings.ReplaceAll(t.Endpoint, "{region}", region), ".")) + "."
}

// Region finds a region by name.
func (t Topology) Region(name string) (Region, bool) {
	for _, r := range t.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// Automation is the model of DynamoDB's DNS automation (targets/dnsauto).
type Automation struct {
	Enactors     int
	PlanInterval time.Duration
	Fix          bool
}

// Table is the table seeded in every region.
type Table struct {
	Name  string
	Items int
	// Global, when set, makes every region's table a replica of one
	// global table (targets/dynamodb/replica).
	Global *Global
}

// Region is one region: an NLB with nodes and targets in front of a backend.
type Region struct {
	Name        string
	Nodes       int // one per availability zone
	Targets     int
	HealthCheck HealthCheck
	CrossZone   bool
	Velocity    *Velocity // nil: no limit
	// KeepConnections turns off NLB's connection termination: connections
	// to a target that turns unhealthy are then left open.
	KeepConnections bool
	// IdleTimeout and MaxConnectionAge are the NLB's connection lifetimes
	// (0: off): an idle flow is forgotten (the next packet gets an RST);
	// an old connection is closed between exchanges.
	IdleTimeout, MaxConnectionAge time.Duration
	Backend                       string // embedded or container; the topology's when not set
	// Capacity, when set, is the request rate the backend serves (storm.go).
	Capacity *Capacity
}

// Velocity limits how much of a region's capacity may leave DNS at once.
type Velocity struct {
	MaxShare float64
	Window   time.Duration
}

// HealthCheck is a target group's health-check settings.
type HealthCheck struct {
	Interval, Timeout                    time.Duration
	HealthyThreshold, UnhealthyThreshold int
	Protocol, Path, Matcher              string // tcp or http; for http the path and the success codes
}

// Client is a reference client.
type Client struct {
	Name       string
	Strategy   string
	Regions    []string // first is primary
	Rate       float64  // requests per second
	Operations []string
	// Workload: WorkloadDefault ("" too) or WorkloadReadYourWrites.
	Workload      string
	Timeout       time.Duration
	KeepAlive     bool
	ProbeInterval time.Duration
	// Image, when set, makes this client an application run as a
	// container (Strategy is then StrategyApp); Env is its environment.
	Image string
	Env   map[string]string
	// Command, when set, makes this client an application faultline runs
	// in its sandbox (Strategy is then StrategyApp).
	Command []string
	// Health, when set, probes the application's health endpoint.
	Health *Health
	// LatencyObjective, when set, makes a request slower than it count as
	// unavailable (metrics.latency_objective is every client's default).
	LatencyObjective time.Duration
	// Fleet, when set, makes this client a fleet of light clients
	// (storm.go; Strategy is then StrategyFleet).
	Fleet *Fleet
}

// Objective is the client's latency objective: its own, or the
// experiment's (0: none).
func (c Client) Objective(m Metrics) time.Duration {
	if c.LatencyObjective > 0 {
		return c.LatencyObjective
	}
	return m.LatencyObjective
}

// App reports whether the client is an application (an image or a
// command) rather than a reference client.
func (c Client) App() bool { return c.Image != "" || len(c.Command) > 0 }

// Health is an application's health endpoint, probed at a fixed interval;
// Timeout bounds one probe (0: DefaultHealthTimeout).
type Health struct {
	URL      string
	Interval time.Duration
	Timeout  time.Duration
}

// Views are the names a client's measurements go by: the client's own, and
// for an application its server side ("NAME.server") and, with a health
// endpoint, its probe ("NAME.probe").
func (c Client) Views() []string {
	out := []string{c.Name}
	if c.App() {
		out = append(out, c.Name+ServerView)
		if c.Health != nil {
			out = append(out, c.Name+ProbeView)
		}
	}
	return out
}

// The suffixes of an application's other views.
const (
	ServerView = ".server"
	ProbeView  = ".probe"
)

// Metrics configures the metric definitions.
type Metrics struct {
	ConsecutiveSuccesses int
	// LatencyObjective: a request slower than it counts as unavailable, in
	// availability and in detect, failover and recover (0: none).
	LatencyObjective time.Duration
	// MetastableAfter is the metastable window (storm.go; 0 is not used:
	// the parser sets DefaultMetastableAfter).
	MetastableAfter time.Duration

	metastableNode *yaml.Node // where metastable_after was given
}

// Assertion is "METRIC OP VALUE" for one client or all ("*").
type Assertion struct {
	Client string
	Expr   string
	Metric string
	Op     string
	Value  float64
	Fault  string // the fault the metric refers to; "" = the first
	Pos    Pos
}

// Pos is a place in an experiment file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is one problem in an experiment file.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is every problem found in a file, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Pos.Line != l[j].Pos.Line {
			return l[i].Pos.Line < l[j].Pos.Line
		}
		return l[i].Pos.Col < l[j].Pos.Col
	})
	return l
}
