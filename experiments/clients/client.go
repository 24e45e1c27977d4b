// Package clients holds faultline's reference clients: DynamoDB clients on
// aws-sdk-go-v2 that keep the real hostnames (dynamodb.<region>.amazonaws.com)
// but resolve them through faultline's DNS server, send requests at a fixed
// rate and journal every one. README.md describes the strategies.
package clients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/experiments/journal"
)

// Strategies.
const (
	SingleRegion = "single-region" // every request to the primary, the SDK's standard retries
	Failover     = "failover"      // switch region after a failure, probe the primary, fail back
)

// Config of one client.
type Config struct {
	Name, Strategy string
	Regions        []string          // first is primary
	Endpoints      map[string]string // region → "http://dynamodb.<region>.amazonaws.com:PORT"
	DNSServer      string            // faultline's DNS server, "127.0.0.1:PORT"
	SourceIP       string            // the client's own loopback address for DNS and data
	Rate           float64           // requests per second
	Operations     []string          // GetItem, PutItem: in turn
	Timeout        time.Duration     // per SDK call
	KeepAlive      bool              // false: a new connection, and so a DNS lookup, per request
	ProbeInterval  time.Duration     // failover: how often to try the primary while away from it
	Table          string
	Items          int
	Record         func(journal.Event) // every event; called concurrently
	Now            func() float64      // journal clock in ms
}

// maxInFlight bounds concurrent requests of one client. Requests start on a
// fixed schedule whether or not earlier ones finished, so a slow fault shows
// as slow or failed requests rather than as fewer requests (no coordinated
// omission); only past this bound does the schedule wait.
const maxInFlight = 256

// Validate checks a config before anything starts.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("client: no name")
	case c.Strategy != SingleRegion && c.Strategy != Failover:
		return fmt.Errorf("client %s: unknown strategy %q", c.Name, c.Strategy)
	case len(c.Regions) == 0:
		return fmt.Errorf("client %s: no regions", c.Name)
	case c.Strategy == Failover && len(c.Regions) < 2:
		return fmt.Errorf("client %s: failover needs two regions or more", c.Name)
	case c.Rate <= 0 || c.Timeout <= 0 || c.Items <= 0 || c.Table == "":
		return fmt.Errorf("client %s: rate, timeout, table and items must be set", c.Name)
	case c.Record == nil || c.Now == nil:
		return fmt.Errorf("client %s: no journal", c.Name)
	case net.ParseIP(c.SourceIP) == nil || !net.ParseIP(c.SourceIP).IsLoopback():
		return fmt.Errorf("client %s: source address %q is not a loopback address", c.Name, c.SourceIP)
	}
	for _, r := range c.Regions {
		if c.Endpoints[r] == "" {
			return fmt.Errorf("client %s: no endpoint for region %s", c.Name, r)
		}
	}
	for _, op := range c.Operations {
		if op != "GetItem" && op != "PutItem" {
			return fmt.Errorf("client %s: unknown operation %q", c.Name, op)
		}
	}
	if c.Strategy == Failover && c.ProbeInterval <= 0 {
		return fmt.Errorf("client %s: failover needs a probe interval", c.Name)
	}
	return nil
}

type client struct {
	cfg     Config
	sdk     map[string]*dynamodb.Client
	current atomic.Int32 // index into cfg.Regions of the region requests go to
	http    *awshttp.BuildableClient
}

// Run sends requests until ctx ends, then waits for the requests in flight
// (each bounded by Timeout) so that every one is journaled with its outcome.
// The caller journals the client's start (StartEvent), in its own order.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(cfg.Operations) == 0 {
		cfg.Operations = []string{"GetItem"}
	}
	c := &client{cfg: cfg, sdk: map[string]*dynamodb.Client{}}
	c.http = c.httpClient()
	for _, r := range cfg.Regions {
		c.sdk[r] = c.sdkClient(r)
	}
	defer c.http.GetTransport().CloseIdleConnections()

	var wg sync.WaitGroup
	if cfg.Strategy == Failover {
		wg.Add(1)
		go func() { defer wg.Done(); c.probeLoop(ctx) }()
	}
	sem := make(chan struct{}, maxInFlight)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		timer.Reset(time.Until(start.Add(time.Duration(i) * interval)))
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-timer.C:
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c.request(i)
		}(i)
	}
}

