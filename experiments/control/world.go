package control

// World is what applications need of a live world (GET /api/v1/world).
type World struct {
	Experiment string `json:"experiment"`
	// Sandboxed: the world is in faultline's sandbox (the real endpoint
	// names on ports 80 and 443; programs reach it through `faultline
	// exec`).
	Sandboxed bool `json:"sandboxed"`
	// DNS is the authoritative server; ClientDNS where clients send their
	// queries (the caching resolver, when the world has one).
	DNS       string   `json:"dns"`
	ClientDNS string   `json:"client_dns"`
	Regions   []Region `json:"regions"`
	// Environment is what an application is given (`faultline run` and
	// `faultline exec` give it so): endpoints, region, table, credentials.
	Environment []string `json:"environment"`
	// CACert is the run's CA in the sandbox (its endpoints' TLS).
	CACert     string `json:"ca_cert,omitempty"`
	Automation bool   `json:"automation"` // the endpoints are published by the DNS automation (dns.plan-race)
	RunDir     string `json:"run_dir"`
	Journal    string `json:"journal"`
	TokenFile  string `json:"token_file"`
	API        string `json:"api"`
	// ToxiproxyAPI is toxiproxy's own HTTP API over the world's links
	// (toxiproxy-cli, toxiproxy clients), when `faultline up
	// --toxiproxy-api` serves it.
	ToxiproxyAPI string `json:"toxiproxy_api,omitempty"`
	// Table is the table seeded in every region; Global says how its
	// replicas relate, when it is a global table (nil: each region's
	// table is its own).
	Table  string       `json:"table"`
	Global *GlobalTable `json:"global,omitempty"`
}

// GlobalTable is a global table's settings, as topology.table.global gives
// them: an application team reads here what a failover can cost it.
type GlobalTable struct {
	Consistency string `json:"consistency"` // eventual or strong
	// ReplicationLagMS and JitterMS: an eventually consistent table's
	// replication, before any fault adds to it.
	ReplicationLagMS int64  `json:"replication_lag_ms,omitempty"`
	JitterMS         int64  `json:"jitter_ms,omitempty"`
	Witness          string `json:"witness,omitempty"` // strong: the witness region
}

// Region is one region of the world.
type Region struct {
	Name     string   `json:"name"`
	Endpoint string   `json:"endpoint"` // its DNS name
	URL      string   `json:"url"`      // the endpoint's URL (http, with the nodes' port)
	HTTPSURL string   `json:"https_url,omitempty"`
	Nodes    []string `json:"nodes"` // the NLB nodes' addresses, as published in DNS
}

func (w World) regionNames() []string {
	var out []string
	for _, r := range w.Regions {
		out = append(out, r.Name)
	}
	return out
}
