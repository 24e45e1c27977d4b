package links

import "github.com/Shopify/toxiproxy/v2/toxics"

// cutToxic is the toxic that takes a link down (see Link.Down): it closes
// its stream as soon as it runs — at once for every connection the link
// carries when it is added, idle or not, and at the start of each new one —
// and then discards whatever still arrives until the stream's input ends.
//
// Toxiproxy's own closing toxics (timeout with a timeout, reset_peer,
// limit_data) stop reading when they close; the stub in front of them then
// blocks for ever on the next chunk, and the goroutines of the connection
// with it. A client writes its request in several chunks, so a link taken
// down with them leaks; this one keeps reading until the input closes.
type cutToxic struct{}

// cutType is its name in toxiproxy's registry: not one of ToxicTypes, so
// no fault can ask for it.
const cutType = "faultline_cut"

func init() { toxics.Register(cutType, new(cutToxic)) }

func (*cutToxic) Pipe(stub *toxics.ToxicStub) {
	stub.Close()
	for range stub.Input {
		// Discard until the stub in front closes the input: the
		// connection's other stream closed the socket it reads from.
	}
}
