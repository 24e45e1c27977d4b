// Package embedded is faultline's in-process DynamoDB: an HTTP server on
// loopback speaking the DynamoDB JSON 1.0 protocol (X-Amz-Target:
// DynamoDB_20120810.*) well enough for aws-sdk-go-v2 and the other official
// SDKs, in memory, one instance per region. README.md lists what it supports.
package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Option configures Run.
type Option func(*config)

type config struct {
	addrs      []string
	region     string
	observer   func(RequestEvent)
	bodyBudget int64
	wrap       func(http.Handler) http.Handler
	writes     func(Write)
	now        func() time.Time
}

// WithAddr serves on one address (default 127.0.0.1:0).
func WithAddr(addr string) Option { return func(c *config) { c.addrs = []string{addr} } }

// WithAddrs serves one store on several addresses: each is a target of the
// region's load balancer, as instances behind an NLB are, sharing one table
// store as they would share DynamoDB.
func WithAddrs(addrs ...string) Option { return func(c *config) { c.addrs = addrs } }

// WithRegion is the region named in table ARNs (default us-east-1).
func WithRegion(region string) Option { return func(c *config) { c.region = region } }

// WithObserver sees every request the backend answers.
func WithObserver(f func(RequestEvent)) Option { return func(c *config) { c.observer = f } }

// WithHandler puts a handler in front of the backend on its listeners: wrap
// gets the backend's own handler and returns what serves instead (a layer
// that intercepts some requests, such as the multi-Region strong
// consistency of targets/dynamodb/mrsc, and passes the rest on).
func WithHandler(wrap func(http.Handler) http.Handler) Option {
	return func(c *config) { c.wrap = wrap }
}

// RequestEvent is one request as the backend answered it.
type RequestEvent struct {
	Time      time.Time
	Operation string
	Status    int
	ErrorType string // the __type's short name, "" on success
	Latency   time.Duration
}

// Server is a running embedded backend.
type Server struct {
	cfg       config
	listeners []net.Listener
	http      *http.Server
	db        *db
	budget    *budget
	requestID atomic.Uint64
	wg        sync.WaitGroup
	once      sync.Once
	termErr   error
}

// maxBody bounds a request (DynamoDB's own limit for a request is 16 MB).
const maxBody = 16 << 20

// Run starts a backend and returns once it accepts connections.
func Run(ctx context.Context, opts ...Option) (*Server, error) {
	cfg := config{addrs: []string{"127.0.0.1:0"}, region: "us-east-1", bodyBudget: DefaultBodyBudget}
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.addrs) == 0 {
		return nil, errors.New("embedded dynamodb: no address to serve on")
	}
	if cfg.bodyBudget <= 0 {
		return nil, errors.New("embedded dynamodb: the body budget must be positive")
	}
	s := &Server{cfg: cfg, db: newDB(cfg.region), budget: newBudget(cfg.bodyBudget)}
	s.db.writes = cfg.writes
	if cfg.now != nil {
		s.db.now = cfg.now
	}
	var lc net.ListenConfig
	for _, a := range cfg.addrs {
		ln, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			for _, l := range s.listeners {
				l.Close()
			}
			return nil, fmt.Errorf("embedded dynamodb: %w", err)
		}
		s.listeners = append(s.listeners, ln)
	}
	var h http.Handler = s
	if cfg.wrap != nil {
		h = cfg.wrap(s)
	}
	s.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second}
	for _, ln := range s.listeners {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.http.Serve(ln)
		}()
	}
	return s, nil
}

// Endpoint is the URL of the first address.
func (s *Server) Endpoint() string { return "http://" + s.Addr() }

// Addr is the first "ip:port".
func (s *Server) Addr() string { return s.listeners[0].Addr().String() }

// Addrs are every "ip:port" served.
func (s *Server) Addrs() []string {
	var out []string
	for _, l := range s.listeners {
		out = append(out, l.Addr().String())
	}
	return out
}

// Terminate stops serving and drops the data. It is idempotent.
func (s *Server) Terminate(ctx context.Context) error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := s.http.Shutdown(ctx)
		if err != nil {
			s.http.Close()
		}
		s.wg.Wait()
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil // in-flight requests were cut: that is what Terminate means
		}
		s.termErr = err
	})
	return s.termErr
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		// DynamoDB answers a GET of / with a health line; load-balancer
		// health checks use it.
		s.write(w, http.StatusOK, "text/plain", []byte("healthy: dynamodb."+s.cfg.region+".amazonaws.com "))
		return
	}
	op := ""
	if target := r.Header.Get("X-Amz-Target"); strings.HasPrefix(target, "DynamoDB_20120810.") {
		op = strings.TrimPrefix(target, "DynamoDB_20120810.")
	}
	status, body, errType := s.handle(op, r, w.Header())
	if status == http.StatusRequestEntityTooLarge {
		w.Header().Set("Connection", "close") // its body was not read
	}
	s.write(w, status, "application/x-amz-json-1.0", body)
	if s.cfg.observer != nil {
		s.cfg.observer(RequestEvent{Time: time.Now(), Operation: op, Status: status, ErrorType: errType, Latency: time.Since(began)})
	}
}

func (s *Server) handle(op string, r *http.Request, answer http.Header) (status int, body []byte, errType string) {
	handler, ok := operations[op]
	if r.Method != http.MethodPost || !ok {
		return errorBody(&apiError{typ: typeUnknownOperation, msg: ""})
	}
	// The body's bytes come out of the budget before they are read.
	size := r.ContentLength
	if size < 0 || size > maxBody {
		size = maxBody + 1 // unknown: as large as a request may be
	}
	if r.ContentLength > s.budget.size {
		return errorBody(&apiError{typ: typeValidation, status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("Request body of %d bytes is larger than this backend holds at once (%d bytes)", r.ContentLength, s.budget.size)})
	}
	size = min(size, s.budget.size)
	if !s.budget.acquire(r.Context(), size, bodyBudgetWait) {
		return errorBody(&apiError{typ: typeThrottling, msg: "Rate of requests exceeds the allowed throughput: the backend holds too many request bytes at once"})
	}
	defer s.budget.release(size)
	raw, err := io.ReadAll(io.LimitReader(r.Body, size))
	if err != nil {
		return errorBody(&apiError{typ: typeSerialization, msg: "could not read the request body"})
	}
	if int64(len(raw)) == size && r.ContentLength < 0 && size <= maxBody {
		// A body of unknown length that filled the whole budget.
		return errorBody(&apiError{typ: typeValidation, status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("Request body is larger than this backend holds at once (%d bytes)", s.budget.size)})
	}
	if len(raw) > maxBody {
		return errorBody(validation("Request body too large; limit: %d bytes", maxBody))
	}
	if st, ok := replicaStamp(r.Header); ok {
		superseded, aerr := s.db.replicated(op, raw, st)
		if aerr != nil {
			return errorBody(aerr)
		}
		answer.Set(ReplicaStatusHeader, map[bool]string{false: "applied", true: "superseded"}[superseded])
		return http.StatusOK, []byte("{}"), ""
	}
	out, aerr := handler(s.db, raw)
	if aerr != nil {
		return errorBody(aerr)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return errorBody(&apiError{typ: typeInternal, msg: err.Error(), status: 500})
	}
	return http.StatusOK, b, ""
}

func (s *Server) write(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	// The SDK checks X-Amz-Crc32 (decimal CRC32-IEEE of the body) when present.
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	h.Set("x-amzn-RequestId", fmt.Sprintf("FAULTLINE%020d", s.requestID.Add(1)))
	w.WriteHeader(status)
	w.Write(body)
}
