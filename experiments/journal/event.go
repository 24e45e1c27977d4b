// Package journal is the run's single append-only stream of timestamped events.
//
// Every component reports here (faults, DNS answers, health checks, connections,
// client requests); metrics and reports are pure functions of the stream. Events
// are written as JSON lines while the run goes on, so a crash loses nothing that
// was already recorded.
package journal

// Event types. One flat struct carries them all: each type fills the fields
// listed beside it and leaves the rest empty, which keeps the JSON lines
// greppable and the readers simple.
const (
	RunStart      = "run.start"      // Detail: experiment name; Seed; K (consecutive successes); Started, Host, Version, Backend
	Assertion     = "assertion"      // Client, Expr, Fault: an assertion of the experiment, so a journal re-renders alone
	SteadyState   = "steady-state"   // Client, Expr: the steady-state hypothesis, checked before the first fault and after the last heal
	StopCondition = "stop-condition" // Client, Expr: a condition that ends the run early; Status "tripped" when it did
	RunEnd        = "run.end"        // Status: complete|incomplete|stopped|invalid; Detail: reason
	Phase         = "phase"          // Detail: warmup|faults|cooldown|stop
	ClientStart   = "client.start"   // Client, Strategy, Region (primary), Addr (source IP the client uses)
	FaultApplied  = "fault.applied"  // Fault (id), Kind, Target, Reach, Name, Node, LagMS; By (who)
	FaultHealed   = "fault.healed"   // Fault, Kind, Target, LagMS; By (who); Detail: why, and the error if healing failed
	DNSQuery      = "dns.query"      // Addr (client ip:port), Proto, Name, QType, Rcode, Answers, Fault
	DNSPublish    = "dns.publish"    // Name, QType, Detail: comma-separated values
	DNSAutomation = "dns.automation" // Name, Node (planner, enactor-N, operator), Status (the step), Detail
	HCResult      = "hc.result"      // Region, Target, OK, Detail
	TargetState   = "target.state"   // Region, Target, From, To, Detail
	ConnAccepted  = "conn.accepted"  // Region, Node, Target; Client (its name, when known), Addr (its ip:port)
	ConnClosed    = "conn.closed"    // Region, Node, Target; Client, Addr; Detail: why the NLB ended it ("" when a side closed it)
	ConnExpired   = "conn.expired"   // Region, Node, Target; Client, Addr; Detail: the NLB's idle timeout forgot it (next packet: RST)
	ConnsReset    = "conns.reset"    // Region, Detail: every connection of the region's NLB reset at once, how many
	ConnFailed    = "conn.failed"    // Region, Node, Target, Detail; Client, Addr
	Request       = "request"        // Client, Region, Op, LatencyMS, OK, Error (class), Detail; Probe; LagMS: sent that late
	Backend       = "backend"        // Region, Op, Detail: backend-side request outcome

	// OutcomeRejected is an application's outcome line that broke the
	// schema: Client, Detail (the reason), Line (the line, cut short).
	OutcomeRejected = "outcome.rejected"
	// ClientReady: an application client is ready (Client; Detail: how it
	// showed it), or never got ready (Status "timeout").
	ClientReady = "client.ready"
	// ConnRefused is a connection attempt a node refused (a node that is
	// down): Client, Region, Node (the node's address), Addr (the client's).
	ConnRefused = "conn.refused"
	// HarnessLag is the harness watching itself over the last sampling
	// window: LagMS, how late a timer of faultline's own woke at worst;
	// SchedP99MS, the Go runtime's scheduling latency p99 over the window.
	HarnessLag = "harness.lag"
	// DNSOther counts the DNS queries of one second (T its start) from
	// sources that are no client's (another process on the machine, a
	// flood): Counts by rcode (NODATA: NOERROR without answers). They are
	// counted, not journaled one by one, so what others send cannot grow
	// the journal's readers.
	DNSOther = "dns.other"
	// LinkToxic is a toxic added, updated or removed on a link through
	// toxiproxy's own API, not by a fault: Target (the link), Region,
	// Name (the toxic), Kind (its type), Status (added|updated|removed),
	// Detail (the toxic as toxiproxy shows it), By ("toxiproxy-api"),
	// Addr (the caller).
	LinkToxic = "link.toxic"
	// Control is a call to a live world's control API that changed
	// something (faultline up): Op (heal-all, exec, shutdown), By (the
	// token's holder, "api:NAME"), Addr (the caller's address), Client (a
	// program it started), Detail. Applying and healing one fault are
	// fault.applied and fault.healed, with the same By and Addr.
	Control = "control"

	// Global tables (issue 15): every region's table a replica of one
	// global table.
	//
	// DDBWrite is a write a region's replica acknowledged: Region, Name
	// (the table), Item (the item's key), ItemVersion (its numeric "v"
	// attribute when it has one), Client when known, Op (PutItem,
	// UpdateItem, DeleteItem, BatchWriteItem); T is the acknowledgement.
	DDBWrite = "ddb.write"
	// DDBReplicated is one write replicated from a region's replica to
	// another's: Region (source), To (destination region), Name, Item,
	// ItemVersion, WrittenMS (when the source acknowledged it), T (when it
	// was applied at the destination), Status: applied, superseded
	// (last-writer-wins kept a newer write there) or dropped (the run
	// ended before it arrived).
	DDBReplicated = "ddb.replicated"
	// DDBReplication is a change of a replication path's state: Region
	// (source), To (destination), Status (paused, resumed, lagged), Fault.
	DDBReplication = "ddb.replication"
	// StrongConsistency is the Detail of a strongly consistent table's
	// ddb.write and ddb.replicated: an acknowledged write is already on a
	// majority of the regions.
	StrongConsistency = "strong"

	// Retry storms (issue 17): backends with a capacity, fleets of light
	// clients. Both are journaled per second, not per request, so a fleet
	// of thousands keeps the journal small.
	//
	// DDBCapacity, once per region with a capacity at the start: Region,
	// Load.CapacityRPS and Load.Burst.
	DDBCapacity = "ddb.capacity"
	// DDBLoad is a region's backend over the second ending at T: Region,
	// Load (offered: requests that arrived; served: answered within
	// capacity; throttled: refused with a throttling error; queue: waiting
	// at the end of the second; P50MS/P99MS: latency of served requests
	// at the backend, queueing included).
	DDBLoad = "ddb.load"
	// FleetStart is a fleet of light clients starting: Client (the fleet's
	// name), Strategy (its retry policy: legacy, standard, adaptive,
	// go-standard), Region, Rate (logical requests per second, the whole
	// fleet), Size (members), TimeoutMS.
	FleetStart = "fleet.start"
	// FleetLoad is a fleet over the second ending at T: Client, Load
	// (logical: logical requests started; offered: attempts sent, retries
	// included; served: logical requests that succeeded; failed: logical
	// requests that gave up; throttled: attempts answered with a
	// throttling error; P50MS/P99MS: latency of logical requests that
	// ended in the second, retries and back-off included).
	FleetLoad = "fleet.load"
)

