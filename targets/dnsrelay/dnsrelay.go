// Package dnsrelay puts faultline's DNS server where a stock resolver looks
// for one: on port 53 of an address of its own. /etc/resolv.conf (and
// Docker's --dns) name an address but no port, and faultline's servers listen
// on ports the kernel picks. The relay forwards every query, over the
// protocol it came on, from a source address of its own, so the server's
// journal attributes the queries to the applications behind the relay.
//
// A query the upstream does not answer is not answered either: a fault that
// drops queries reaches the application as the timeout it is.
package dnsrelay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/faultline-dev/faultline/targets/netbind"
)

// Config of a relay.
type Config struct {
	Addr     string // "127.0.99.53:53"
	Upstream string // faultline's DNS server (or its resolver), "127.0.0.1:PORT"
	Source   string // the source IP of forwarded queries, "127.0.99.54"; "" for any
	Timeout  time.Duration
	// Rewrite maps IPv4 addresses in the answers' A records to others
	// (see rewrite.go); addresses it does not list pass unchanged.
	Rewrite map[string]string
}

// Relay forwards DNS queries, over UDP and TCP on one address.
type Relay struct {
	cfg     Config
	udp     *dns.Server
	tcp     *dns.Server
	clients map[string]*dns.Client
	rw      map[[4]byte]net.IP
	once    sync.Once
	err     error
}

// Start binds UDP and TCP on cfg.Addr and serves until Close.
func Start(cfg Config) (*Relay, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if _, _, err := net.SplitHostPort(cfg.Upstream); err != nil {
		return nil, fmt.Errorf("dns relay: upstream %q: %w", cfg.Upstream, err)
	}
	var src net.IP
	if cfg.Source != "" {
		if src = net.ParseIP(cfg.Source); src == nil {
			return nil, fmt.Errorf("dns relay: source %q: not an IP address", cfg.Source)
		}
	}
	rw, err := parseRewrite(cfg.Rewrite)
	if err != nil {
		return nil, err
	}
	r := &Relay{cfg: cfg, rw: rw, clients: map[string]*dns.Client{
		"udp": {Net: "udp", Timeout: cfg.Timeout, Dialer: &net.Dialer{Timeout: cfg.Timeout, LocalAddr: &net.UDPAddr{IP: src}}},
		"tcp": {Net: "tcp", Timeout: cfg.Timeout, Dialer: &net.Dialer{Timeout: cfg.Timeout, LocalAddr: &net.TCPAddr{IP: src}}},
	}}
	pc, ln, err := netbind.UDPAndTCP(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dns relay: %w%s", err, privilegeHint(err))
	}
	r.udp = &dns.Server{PacketConn: pc, Handler: r.handler("udp")}
	r.tcp = &dns.Server{Listener: ln, Handler: r.handler("tcp")}
	started := make(chan error, 2)
	for _, s := range []*dns.Server{r.udp, r.tcp} {
		s.NotifyStartedFunc = func() { started <- nil }
		go func() {
			if err := s.ActivateAndServe(); err != nil {
				started <- err
			}
		}()
	}
	for range 2 {
		if err := <-started; err != nil {
			r.Close()
			return nil, fmt.Errorf("dns relay: %w", err)
		}
	}
	return r, nil
}

// privilegeHint says why binding port 53 failed, when it is for want of
// privileges.
func privilegeHint(err error) string {
	if errors.Is(err, syscall.EACCES) {
		return " (port 53 needs root or CAP_NET_BIND_SERVICE)"
	}
	return ""
}

// Addr is the relay's address, "ip:port".
func (r *Relay) Addr() string { return r.udp.PacketConn.LocalAddr().String() }

func (r *Relay) handler(proto string) dns.HandlerFunc {
	c := r.clients[proto]
	return func(w dns.ResponseWriter, q *dns.Msg) {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
		defer cancel()
		resp, _, err := c.ExchangeContext(ctx, q, r.cfg.Upstream)
		if err != nil {
			return // the upstream did not answer; nor does the relay
		}
		r.rewrite(resp)
		if proto == "udp" {
			// The upstream sized its answer for the client's EDNS buffer;
			// keep it within, as a resolver would.
			size := dns.MinMsgSize
			if opt := q.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			resp.Truncate(size)
		}
		w.WriteMsg(resp)
	}
}

// Close stops both listeners. It is idempotent.
func (r *Relay) Close() error {
	r.once.Do(func() {
		var errs []error
		for _, s := range []*dns.Server{r.udp, r.tcp} {
			if s != nil {
				if err := s.Shutdown(); err != nil && !errors.Is(err, net.ErrClosed) {
					errs = append(errs, err)
				}
			}
		}
		r.err = errors.Join(errs...)
	})
	return r.err
}
