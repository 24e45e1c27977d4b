package clients

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

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
	ClassCancelled      = "cancelled"       // the run stopped under the request
	ClassOther          = "other"
)

var throttlingCodes = map[string]bool{"ThrottlingException": true, "ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded": true, "TooManyRequestsException": true}

// Classify names the class of a request's error.
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
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), strings.Contains(err.Error(), "connection reset"):
		return ClassReset
	case errors.Is(err, context.Canceled):
		return ClassCancelled
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return ClassTimeout
	case errors.As(err, &op) && errors.Is(err, syscall.ECONNREFUSED):
		return ClassConnectRefused
	}
	return ClassOther
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
