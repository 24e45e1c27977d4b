// Package control is the control API of a live world (`faultline up`): an
// HTTP server on an Engine (experiments/engine) that shows the world, the
// fault catalogue, the active faults, the clients with live metrics and
// the event stream, and applies and heals faults through the Engine, the
// one component that does. openapi.yaml (embedded, served at
// /api/v1/openapi.yaml) describes every route; a test checks the server
// against it.
//
// Every request needs the run's token (Authorization: Bearer TOKEN; a GET
// also takes the cookie a browser gets by opening a page with ?token=).
// Every call that changes something is journaled with who made it (By
// "api:NAME", Addr the caller's address). A fault always has a bound: one
// applied without `for` heals by itself after Options.DefaultBound, and a
// bound past Options.MaxBound is refused. Hostile traffic is bounded:
// bodies (MaxBody), headers, read, write and idle timeouts, connections
// (MaxConns), event subscribers (the Engine's MaxSubscribers), and a slow
// event reader is cut off (it may resume) rather than ever slowing the
// world or growing memory.
//
//	srv, err := control.New(control.Options{Engine: eng, Token: tok, Operator: "alice", World: w})
//	go srv.Serve(ln)
//	defer srv.Close()
package control

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// OpenAPI is the API's OpenAPI 3.1 document.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Bounds of the API.
const (
	// DefaultBound is how long a fault applied without `for` stays.
	DefaultBound = 10 * time.Minute
	// MaxBound is the longest `for` accepted.
	MaxBound = 24 * time.Hour
	// MaxBody bounds a request's body.
	MaxBody = 64 << 10
	// MaxConns bounds the connections served at once; more wait in the
	// kernel's backlog.
	MaxConns = 256
	// Prefix is where the API's routes are.
	Prefix = "/api/v1"
)

// Options of a control server.
type Options struct {
	Engine *engine.Engine
	// Token is the bearer token every request must carry.
	Token string
	// Operator is the token's holder: calls are journaled as By
	// "api:"+Operator.
	Operator string
	// DefaultBound is the bound of a fault applied without `for`
	// (DefaultBound when 0); MaxBound the longest accepted (MaxBound when
	// 0).
	DefaultBound, MaxBound time.Duration
	// World is what applications need of the world (GET /api/v1/world).
	World World
	// StartApp, when set, starts a program in the live world (POST
	// /api/v1/apps, `faultline exec`); without it the route answers 501.
	StartApp AppStarter
	// Shutdown, when set, is called (once, without blocking) by POST
	// /api/v1/shutdown (`faultline down`).
	Shutdown func()
	// Handlers are mounted beside the API on the same server, behind the
	// same token: "/metrics" (Prometheus), "/" (the live dashboard; a
	// placeholder page linking the API when none is given), ... A pattern
	// is a net/http ServeMux pattern and must not fall under /api/.
	Handlers map[string]http.Handler
	// Log, when set, receives a line per call that changed something.
	Log func(format string, args ...any)
}

// Server is a control API on an Engine.
type Server struct {
	opts  Options
	eng   *engine.Engine
	mux   *http.ServeMux
	hs    *http.Server
	live  *liveState
	rules *ruleVersion // of the active DNS faults (GET /dns/rules)
	apps  *appRegistry
	done  chan struct{}
	close sync.Once

	shutdownOnce sync.Once
}

// route is one of the API's routes.
type route struct {
	method, path string
	handle       func(*Server, http.ResponseWriter, *http.Request)
}

// routes are every route of the API, in the order of openapi.yaml.
var routes = []route{
	{"GET", "/world", (*Server).getWorld},
	{"GET", "/kinds", (*Server).getKinds},
	{"GET", "/faults", (*Server).getFaults},
	{"POST", "/faults", (*Server).applyFault},
	{"GET", "/faults/{id}", (*Server).getFault},
	{"DELETE", "/faults/{id}", (*Server).healFault},
	{"POST", "/heal-all", (*Server).healAll},
	{"GET", "/clients", (*Server).getClients},
	{"GET", "/events", (*Server).events},
	{"GET", "/apps", (*Server).getApps},
	{"POST", "/apps", (*Server).startApp},
	{"GET", "/apps/{name}", (*Server).getApp},
	{"DELETE", "/apps/{name}", (*Server).stopApp},
	{"GET", "/dns/rules", (*Server).getDNSRules},
	{"POST", "/dns/answers", (*Server).postDNSAnswers},
	{"POST", "/shutdown", (*Server).shutdown},
	{"GET", "/openapi.yaml", (*Server).getOpenAPI},
}

// Routes are the API's routes as "METHOD /api/v1/path" (the path in
// OpenAPI's template form, /faults/{id}).
func Routes() []string {
	var out []string
	for _, r := range routes {
		out = append(out, r.method+" "+Prefix+r.path)
	}
	return out
}

