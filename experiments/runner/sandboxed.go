package runner

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"slices"

	"github.com/faultline-dev/faultline/experiments/appclient"
	"github.com/faultline-dev/faultline/experiments/clients"
	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/targets/sandbox"
	"github.com/faultline-dev/faultline/targets/tempdirs"
	"github.com/faultline-dev/faultline/targets/tlsca"
	"github.com/faultline-dev/faultline/targets/topology"
)

// AppDNS is what the sandbox's own /etc/resolv.conf names (sandbox.Prepare).
// No command reads it: each runs with a resolv.conf of its own, naming its
// own relay (sandbox.Launch); nothing listens here, so a process that
// bypassed that gets a refusal at once.
const AppDNS = "127.0.99.53"

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
	if !NeedsSandbox(r.exp) && !r.opts.Sandbox {
		return nil
	}
	if !sandbox.Inside() {
		return errors.New("clients with a command run in faultline's sandbox: run the experiment with `faultline run`, which enters it (or, in Go, call sandbox.Reexec first)")
	}
	dir, err := tempdirs.Make("", "run")
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
	r.say("sandbox: nodes on ports %d and %d (TLS, the run's CA %s); each command resolves through a DNS relay of its own", sandboxHTTPPort, sandboxHTTPSPort, r.ca.CertFile())
	return nil
}

// removeTmp deletes the run's directory (the CA's key was never in it).
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
