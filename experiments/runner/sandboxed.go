package runner

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/faultline-dev/faultline/experiments/appclient"
	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/targets/nlb"
	"github.com/faultline-dev/faultline/targets/sandbox"
	"github.com/faultline-dev/faultline/targets/tlsca"
	"github.com/faultline-dev/faultline/targets/topology"
)

// AppDNS is where applications' resolv.conf points (the DNS relay).
const AppDNS = appDNS

// Ports of the NLB nodes in the sandbox: the real endpoints'.
const (
	sandboxHTTPPort  = 80
	sandboxHTTPSPort = 443
)

// NeedsSandbox reports whether exp must run inside faultline's sandbox
// (sandbox.Reexec), because a client is a command.
func NeedsSandbox(exp *spec.Experiment) bool {
	return slices.ContainsFunc(exp.Clients, func(c spec.Client) bool { return len(c.Command) > 0 })
}

// prepareSandbox, for an experiment with command clients: the run's
// directory, its CA with a certificate for every endpoint name, and the
// nodes on ports 80 and 443.
func (r *run) prepareSandbox(cfg *topology.Config) error {
	r.chooseServerView(cfg)
	if !NeedsSandbox(r.exp) {
		return nil
	}
	if !sandbox.Inside() {
		return errors.New("clients with a command run in faultline's sandbox: run the experiment with `faultline run`, which enters it (or, in Go, call sandbox.Reexec first)")
	}
	dir, err := os.MkdirTemp("", "faultline-run-")
	if err != nil {
		return err
	}
	r.tmpDir = dir
	if r.ca, err = tlsca.New(dir); err != nil {
		return err
	}
	var names []string
	for _, reg := range cfg.Regions {
		names = append(names, reg.Endpoint)
	}
	cert, err := r.ca.Issue(names...)
	if err != nil {
		return err
	}
	cfg.NodePort, cfg.TLSPort = sandboxHTTPPort, sandboxHTTPSPort
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	r.say("sandbox: nodes on ports %d and %d (TLS, the run's CA %s), DNS on %s:53", sandboxHTTPPort, sandboxHTTPSPort, r.ca.CertFile(), appDNS)
	return nil
}

// chooseServerView: the server side's view of the applications (image or
// command) is journaled as the first one's, "NAME.server"; the nodes then
// report the HTTP exchanges they carry. Set before anything can observe a
// query.
func (r *run) chooseServerView(cfg *topology.Config) {
	r.referenceIPs = map[string]bool{}
	for i, c := range r.exp.Clients {
		if !c.App() {
			r.referenceIPs[clientSourceIP(i)] = true
		} else if r.serverView == "" {
			r.serverView = c.Name + ".server"
			cfg.ObserveHTTP = true
		}
	}
}

// removeTmp deletes the run's directory: the CA's key goes with it.
func (r *run) removeTmp() {
	if r.ca != nil {
		r.ca.Close()
	}
	if r.tmpDir != "" {
		os.RemoveAll(r.tmpDir)
	}
}

// commandEnv is a command's environment: the host's PATH, HOME and locale,
// faultline's contract (appclient.Env) with the real https endpoints, the
// CA bundle under every name the common SDKs read, and AWS config files
// that do not exist, so the user's own profiles cannot redirect the app.
func (r *run) commandEnv(c spec.Client, cfg clients.Config) ([]string, error) {
	endpoints := map[string]string{}
	for _, reg := range c.Regions {
		u, err := r.world.HTTPSURL(reg)
		if err != nil {
			return nil, err
		}
		endpoints[reg] = u
	}
	own := map[string]string{
		"AWS_CA_BUNDLE": r.ca.CertFile(), "SSL_CERT_FILE": r.ca.CertFile(), "REQUESTS_CA_BUNDLE": r.ca.CertFile(),
		"NODE_EXTRA_CA_CERTS": r.ca.CertFile(), "CURL_CA_BUNDLE": r.ca.CertFile(),
		"AWS_CONFIG_FILE":             filepath.Join(r.tmpDir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(r.tmpDir, "no-aws-credentials"),
		"FAULTLINE_EVENTS":            filepath.Join(r.tmpDir, c.Name+".events"),
	}
	for k, v := range c.Env {
		own[k] = v
	}
	env := appclient.Env(c.Name, c.Regions, endpoints, cfg.Table, cfg.Items, cfg.SourceIP, false, own)
	for _, k := range []string{"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER"} {
		if v, ok := os.LookupEnv(k); ok && c.Env[k] == "" {
			env = append(env, k+"="+v)
		}
	}
	return env, nil
}

// commandDir is where commands run: beside the experiment file, so
// [python3, app.py] finds app.py there.
func (r *run) commandDir() string {
	if dir := filepath.Dir(r.exp.File); r.exp.File != "" {
		if info, err := os.Stat(dir); err == nil && info.IsDir() {
			return dir
		}
	}
	wd, _ := os.Getwd()
	return wd
}

// serverSideHTTP journals an HTTP exchange an NLB node carried for an
// application (not for a reference client, whose addresses faultline
// knows) as a request of the server-side view.
func (r *run) serverSideHTTP(e nlb.Event) {
	if r.serverView == "" {
		return
	}
	if host, _, _ := net.SplitHostPort(e.Client); r.referenceIPs[host] {
		return
	}
	ev := journal.Event{T: r.j.Since(e.Started), Type: journal.Request, Client: r.serverView, Region: e.Region, Op: e.Op,
		LatencyMS: float64(e.Time.Sub(e.Started).Microseconds()) / 1000, OK: journal.Bool(e.OK), Addr: e.Client}
	if !e.OK {
		ev.Error, ev.Detail = clients.ClassifyText(e.Detail), e.Detail
		if ev.Error == clients.ClassOther {
			ev.Error = clients.ClassHTTP5xx
		}
	}
	r.j.Add(ev)
}

// serverSideDNS journals, for the server-side view, an answer a fault shaped
// for the applications (their queries come through the relay) as a failed
// request: the one failure the server side can see of a client that never
// reaches a node.
func (r *run) serverSideDNS(e journal.Event) {
	if r.serverView == "" || e.Fault == "" || !strings.HasPrefix(e.Addr, appDNSSource+":") {
		return
	}
	if e.QType != "A" && e.QType != "AAAA" {
		return
	}
	class := ""
	switch {
	case e.Rcode == "NXDOMAIN", e.Rcode == "NOERROR" && e.Answers != nil && *e.Answers == 0:
		class = clients.ClassDNSNotFound
	case e.Rcode == "SERVFAIL", e.Rcode == "REFUSED":
		class = clients.ClassDNSServFail
	case e.Rcode == "DROPPED":
		class = clients.ClassDNSTimeout
	default:
		return
	}
	if e.QType == "AAAA" && class == clients.ClassDNSNotFound {
		return // no AAAA records exist anyway: the A answer says it
	}
	r.j.Add(journal.Event{T: e.T, Type: journal.Request, Client: r.serverView, Region: r.regionOf(e.Name), Op: "dns " + e.QType,
		OK: journal.Bool(false), Error: class, Detail: fmt.Sprintf("%s %s answered %s by fault %s", e.Name, e.QType, e.Rcode, e.Fault)})
}

// regionOf is the region whose endpoint is name.
func (r *run) regionOf(name string) string {
	for _, reg := range r.exp.Topology.Regions {
		if r.exp.Topology.EndpointName(reg.Name) == name {
			return reg.Name
		}
	}
	return ""
}