// New makes a server on opts.Engine; it starts following the Engine's event
// stream for the clients' live metrics at once.
func New(opts Options) (*Server, error) {
	if opts.Engine == nil {
		return nil, errors.New("control: no engine")
	}
	if len(opts.Token) < 16 {
		return nil, errors.New("control: the token must have at least 16 characters")
	}
	if opts.DefaultBound <= 0 {
		opts.DefaultBound = DefaultBound
	}
	if opts.MaxBound <= 0 {
		opts.MaxBound = MaxBound
	}
	if opts.DefaultBound > opts.MaxBound {
		return nil, fmt.Errorf("control: the default bound %s is past the maximum %s", opts.DefaultBound, opts.MaxBound)
	}
	if opts.Operator == "" {
		opts.Operator = "operator"
	}
	s := &Server{opts: opts, eng: opts.Engine, mux: http.NewServeMux(), apps: newAppRegistry(), done: make(chan struct{}), rules: newRuleVersion()}
	live, err := followLive(opts.Engine, s.done, s.rules)
	if err != nil {
		return nil, err
	}
	s.live = live
	if err := s.routes(); err != nil {
		close(s.done)
		return nil, err
	}
	s.hs = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second, // the event stream extends its own per write
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	return s, nil
}

// routes registers the API, a JSON 405 for every path with the methods it
// has, a JSON 404 for the rest of /api/, and the mounted handlers.
func (s *Server) routes() error {
	allowed := map[string][]string{}
	var paths []string
	for _, r := range routes {
		s.mux.HandleFunc(r.method+" "+Prefix+r.path, func(w http.ResponseWriter, req *http.Request) { r.handle(s, w, req) })
		if allowed[r.path] == nil {
			paths = append(paths, r.path)
		}
		allowed[r.path] = append(allowed[r.path], r.method)
	}
	for _, p := range paths {
		allow := strings.Join(allowed[p], ", ")
		s.mux.HandleFunc(Prefix+p, func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "", fmt.Sprintf("%s %s: expected one of %s", req.Method, req.URL.Path, allow))
		})
	}
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "", fmt.Sprintf("no route %s %s; the API is described at %s/openapi.yaml", req.Method, req.URL.Path, Prefix))
	})
	handlers := s.opts.Handlers
	if _, ok := handlers["/"]; !ok {
		handlers = map[string]http.Handler{"/": http.HandlerFunc(placeholder)}
		for p, h := range s.opts.Handlers {
			handlers[p] = h
		}
	}
	patterns := make([]string, 0, len(handlers))
	for p := range handlers {
		patterns = append(patterns, p)
	}
	sort.Strings(patterns)
	for _, p := range patterns {
		path := p
		if _, rest, ok := strings.Cut(p, " "); ok {
			path = rest
		}
		if strings.HasPrefix(path, "/api/") {
			return fmt.Errorf("control: handler %q: /api/ is the API's", p)
		}
		if err := register(s.mux, p, handlers[p]); err != nil {
			return err
		}
	}
	return nil
}

// register mounts h, turning ServeMux's panic on a conflicting pattern
// into an error.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("control: handler %q: %v", pattern, p)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// Handler is the whole server: the token checked, then the API and the
// mounted handlers.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if !s.authorized(w, r) {
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Serve serves on ln (at most MaxConns connections at once) until Close.
func (s *Server) Serve(ln net.Listener) error {
	err := s.hs.Serve(netutil.LimitListener(ln, MaxConns))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close ends the event streams (each gets an "end" event), stops serving
// (in-flight calls get up to 3 s) and stops following the Engine. It is
// idempotent.
func (s *Server) Close() error {
	var err error
	s.close.Do(func() {
		close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err = s.hs.Shutdown(ctx); err != nil {
			err = s.hs.Close()
		}
		s.live.wait()
	})
	return err
}

// Cookie is the cookie a browser keeps the token in (GET requests only).
const Cookie = "faultline_token"

// authorized checks the token: the Authorization header, or for a GET the
// cookie. A GET whose query carries a valid token=... sets the cookie and
// is redirected to the same URL without it, so a browser can open the
// dashboard from the link `faultline up` prints.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	given := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="faultline"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "Authorization", "expected Authorization: Bearer TOKEN (the token is in the run's api-token file)")
			return false
		}
		given = strings.TrimSpace(tok)
	} else if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if q := r.URL.Query().Get("token"); q != "" && s.tokenIs(q) {
			http.SetCookie(w, &http.Cookie{Name: Cookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			u := *r.URL
			v := u.Query()
			v.Del("token")
			u.RawQuery = v.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return false
		}
		if c, err := r.Cookie(Cookie); err == nil {
			given = c.Value
		}
	}
	if given == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="faultline"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "Authorization", "no token: send Authorization: Bearer TOKEN (the token is in the run's api-token file)")
		return false
	}
	if !s.tokenIs(given) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="faultline", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "Authorization", "wrong token: the token is in the run's api-token file")
		return false
	}
	return true
}

