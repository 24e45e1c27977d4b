package clients

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Error classes of a failed request, from the error chain.
const (
	ClassDNSNotFound    = "dns-notfound"    // NXDOMAIN, or an authoritative empty answer (Go: "no such host")
	ClassDNSTimeout     = "dns-timeout"     // no DNS answer in time
	ClassDNSServFail    = "dns-servfail"    // SERVFAIL or REFUSED (Go: "server misbehaving")
	ClassDNSOther       = "dns-other"       // any other DNS failure, e.g. a lame referral (empty answer without AA)
	ClassConnectRefused = "connect-refused" // nothing listens at the address
	ClassConnectTimeout = "connect-timeout" // the connection was not established in time
	ClassReset          = "reset"           // the connection was reset or closed under the request
	ClassTimeout        = "timeout"         // the request's deadline passed after connecting
	ClassHTTP5xx        = "http-5xx"        // the server answered with a 5xx
	ClassThrottled      = "throttled"       // DynamoDB throttled the request
	ClassCancelled      = "cancelled"       // the caller cancelled the request
	ClassOther          = "other"
)

// Classes lists every class Classify returns, for reports and tests.
var Classes = []string{ClassDNSNotFound, ClassDNSTimeout, ClassDNSServFail, ClassDNSOther, ClassConnectRefused,
	ClassConnectTimeout, ClassReset, ClassTimeout, ClassHTTP5xx, ClassThrottled, ClassCancelled, ClassOther}

// throttlingCodes are DynamoDB's and the AWS SDKs' throttling error codes.
var throttlingCodes = map[string]bool{"ThrottlingException": true, "ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded": true, "TooManyRequestsException": true, "Throttling": true}

// Classify names the class of a request's error from its chain alone. A
// client refines it with what it saw of each attempt (see attempts.go):
// a bare "context deadline exceeded" says nothing of where time ran out.
func Classify(err error) string {
	if err == nil {
		return ""
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			return ClassDNSNotFound
		case dnsErr.IsTimeout:
			return ClassDNSTimeout
		case strings.Contains(dnsErr.Err, "server misbehaving"):
			return ClassDNSServFail
		}
		return ClassDNSOther
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return ClassConnectRefused
		case op.Timeout() || errors.Is(err, context.DeadlineExceeded):
			return ClassConnectTimeout
		}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && throttlingCodes[ae.ErrorCode()] {
		return ClassThrottled
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return ClassHTTP5xx
	}
	if errors.As(err, &re) && re.HTTPStatusCode() == 429 {
		return ClassThrottled
	}
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), strings.Contains(err.Error(), "connection reset"):
		return ClassReset
	case errors.Is(err, context.Canceled):
		return ClassCancelled
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassConnectRefused
	}
	return ClassOther
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// describe is the informative end of an SDK error chain. The SDK's message
// leads with "operation error DynamoDB: GetItem, https response error
// StatusCode: 0, RequestID: , request send failed, Post ..." and the cause
// comes last; a journal line needs the cause. dnsServer replaces the server
// Go names in a DNS error: Go names the one in /etc/resolv.conf, but the
// client's resolver dials faultline's.
func describe(err error, dnsServer string) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		d := *dnsErr
		if d.Server != "" && dnsServer != "" {
			d.Server = dnsServer
		}
		return d.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Error()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			return fmt.Sprintf("HTTP %d %s: %s", re.HTTPStatusCode(), ae.ErrorCode(), ae.ErrorMessage())
		}
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}

// keepTail shortens s to at most n bytes by dropping its head, on a rune
// boundary: in an error message the cause comes last.
func keepTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := len(s) - n + len("…")
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return "…" + s[cut:]
}
