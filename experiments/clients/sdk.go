package clients

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// httpClient is the SDK's own HTTP transport, changed only where faultline
// must: it resolves through faultline's DNS server and binds the client's
// source address, for its DNS queries as for its connections, so the DNS
// server's journal can tell this client's queries apart.
//
// The transport is taken out of the SDK's BuildableClient (which keeps its
// own, unreachable, copy) so that the client can close its idle connections
// when it stops; like the SDK's client, it follows no redirects.
func (c *client) httpClient() (*http.Client, *http.Transport) {
	src := net.ParseIP(c.cfg.SourceIP)
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{}
		if strings.HasPrefix(network, "udp") {
			d.LocalAddr = &net.UDPAddr{IP: src}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: src}
		}
		return d.DialContext(ctx, network, c.cfg.DNSServer)
	}}
	dialer := &net.Dialer{Resolver: resolver, LocalAddr: &net.TCPAddr{IP: src}, Timeout: c.cfg.Timeout, KeepAlive: 30 * time.Second}
	tr := awshttp.NewBuildableClient().
		WithTransportOptions(func(t *http.Transport) {
			// Rooted names: Go's resolver then skips the search list of the
			// host's /etc/resolv.conf, whose extra queries (and their
			// answers, out of faultline's zones) would change the outcome.
			t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, rooted(addr))
			}
			t.Proxy = nil // never send loopback traffic to an HTTP proxy from the environment
			t.DisableKeepAlives = !c.cfg.KeepAlive
			t.MaxIdleConnsPerHost = 16
			t.IdleConnTimeout = 90 * time.Second
		}).GetTransport()
	noRedirects := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &http.Client{Transport: tr, CheckRedirect: noRedirects}, tr
}

// rooted adds the root dot to a host name ("a.b:80" → "a.b.:80"); IP
// addresses and rooted names stay as they are.
func rooted(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || strings.HasSuffix(host, ".") || net.ParseIP(host) != nil {
		return addr
	}
	return net.JoinHostPort(host+".", port)
}

// sdkClient talks to one region's endpoint as an application would: the real
// hostname in BaseEndpoint (so the Host header is the real one), dummy static
// credentials, account-ID endpoints off (or the SDK may rewrite the host to
// ACCOUNT.ddb.REGION.amazonaws.com).
func (c *client) sdkClient(region string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:                region,
		BaseEndpoint:          aws.String(c.cfg.Endpoints[region]),
		Credentials:           credentials.NewStaticCredentialsProvider("faultline", "faultline", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled,
		HTTPClient:            ownBody{c.http},
		Retryer:               c.retryer(),
		APIOptions:            []func(*middleware.Stack) error{addAttemptMiddleware},
	})
}

// retryer: the single-region client keeps the SDK's standard retryer (3
// attempts, jittered exponential back-off, a retry quota), as an application
// that changed nothing would; the failover client fails fast (1 attempt),
// because its failover is the retry.
func (c *client) retryer() aws.Retryer {
	if c.cfg.Strategy == Failover {
		return retry.AddWithMaxAttempts(retry.NewStandard(), 1)
	}
	return retry.NewStandard()
}
