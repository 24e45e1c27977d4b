package clients

import "testing"

// The texts Go, Python (botocore, urllib3, glibc through the socket module),
// Node and the JS SDK v3 (as experiments/sdkapps/node_app.js prints them:
// "name: code message") and the AWS CLI give for each cause. botocore's come
// from botocore/exceptions.py (fmt strings) and ClientError's template; the
// JS SDK's from @smithy/node-http-handler (set-connection-timeout.ts,
// set-request-timeout.ts, set-socket-timeout.ts, build-abort-error.ts).
func TestClassifyText(t *testing.T) {
	const url = `"http://dynamodb.us-east-1.amazonaws.com:8000/"`
	cases := []struct {
		text, want string
	}{
		// faultline's own class names pass as they are.
		{"dns-notfound", ClassDNSNotFound},
		{"connect-timeout", ClassConnectTimeout},

		// Go.
		{"dial tcp: lookup dynamodb.us-east-1.amazonaws.com on 127.0.99.53:53: no such host", ClassDNSNotFound},
		{"lookup dynamodb.us-east-1.amazonaws.com: server misbehaving", ClassDNSServFail},
		{"lookup dynamodb.us-east-1.amazonaws.com on 127.0.99.53:53: read udp 127.0.0.1:5353->127.0.99.53:53: i/o timeout", ClassDNSTimeout},
		{"lookup dynamodb.us-east-1.amazonaws.com on 127.0.99.53:53: lame referral", ClassDNSOther},
		{"dial tcp: lookup dynamodb.us-east-1.amazonaws.com on 127.0.99.53:53: read udp 127.0.0.1:40000->127.0.99.53:53: read: connection refused", ClassDNSOther},
		{"dial tcp 127.0.1.1:8000: connect: connection refused", ClassConnectRefused},
		{"dial tcp 127.0.1.1:8000: i/o timeout", ClassConnectTimeout},
		{"read tcp 127.0.0.11:40000->127.0.1.1:8000: read: connection reset by peer", ClassReset},
		{"unexpected EOF", ClassReset},
		{"operation error DynamoDB: GetItem, https response error StatusCode: 503, RequestID: x, api error ServiceUnavailable", ClassHTTP5xx},
		{"context deadline exceeded", ClassTimeout},
		{"context canceled", ClassCancelled},

		// botocore (boto3, the AWS CLI): "ExceptionName: message".
		{"EndpointConnectionError: Could not connect to the endpoint URL: " + url, ClassOther}, // DNS or connect: the text does not say
		{"Could not connect to the endpoint URL: " + url, ClassOther},                          // the AWS CLI's line
		{"EndpointConnectionError: Could not connect to the endpoint URL: " + url + " ([Errno -2] Name or service not known)", ClassDNSNotFound},
		{"EndpointConnectionError: Could not connect to the endpoint URL: " + url + " (Failed to resolve 'dynamodb.us-east-1.amazonaws.com' ([Errno -3] Temporary failure in name resolution))", ClassDNSServFail},
		{"EndpointConnectionError: Could not connect to the endpoint URL: " + url + " (<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused)", ClassConnectRefused},
		{"ConnectTimeoutError: Connect timeout on endpoint URL: " + url, ClassConnectTimeout},
		{"ReadTimeoutError: Read timeout on endpoint URL: " + url, ClassTimeout},
		{"ConnectionClosedError: Connection was closed before we received a valid response from endpoint URL: " + url + ".", ClassReset},
		{"ProxyConnectionError: Failed to connect to proxy URL: \"http://proxy.internal:3128\"", ClassOther},
		{"SSLError: SSL validation failed for https://dynamodb.us-east-1.amazonaws.com/ [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)", ClassOther},
		{"NoCredentialsError: Unable to locate credentials", ClassOther},
		{"ClientError: An error occurred (ThrottlingException) when calling the GetItem operation (reached max retries: 4): Rate of requests exceeds the allowed throughput.", ClassThrottled},
		{"ProvisionedThroughputExceededException: An error occurred (ProvisionedThroughputExceededException) when calling the PutItem operation (reached max retries: 9): The level of configured provisioned throughput for the table was exceeded.", ClassThrottled},
		{"ClientError: An error occurred (InternalServerError) when calling the GetItem operation (reached max retries: 4): Internal server error", ClassHTTP5xx},
		{"ClientError: An error occurred (503) when calling the GetItem operation (reached max retries: 4): Service Unavailable", ClassHTTP5xx},
		{"ClientError: An error occurred (RequestTimeout) when calling the GetItem operation: Your socket connection to the server was not read from or written to within the timeout period.", ClassTimeout},

		// Node and the JS SDK v3.
		{"Error: ENOTFOUND getaddrinfo ENOTFOUND dynamodb.us-east-1.amazonaws.com", ClassDNSNotFound},
		{"Error: EAI_AGAIN getaddrinfo EAI_AGAIN dynamodb.us-east-1.amazonaws.com", ClassDNSServFail},
		{"Error: ETIMEOUT queryA ETIMEOUT dynamodb.us-east-1.amazonaws.com", ClassDNSTimeout},
		{"Error: ECONNREFUSED connect ECONNREFUSED 127.0.1.1:8000", ClassConnectRefused},
		{"Error: ECONNRESET read ECONNRESET", ClassReset},
		{"Error: ECONNRESET socket hang up", ClassReset},
		{"Error: EPIPE write EPIPE", ClassReset},
		{"Error: ETIMEDOUT connect ETIMEDOUT 127.0.1.1:8000", ClassConnectTimeout},
		{"TimeoutError:  @smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 1000 ms.", ClassConnectTimeout},
		{"TimeoutError: ETIMEDOUT @smithy/node-http-handler - [ERROR] a request has exceeded the configured 1000 ms requestTimeout.", ClassTimeout},
		{"TimeoutError:  @smithy/node-http-handler - the request socket timed out after 500 ms of inactivity (configured by client requestHandler).", ClassTimeout}, // "500" is not a status
		{"ThrottlingException:  Rate exceeded", ClassThrottled},
		{"ProvisionedThroughputExceededException:  The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.", ClassThrottled},
		{"InternalServerError:  Internal server error", ClassHTTP5xx},
		{"ServiceUnavailable:  Service Unavailable", ClassHTTP5xx},
		{"RequestTimeout:  Your socket connection to the server was not read from or written to within the timeout period.", ClassTimeout},
		{"AbortError:  Request aborted", ClassCancelled},

		{"something odd", ClassOther},
		{"item-0429 not found", ClassOther}, // a number in a key is no HTTP 429
		{"", ClassOther},
	}
	for _, c := range cases {
		if got := ClassifyText(c.text); got != c.want {
			t.Errorf("ClassifyText(%q) = %s; want %s", c.text, got, c.want)
		}
	}
}
