package clients

import (
	"regexp"
	"strings"
)

// ClassifyText names the class of an error an application reported as
// text: one of the classes itself, or the words that Go, Python (botocore,
// urllib3, the socket module), Node (its errno codes, the JS SDK v3's
// @smithy/node-http-handler) and the AWS CLI use for each cause. The first
// rule that matches wins, so the order below matters: a DNS failure that
// mentions a refused connection (Go's resolver could not reach its server)
// is a DNS failure. What no rule places is ClassOther.
func ClassifyText(s string) string {
	if s == "" {
		return ClassOther
	}
	for _, c := range Classes {
		if s == c {
			return c
		}
	}
	l := strings.ToLower(s)
	for _, r := range textRules {
		if r.words.MatchString(l) {
			return r.class
		}
	}
	return ClassOther
}

// textRules are matched against the lowercased text, in order.
var textRules = []struct {
	class string
	words *regexp.Regexp
}{
	// Go: "no such host"; glibc via Python: "[Errno -2] Name or service not
	// known", "[Errno -5] No address associated with hostname"; Node:
	// "getaddrinfo ENOTFOUND host", c-ares "queryA ENOTFOUND host".
	{ClassDNSNotFound, rx(`no such host|nxdomain|name or service not known|enotfound|nodename nor servname|no address associated`)},
	// Go: "server misbehaving"; glibc: "[Errno -3] Temporary failure in
	// name resolution" (EAI_AGAIN: SERVFAIL, or no server answered);
	// Node: "getaddrinfo EAI_AGAIN host", c-ares "ESERVFAIL".
	{ClassDNSServFail, rx(`server misbehaving|servfail|eai_again|temporary failure in name resolution`)},
	// Go: "lookup host on 127.0.0.53:53: ... i/o timeout"; c-ares:
	// "queryA ETIMEOUT host" (not ETIMEDOUT, the socket's errno).
	{ClassDNSTimeout, rx(`lookup .*(timeout|timed out)|\betimeout\b`)},
	// Other resolver failures: Go's "lame referral", urllib3's "Failed to
	// resolve 'host'" without a cause, a c-ares query error.
	{ClassDNSOther, rx(`lame referral|failed to resolve|name resolution|\blookup \S+ on |\bquery(a|aaaa) `)},
	// Go: "connect: connection refused"; Python: "[Errno 111] Connection
	// refused"; Node: "connect ECONNREFUSED 127.0.1.1:443".
	{ClassConnectRefused, rx(`connection refused|econnrefused|errno 111\b`)},
	// botocore's ConnectTimeoutError: "Connect timeout on endpoint URL";
	// the JS SDK's TimeoutError: "the request socket did not establish a
	// connection with the server within the configured timeout"; Node:
	// "connect ETIMEDOUT"; Python: "[Errno 110] Connection timed out"; Go:
	// "dial tcp ...: i/o timeout".
	{ClassConnectTimeout, rx(`connect timeout|connecttimeout|did not establish a connection|connect etimedout|connection timed out|errno 110\b|no tcp connection|dial tcp .*(timeout|timed out)`)},
	// Go: "connection reset by peer", "broken pipe", "EOF"; botocore's
	// ConnectionClosedError: "Connection was closed before we received a
	// valid response"; Node: "ECONNRESET", "socket hang up", "EPIPE";
	// undici: "other side closed".
	{ClassReset, rx(`reset by peer|econnreset|broken pipe|\bepipe\b|connection ?closed|connection was closed|socket hang up|econnaborted|other side closed|\beof\b|errno 104\b`)},
	// DynamoDB's and the SDKs' throttling codes, HTTP 429.
	{ClassThrottled, rx(`throttl|provisionedthroughputexceeded|requestlimitexceeded|toomanyrequests|slowdown|\b429\b`)},
	// Error codes of 5xx answers (botocore: "An error occurred
	// (InternalServerError) when calling ..."; with an unparsable body the
	// code is the status: "An error occurred (503)"), and Go's SDK's
	// "StatusCode: 503". A number alone ("after 500 ms") is not a status.
	{ClassHTTP5xx, rx(`internalservererror|internal server error|internalfailure|serviceunavailable|service unavailable|bad gateway|gateway timeout|statuscode: 5\d\d|status code:? 5\d\d|\bhttp 5\d\d|\(5\d\d\)`)},
	// Go: "context canceled"; the JS SDK: "AbortError: Request aborted".
	{ClassCancelled, rx(`cancel|aborterror|request aborted`)},
	// Whatever timed out after connecting: botocore's ReadTimeoutError
	// ("Read timeout on endpoint URL"), the JS SDK's TimeoutError (a
	// request past requestTimeout, "ETIMEDOUT"; a socket idle too long), Go's
	// "context deadline exceeded", a RequestTimeout error code.
	{ClassTimeout, rx(`timeout|timed out|deadline exceeded|etimedout`)},
	// Left as other, on purpose: botocore's EndpointConnectionError ("Could
	// not connect to the endpoint URL") is raised for a name that did not
	// resolve and for a connection that failed alike, and its message
	// leaves the cause out (when an application appends it, the rules above
	// place it); NoCredentialsError, SSLError (a certificate that failed
	// validation), ProxyConnectionError (a proxy, which faultline's world
	// has none of).
}

func rx(s string) *regexp.Regexp { return regexp.MustCompile(s) }