// StartEvent is the client.start event that tells metrics who the client is:
// its strategy, primary region and source address.
func (c Config) StartEvent() journal.Event {
	return journal.Event{Type: journal.ClientStart, Client: c.Name, Strategy: c.Strategy, Region: c.Regions[0], Addr: c.SourceIP}
}

// httpClient dials from the client's source address and resolves through
// faultline's DNS server, also from that address, so the server's journal can
// tell this client's queries apart.
func (c *client) httpClient() *awshttp.BuildableClient {
	src := net.ParseIP(c.cfg.SourceIP)
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{}
		if network == "udp" || network == "udp4" || network == "udp6" {
			d.LocalAddr = &net.UDPAddr{IP: src}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: src}
		}
		return d.DialContext(ctx, network, c.cfg.DNSServer)
	}}
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) {
			d.Resolver = resolver
			d.LocalAddr = &net.TCPAddr{IP: src}
			d.Timeout = c.cfg.Timeout
		}).
		WithTransportOptions(func(t *http.Transport) {
			t.DisableKeepAlives = !c.cfg.KeepAlive
			t.MaxIdleConnsPerHost = 16
			t.IdleConnTimeout = 90 * time.Second
		})
}

func (c *client) sdkClient(region string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:                region,
		BaseEndpoint:          aws.String(c.cfg.Endpoints[region]),
		Credentials:           credentials.NewStaticCredentialsProvider("faultline", "faultline", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled,
		HTTPClient:            ownBody{c.http},
		Retryer:               c.retryer(),
	})
}

// retryer: the single-region client keeps the SDK's standard retryer (3
// attempts), as an application that changed nothing would; the failover
// client fails fast (1 attempt), because its failover is the retry.
func (c *client) retryer() aws.Retryer {
	if c.cfg.Strategy == Failover {
		return retry.AddWithMaxAttempts(retry.NewStandard(), 1)
	}
	return retry.NewStandard()
}

func (c *client) request(i int) {
	idx := int(c.current.Load())
	region := c.cfg.Regions[idx]
	op := c.cfg.Operations[i%len(c.cfg.Operations)]
	err := c.send(region, op, i)
	if err != nil && c.cfg.Strategy == Failover {
		// Move on to the next region, unless another request already did.
		c.current.CompareAndSwap(int32(idx), int32((idx+1)%len(c.cfg.Regions)))
	}
}

// probeLoop tries the primary every ProbeInterval while the client is away
// from it, and fails back once the primary answers.
func (c *client) probeLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.ProbeInterval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.current.Load() == 0 {
			continue
		}
		if c.sendProbe(i) == nil {
			c.current.Store(0)
		}
	}
}

func (c *client) send(region, op string, i int) error {
	return c.do(region, op, i, false)
}

func (c *client) sendProbe(i int) error {
	return c.do(c.cfg.Regions[0], "GetItem", i, true)
}

// do sends one request and journals it. Requests are not tied to the run's
// context: one in flight when the run stops finishes within its timeout.
func (c *client) do(region, op string, i int, probe bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("item-%04d", i%c.cfg.Items)}}
	t0 := c.cfg.Now()
	began := time.Now()
	var err error
	switch op {
	case "PutItem":
		key["v"] = &types.AttributeValueMemberN{Value: strconv.Itoa(i)}
		key["writer"] = &types.AttributeValueMemberS{Value: c.cfg.Name}
		_, err = c.sdk[region].PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(c.cfg.Table), Item: key})
	default:
		_, err = c.sdk[region].GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.cfg.Table), Key: key})
	}
	ev := journal.Event{T: t0, Type: journal.Request, Client: c.cfg.Name, Region: region, Op: op, Probe: probe,
		LatencyMS: float64(time.Since(began).Microseconds()) / 1000, OK: journal.Bool(err == nil)}
	if err != nil {
		ev.Error = Classify(err)
		ev.Detail = truncate(err.Error(), 200)
	}
	c.cfg.Record(ev)
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
