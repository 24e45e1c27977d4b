package realclients

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/targets/dnscache"
)

// The answers to the letter of the RFCs, as dig sees them over UDP and TCP,
// from the authoritative server and from the caching resolver in front of it.
func TestDigRFCAnswers(t *testing.T) {
	need(t, "dig")
	s := server(t, "127.0.0.1:0")
	res, err := dnscache.Start(dnscache.Config{Addr: "127.0.0.2:0", Upstream: s.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	cases := []struct {
		name string
		args []string
		want []string // all in dig's output
		not  []string // none in it
	}{
		// RFC 3225 §3: the DO bit is copied into the answer.
		{"DO bit", []string{"+dnssec", endpoint, "A"}, []string{"status: NOERROR", "flags: do;"}, nil},
		// RFC 6891 §6.1.3: an EDNS version the server does not speak gets BADVERS, with version 0.
		{"EDNS version 1", []string{"+edns=1", "+noednsnegotiation", endpoint, "A"}, []string{"status: BADVERS", "EDNS: version: 0"}, nil},
		// RFC 8482 §4: ANY for a name with records is not an empty answer.
		{"ANY", []string{endpoint, "ANY"}, []string{"status: NOERROR", "ANSWER: 2,"}, []string{"ANSWER: 0,"}},
	}
	for _, who := range []struct{ name, addr string }{{"server", s.Addr()}, {"resolver", res.Addr()}} {
		host, port, _ := net.SplitHostPort(who.addr)
		for _, c := range cases {
			for _, proto := range []string{"+notcp", "+tcp"} {
				args := append([]string{"@" + host, "-p", port, proto, "+time=2", "+tries=1"}, c.args...)
				out, err := exec.Command("dig", args...).CombinedOutput()
				text := string(out)
				if err != nil {
					t.Fatalf("%s %s %s: dig: %v\n%s", who.name, c.name, proto, err, text)
				}
				for _, w := range c.want {
					if !strings.Contains(text, w) {
						t.Errorf("%s, %s over %s: want %q in\n%s", who.name, c.name, proto, w, text)
					}
				}
				for _, n := range c.not {
					if strings.Contains(text, n) {
						t.Errorf("%s, %s over %s: did not want %q in\n%s", who.name, c.name, proto, n, text)
					}
				}
				// RFC 1035 §4.1.1: RD is copied into the response; the
				// resolver says recursion is available.
				f := flags(text)
				if !strings.Contains(f, " rd") {
					t.Errorf("%s, %s over %s: the answer dropped RD (%s)", who.name, c.name, proto, f)
				}
				if who.name == "resolver" && !strings.Contains(f, " ra") {
					t.Errorf("resolver, %s over %s: no RA (%s)", c.name, proto, f)
				}
			}
		}
	}
}
