package clients

import "testing"

// The words Go, Python (botocore), Node and the AWS CLI use for each cause.
func TestClassifyText(t *testing.T) {
	cases := map[string]string{
		"dns-notfound": ClassDNSNotFound,
		"dial tcp: lookup dynamodb.us-east-1.amazonaws.com on 127.0.99.53:53: no such host":           ClassDNSNotFound,
		"Could not connect to the endpoint URL: ... [Errno -2] Name or service not known":             ClassDNSNotFound,
		"getaddrinfo ENOTFOUND dynamodb.us-east-1.amazonaws.com":                                      ClassDNSNotFound,
		"lookup dynamodb.us-east-1.amazonaws.com: server misbehaving":                                 ClassDNSServFail,
		"getaddrinfo EAI_AGAIN dynamodb.us-east-1.amazonaws.com":                                      ClassDNSServFail,
		"lookup dynamodb.us-east-1.amazonaws.com on 127.0.99.53:53: read udp: i/o timeout":            ClassDNSTimeout,
		"connect ECONNREFUSED 127.0.1.1:443":                                                          ClassConnectRefused,
		"Connect timeout on endpoint URL":                                                             ClassConnectTimeout,
		"read: connection reset by peer":                                                              ClassReset,
		"ProvisionedThroughputExceededException: rate exceeded":                                       ClassThrottled,
		"operation error DynamoDB: GetItem, https response error StatusCode: 503, ServiceUnavailable": ClassHTTP5xx,
		"Read timeout on endpoint URL":                                                                ClassTimeout,
		"something odd":                                                                               ClassOther,
		"":                                                                                            ClassOther,
	}
	for text, want := range cases {
		if got := ClassifyText(text); got != want {
			t.Errorf("ClassifyText(%q) = %s; want %s", text, got, want)
		}
	}
}