func (s *Server) tokenIs(given string) bool {
	return subtle.ConstantTimeCompare([]byte(given), []byte(s.opts.Token)) == 1
}

// by is who makes a call: the token's holder.
func (s *Server) by() string { return "api:" + s.opts.Operator }

func (s *Server) log(format string, args ...any) {
	if s.opts.Log != nil {
		s.opts.Log(format, args...)
	}
}

// record journals a control call that changed something.
func (s *Server) record(r *http.Request, op, client, detail string) {
	s.eng.Record(journal.Event{Type: journal.Control, Op: op, By: s.by(), Addr: r.RemoteAddr, Client: client, Detail: detail})
	s.log("%s by %s from %s: %s", op, s.by(), r.RemoteAddr, detail)
}

// ErrorBody is every error's JSON body.
type ErrorBody struct {
	Error APIError `json:"error"`
}

// APIError says what went wrong: a stable code, a message that says what
// was expected, and the request field it is about ("" when none).
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e APIError) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

func writeError(w http.ResponseWriter, status int, code, field, msg string) {
	writeJSON(w, status, ErrorBody{APIError{Code: code, Message: msg, Field: field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// decode reads a JSON body of at most MaxBody bytes into v, refusing
// unknown fields; on an error it has answered.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type", fmt.Sprintf("expected application/json, got %q", ct))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("expected one JSON object, got more after it")
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "", fmt.Sprintf("the body is larger than %d bytes", MaxBody))
	case errors.As(err, &syntax):
		writeError(w, http.StatusBadRequest, "bad_json", "", fmt.Sprintf("the body is not JSON: %v (at byte %d)", err, syntax.Offset))
	case errors.As(err, &typ):
		writeError(w, http.StatusBadRequest, "bad_json", typ.Field, fmt.Sprintf("expected a %s, got a JSON %s", typ.Type, typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		writeError(w, http.StatusBadRequest, "unknown_field", field, fmt.Sprintf("unknown field %q", field))
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "bad_json", "", "expected a JSON object, got an empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		writeError(w, http.StatusBadRequest, "bad_json", "", "the JSON body ends too soon")
	default:
		writeError(w, http.StatusBadRequest, "bad_json", "", "the body is not the JSON expected: "+err.Error())
	}
	return false
}

func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(OpenAPI)
}

func (s *Server) getWorld(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.opts.World)
}

func (s *Server) shutdown(w http.ResponseWriter, r *http.Request) {
	if s.opts.Shutdown == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "", "this server cannot shut its world down")
		return
	}
	s.shutdownOnce.Do(func() {
		s.record(r, "shutdown", "", "the world goes down: every fault heals, the clients stop, the reports are written")
		go s.opts.Shutdown()
	})
	writeJSON(w, http.StatusAccepted, Message{Message: "the world is going down: every fault heals, the clients stop and the reports are written in " + s.opts.World.RunDir})
}

// Message is a plain answer.
type Message struct {
	Message string `json:"message"`
}

// placeholder is "/" until the live dashboard is mounted there.
func placeholder(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, `<!doctype html><meta charset="utf-8"><title>faultline</title>
<h1>faultline: a live world</h1>
<p>The control API: <a href="`+Prefix+`/world">the world</a>, <a href="`+Prefix+`/kinds">the fault kinds</a>,
<a href="`+Prefix+`/faults">the active faults</a>, <a href="`+Prefix+`/clients">the clients</a>,
<a href="`+Prefix+`/events">the event stream</a>; described by <a href="`+Prefix+`/openapi.yaml">its OpenAPI document</a>.</p>
`)
}

// CheckListen refuses an API address that is not on loopback unless
// allowRemote: the token is all that guards it.
func CheckListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: expected HOST:PORT, like 127.0.0.1:0: %v", addr, err)
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %s is not a loopback address: the control API applies faults to anyone with its token, so it listens on loopback (127.0.0.0/8, ::1) unless --allow-remote is given too", addr)
	}
	return nil
}

// isLoopback reports whether a request came from a loopback address.
func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL is the API's base URL for a listener's address.
func URL(addr net.Addr) string {
	return (&url.URL{Scheme: "http", Host: addr.String()}).String()
}

// uniq sorts and deduplicates.
func uniq(xs []string) []string {
	slices.Sort(xs)
	return slices.Compact(xs)
}
