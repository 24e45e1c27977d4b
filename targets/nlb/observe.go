package nlb

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// exchange reads the HTTP/1.1 requests and responses of one TLS-terminated
// connection from copies of its two streams and reports each exchange. It
// never holds the proxy up: a stream it cannot parse is drained.
type exchange struct {
	lb                   *LB
	node, target, client string
	local                string // where the connection arrived
	reqW, respW          *io.PipeWriter
	pending              chan pendingRequest
	wg                   sync.WaitGroup
}

type pendingRequest struct {
	op    string
	start time.Time
}

// maxPipelined bounds requests sent ahead of their responses.
const maxPipelined = 64

func (lb *LB) observeHTTP(node, target, client, local string) *exchange {
	reqR, reqW := io.Pipe()
	respR, respW := io.Pipe()
	ex := &exchange{lb: lb, node: node, target: target, client: client, local: local, reqW: reqW, respW: respW,
		pending: make(chan pendingRequest, maxPipelined)}
	ex.wg.Add(2)
	go ex.readRequests(reqR)
	go ex.readResponses(respR)
	return ex
}

// requests is the client's stream, copied to the request reader.
func (ex *exchange) requests(r io.Reader) io.Reader { return io.TeeReader(r, ex.reqW) }

// responsesTo writes the target's stream to the client, w, and copies what
// reached it to the response reader: after the data link's toxics, so a
// response they hold or drop is one the client did not get.
func (ex *exchange) responsesTo(w io.Writer) io.Writer { return teeWriter{w, ex.respW} }

type teeWriter struct{ w, copy io.Writer }

func (t teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if n > 0 {
		t.copy.Write(p[:n]) // the reader drains whatever it cannot parse
	}
	return n, err
}

func (ex *exchange) readRequests(r *io.PipeReader) {
	defer ex.wg.Done()
	defer close(ex.pending)
	br := bufio.NewReader(r)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			io.Copy(io.Discard, br)
			return
		}
		op := req.Method + " " + req.URL.Path
		if target := req.Header.Get("X-Amz-Target"); target != "" {
			op = target[strings.LastIndex(target, ".")+1:] // DynamoDB_20120810.GetItem → GetItem
		}
		p := pendingRequest{op: op, start: time.Now()}
		io.Copy(io.Discard, req.Body)
		select {
		case ex.pending <- p:
		default: // more pipelined than anyone sends: stop pairing
			io.Copy(io.Discard, br)
			return
		}
	}
}

func (ex *exchange) readResponses(r *io.PipeReader) {
	defer ex.wg.Done()
	br := bufio.NewReader(r)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			io.Copy(io.Discard, br)
			return
		}
		p, ok := <-ex.pending
		io.Copy(io.Discard, resp.Body)
		if !ok {
			continue
		}
		ex.emit(p, resp.StatusCode < 500, fmt.Sprintf("%s %d", p.op, resp.StatusCode))
	}
}

// close ends the readers once the connection is done, and reports the
// requests that got no response.
func (ex *exchange) close() {
	ex.reqW.Close()
	ex.respW.Close()
	ex.wg.Wait()
	for p := range ex.pending {
		ex.emit(p, false, p.op+": the connection closed before a response")
	}
}

func (ex *exchange) emit(p pendingRequest, ok bool, detail string) {
	ex.lb.emit(Event{Kind: "http.request", Node: ex.node, Target: ex.target, Client: ex.client, Local: ex.local, OK: ok, Op: p.op,
		Started: p.start, Detail: detail})
}

// listenTLS binds a node's TLS listener.
func (lb *LB) listenTLS(addr string) (*nodeListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("nlb %s: TLS listener: %w", lb.cfg.Region, err)
	}
	return newNodeListener(ln.(*net.TCPListener), tls.NewListener(ln, lb.cfg.TLS)), nil
}
