package faultline

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/faults"
)

// Name is the plugin's name in a Corefile.
const Name = "faultline"

func init() { plugin.Register(Name, setup) }

// config is a faultline block:
//
//	faultline {
//	    control URL            # a running `faultline up`: follow its DNS faults
//	    token_file PATH        # its API token (the run's api-token file)
//	    instance NAME          # how its answers are reported (default: the host's name)
//	    fault KIND TARGET [PARAM=VALUE ...]   # a fixed fault, any number
//	}
type config struct {
	control   string // the API's base URL, "" without one
	tokenFile string
	instance  string
	static    []faults.Fault
}

var instanceName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error(Name, err)
	}
	f, err := newFaultline(cfg)
	if err != nil {
		return plugin.Error(Name, err)
	}
	c.OnStartup(func() error { f.start(); return nil })
	c.OnShutdown(func() error { f.stop(); return nil })
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		f.Next = next
		return f
	})
	return nil
}

// parse reads the block; every error carries the Corefile's position
// (c.Errf, c.ArgErr).
func parse(c *caddy.Controller) (config, error) {
	var cfg config
	blocks := 0
	for c.Next() {
		blocks++
		if blocks > 1 {
			return cfg, c.Err("faultline may appear once in a server block")
		}
		if args := c.RemainingArgs(); len(args) > 0 {
			return cfg, c.Errf("faultline takes no arguments on its own line, got %q: put control, token_file, instance and fault lines in a block", strings.Join(args, " "))
		}
		for c.NextBlock() {
			switch prop := c.Val(); prop {
			case "control":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return cfg, c.ArgErr()
				}
				u, err := url.Parse(args[0])
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
					return cfg, c.Errf("control: expected the control API's URL, like http://127.0.0.1:7878 (what `faultline up` prints), got %q", args[0])
				}
				cfg.control = strings.TrimSuffix(args[0], "/")
			case "token_file":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return cfg, c.ArgErr()
				}
				cfg.tokenFile = args[0]
			case "instance":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return cfg, c.ArgErr()
				}
				if !instanceName.MatchString(args[0]) {
					return cfg, c.Errf("instance: expected a name of letters, digits, '.', '_' and '-' (at most 63), got %q", args[0])
				}
				cfg.instance = args[0]
			case "fault":
				args := c.RemainingArgs()
				if len(args) < 2 {
					return cfg, c.Errf("fault: expected KIND TARGET [PARAM=VALUE ...], like: fault dns.empty dynamodb.us-east-1.amazonaws.com client=10.244.0.0/16")
				}
				f := faults.Fault{ID: "corefile-" + strconv.Itoa(len(cfg.static)+1), Kind: args[0], Target: dns.Fqdn(strings.ToLower(args[1])), Params: map[string]string{}}
				for _, kv := range args[2:] {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return cfg, c.Errf("fault %s: expected PARAM=VALUE, got %q", args[0], kv)
					}
					f.Params[k] = v
				}
				if _, err := faults.DNSRule(f, nil); err != nil {
					return cfg, c.Errf("fault %s %s: %v (DNS kinds: %s)", args[0], args[1], err, strings.Join(dnsKinds(), ", "))
				}
				cfg.static = append(cfg.static, f)
			default:
				return cfg, c.Errf("unknown property %q: expected control, token_file, instance or fault", prop)
			}
		}
	}
	switch {
	case cfg.control != "" && cfg.tokenFile == "":
		return cfg, c.Err("control needs token_file: the file holding the control API's token (the run's api-token)")
	case cfg.control == "" && cfg.tokenFile != "":
		return cfg, c.Err("token_file without control: give the control API's URL too")
	case cfg.control == "" && len(cfg.static) == 0:
		return cfg, c.Err("faultline needs a control URL (a running `faultline up`) or at least one fault line")
	}
	if cfg.instance == "" {
		h, err := os.Hostname()
		if err != nil || !instanceName.MatchString(h) {
			h = "coredns"
		}
		cfg.instance = h
	}
	return cfg, nil
}

// dnsKinds are the kinds a fault line takes.
func dnsKinds() []string {
	var out []string
	for _, k := range faults.Kinds() {
		if k.Target() == faults.TargetDNSName && !k.Meta().NeedsAutomation {
			out = append(out, k.Name())
		}
	}
	return out
}

func (c config) String() string {
	return fmt.Sprintf("control=%q instance=%q static=%d", c.control, c.instance, len(c.static))
}
