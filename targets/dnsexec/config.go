package dnsexec

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// configure writes the kind's configuration into dir and returns the
// command-line arguments. Every resolver keeps its defaults for caching:
// what faultline runs is the resolver as it ships.
func configure(kind, dir string, cfg Config, port int, upstream string) ([]string, error) {
	upHost, upPort, err := net.SplitHostPort(upstream)
	if err != nil {
		return nil, fmt.Errorf("%s: upstream %q: %w", kind, upstream, err)
	}
	zone := strings.TrimSuffix(cfg.Zone, ".")
	switch kind {
	case "unbound":
		// The zone is a stub-zone: unbound asks faultline's server as the
		// zone's authoritative server (RD=0), as a recursive resolver asks
		// Route 53. Only the iterator (no trust anchor: no validation), no
		// chroot, no privilege drop, logs to stderr, in the foreground.
		conf := fmt.Sprintf(`server:
	interface: %s@%d
	port: %d
	outgoing-interface: %s
	do-ip6: no
	do-daemonize: no
	chroot: ""
	username: ""
	directory: "%s"
	pidfile: ""
	use-syslog: no
	logfile: ""
	verbosity: 1
	num-threads: 1
	module-config: "iterator"
	do-not-query-localhost: no
	access-control: 127.0.0.0/8 allow
	local-zone: "%s." nodefault
	qname-minimisation: no
	so-reuseport: no
%s	root-hints: ""
	trust-anchor-file: ""
	auto-trust-anchor-file: ""
remote-control:
	control-enable: no
stub-zone:
	name: "%s."
	stub-addr: %s@%s
	stub-first: no
`, cfg.Listen, port, port, cfg.Source, dir, zone, lines(cfg.Extra, "\t"), zone, upHost, upPort)
		file := filepath.Join(dir, "unbound.conf")
		if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
			return nil, fmt.Errorf("unbound: %w", err)
		}
		return []string{"-d", "-c", file}, nil
	case "dnsmasq":
		// Only the zone is forwarded (no resolv.conf, no hosts file); the
		// cache keeps its defaults (150 names, negative caching on).
		return append([]string{"--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
			"--bind-interfaces", "--listen-address=" + cfg.Listen, "--except-interface=nonexistent0",
			fmt.Sprintf("--port=%d", port), "--pid-file=", "--user=" + currentUser(), "--group=" + currentGroup(), "--log-facility=-",
			fmt.Sprintf("--server=/%s/%s#%s@%s", zone, upHost, upPort, cfg.Source)}, cfg.Extra...), nil
	case "coredns":
		// The cache plugin with its defaults, forward to the relay.
		conf := fmt.Sprintf(`%s:%d {
	bind %s
	cache
	forward . %s:%s
%s}
`, zone, port, cfg.Listen, upHost, upPort, lines(cfg.Extra, "\t"))
		file := filepath.Join(dir, "Corefile")
		if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
			return nil, fmt.Errorf("coredns: %w", err)
		}
		return []string{"-conf", file, "-quiet"}, nil
	}
	return nil, fmt.Errorf("unknown resolver %q", kind)
}

// currentUser and currentGroup are who dnsmasq runs as: faultline's own
// (it would switch to nobody and dip): a process that changes its
// credentials loses its parent-death signal, and would outlive a killed
// faultline.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "nobody"
}

func currentGroup() string {
	if g, err := user.LookupGroupId(strconv.Itoa(os.Getegid())); err == nil {
		return g.Name
	}
	return strconv.Itoa(os.Getegid())
}

func lines(extra []string, indent string) string {
	var b strings.Builder
	for _, l := range extra {
		b.WriteString(indent + l + "\n")
	}
	return b.String()
}