// Load is what a backend or a fleet offered, served and refused over one
// second (ddb.load, fleet.load), or a backend's capacity (ddb.capacity).
type Load struct {
	Logical   int     `json:"logical,omitempty"`
	Offered   int     `json:"offered"`
	Served    int     `json:"served"`
	Throttled int     `json:"throttled"`
	Failed    int     `json:"failed,omitempty"`
	Queue     int     `json:"queue,omitempty"`
	P50MS     float64 `json:"p50_ms,omitempty"`
	P99MS     float64 `json:"p99_ms,omitempty"`
	// On ddb.capacity: the requests per second the backend serves and the
	// burst it absorbs above them (a token bucket's size).
	CapacityRPS float64 `json:"capacity_rps,omitempty"`
	Burst       int     `json:"burst,omitempty"`
}

// Status of an hc.result whose timer ran later than the check's timeout: it
// is discarded (not counted towards a target's health).
const HCDiscarded = "discarded"

// Event is one line of the journal. T is milliseconds since the run started,
// read from the monotonic clock. For a request, T is when it started and
// LatencyMS how long it took, so T+LatencyMS is when the client knew.
type Event struct {
	T    float64 `json:"t_ms"`
	Type string  `json:"type"`

	Client   string `json:"client,omitempty"`
	Strategy string `json:"strategy,omitempty"`
	Region   string `json:"region,omitempty"`
	Addr     string `json:"addr,omitempty"`

	Fault  string `json:"fault,omitempty"`
	Kind   string `json:"kind,omitempty"`
	Target string `json:"target,omitempty"`

	Name    string `json:"name,omitempty"`
	QType   string `json:"qtype,omitempty"`
	Rcode   string `json:"rcode,omitempty"`
	Answers *int   `json:"answers,omitempty"`
	Proto   string `json:"proto,omitempty"`

	Node string `json:"node,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`

	// Item and ItemVersion: the item a request, write or replication
	// concerns (its key) and its version (written, or what a read
	// returned; absent when unknown or not versioned). WrittenMS: when the
	// source acknowledged a replicated write.
	Item        string   `json:"item,omitempty"`
	ItemVersion *int64   `json:"item_version,omitempty"`
	WrittenMS   *float64 `json:"written_ms,omitempty"`

	Op        string  `json:"op,omitempty"`
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// LatencyUnknown: the request's latency was not reported (an
	// application's line without latency_ms); it then counts in no
	// percentile.
	LatencyUnknown bool   `json:"latency_unknown,omitempty"`
	OK             *bool  `json:"ok,omitempty"`
	Error          string `json:"error,omitempty"`
	Probe          bool   `json:"probe,omitempty"`
	// LagMS is how late the harness did this against its due time: a
	// request sent, a fault applied or healed, a health check run, a timer
	// woken (harness.lag).
	LagMS      float64  `json:"lag_ms,omitempty"`
	SchedP99MS *float64 `json:"sched_p99_ms,omitempty"`
	Line       string   `json:"line,omitempty"`

	// client.start of a reference client: its request timeout, rate and
	// latency objective (0: none); they bound what its metrics can resolve.
	TimeoutMS   float64 `json:"timeout_ms,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	ObjectiveMS float64 `json:"objective_ms,omitempty"`

	// Reach, on fault.applied, says what shows that the fault touched a
	// client, so metrics need no fault catalogue: "dns" (answers the
	// fault changed), "dns-empty" (empty A answers for the target while
	// applied), "region" (connections or requests through the region's
	// nodes), "health" (what health checks change: failed connections or
	// requests in the region, or its DNS answer changing; Name is the
	// region's endpoint), "node" (connection attempts at the node in Node).
	Reach string `json:"reach,omitempty"`
	// By, on fault.applied and fault.healed, says who did it: "schedule",
	// "bound" (a fault healing by itself at the end of its bound),
	// "rollback" (the run ending), "test", "api:NAME" (the holder of the
	// control API's token; Addr is then the caller's address).
	By string `json:"by,omitempty"`

	// Load, on ddb.capacity, ddb.load and fleet.load; Size, on
	// fleet.start, the fleet's members.
	Load *Load `json:"load,omitempty"`
	Size int   `json:"size,omitempty"`

	// Counts, on dns.other, are queries by rcode.
	Counts map[string]int `json:"counts,omitempty"`

	// On run.start: Started, the wall-clock instant of the journal's zero
	// (RFC 3339, UTC); Host, the machine's host name; Version, the
	// faultline that ran it (buildinfo.Version); Backend, the DynamoDB
	// backend ("embedded", "container", or per region
	// "us-east-1=container,us-west-2=embedded"). Journals written before
	// them lack them; readers must not need them.
	Started string `json:"started,omitempty"`
	Host    string `json:"host,omitempty"`
	Version string `json:"version,omitempty"`
	Backend string `json:"backend,omitempty"`
	// MetastableAfterMS, on run.start, is the experiment's metastable
	// window (metrics.metastable_after; 0: the default).
	MetastableAfterMS float64 `json:"metastable_after_ms,omitempty"`

	Status string `json:"status,omitempty"`
	Seed   *int64 `json:"seed,omitempty"`
	K      int    `json:"k,omitempty"`
	Expr   string `json:"expr,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// End is when the event's outcome was known: for a request its completion,
// for everything else its timestamp.
func (e Event) End() float64 { return e.T + e.LatencyMS }

// Succeeded reports whether a request (or health check) event succeeded.
func (e Event) Succeeded() bool { return e.OK != nil && *e.OK }

// Bool and Int return pointers for the optional fields.
func Bool(b bool) *bool { return &b }
func Int(i int) *int    { return &i }
