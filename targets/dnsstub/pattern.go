package dnsstub

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// pattern is a compiled Rule.Name.
type pattern struct {
	exact  string   // an exact name
	suffix string   // ".suffix.": the name and everything below
	labels []string // "*" labels match one label each
}

func compilePattern(s string) (pattern, error) {
	if s == "" {
		return pattern{}, fmt.Errorf("a rule needs a name")
	}
	if strings.HasPrefix(s, ".") && len(s) > 1 {
		name := dns.CanonicalName(s[1:])
		if _, ok := dns.IsDomainName(name); !ok {
			return pattern{}, fmt.Errorf("rule name %q: not a domain suffix", s)
		}
		return pattern{suffix: name}, nil
	}
	name := dns.CanonicalName(s)
	if _, ok := dns.IsDomainName(name); !ok {
		return pattern{}, fmt.Errorf("rule name %q: not a domain name or pattern", s)
	}
	if !strings.Contains(name, "*") {
		return pattern{exact: name}, nil
	}
	labels := dns.SplitDomainName(name)
	for _, l := range labels {
		if strings.Contains(l, "*") && l != "*" {
			return pattern{}, fmt.Errorf("rule name %q: \"*\" must be a whole label", s)
		}
	}
	return pattern{labels: labels}, nil
}

func (p pattern) matches(name string) bool {
	switch {
	case p.exact != "":
		return name == p.exact
	case p.suffix != "":
		return dns.IsSubDomain(p.suffix, name)
	}
	labels := dns.SplitDomainName(name)
	if len(labels) != len(p.labels) {
		return false
	}
	for i, l := range p.labels {
		if l != "*" && l != labels[i] {
			return false
		}
	}
	return true
}

// NamePattern compiles a Rule.Name: it reports which names the rule selects.
func NamePattern(s string) (func(name string) bool, error) {
	p, err := compilePattern(s)
	if err != nil {
		return nil, err
	}
	return func(name string) bool { return p.matches(dns.CanonicalName(name)) }, nil
}
