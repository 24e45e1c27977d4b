package clients

import (
	"bytes"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// ownBody hands net/http a request body of its own.
//
// smithy-go gives net/http a body that reports io.EOF from WriteTo once the
// SDK has closed it, and the SDK closes it as soon as the operation returns.
// On loopback the response can arrive before the transport's write loop has
// finished with the body; the write loop then sees that io.EOF as a write
// error and closes the connection instead of pooling it. Over a real network
// this race is rare; here it would make keep-alive clients re-dial (and so
// re-resolve) every few requests, which is not how they behave in production.
// Copying the small DynamoDB request body takes the race away.
type ownBody struct{ next aws.HTTPClient }

// maxOwnedBody bounds what is copied; larger bodies pass through untouched.
const maxOwnedBody = 1 << 20

func (c ownBody) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody && req.ContentLength >= 0 && req.ContentLength <= maxOwnedBody {
		data, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(data))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	}
	return c.next.Do(req)
}
