package links

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/gorilla/mux"
)

type toxicWrapper = toxics.ToxicWrapper

// Toxiproxy's own HTTP API over a hub's links, so that toxiproxy-cli and
// toxiproxy's client libraries drive faultline's links unchanged
// (TOXIPROXY_URL=http://ADDR). Reads and toxics go through toxiproxy's own
// handlers (its responses and errors, byte for byte); three things differ:
//
//   - The links are the world's: creating, deleting, updating or disabling
//     a proxy (POST /proxies, /populate, POST|PATCH|DELETE /proxies/NAME) is
//     refused with 403, so no listener moves, closes or appears.
//   - Toxics whose names begin with OwnPrefix are faultline's own (its
//     faults' toxics, and Down's): the API shows them but refuses to add,
//     change or remove one (403), so an API caller cannot take a fault's
//     toxic away under the Engine, nor squat the name a fault will use.
//     POST /reset removes every other toxic and leaves faultline's.
//   - Link names have slashes (us-east-1/data/0/127.0.100.1:8000), which
//     toxiproxy's router cannot match and its clients put in the path
//     unescaped: the names are matched against the hub's links here.
//
// Every toxic added, updated or removed through the API is reported to an
// observer (the Engine journals it as a link.toxic event, by
// "toxiproxy-api"). As in toxiproxy, a request whose User-Agent is a
// browser's is refused (a web page cannot drive the links), and the API
// serves on loopback only.

// OwnPrefix begins the name of every toxic faultline adds itself.
const OwnPrefix = "faultline."

// OwnToxic is the name of faultline's own toxic for a fault id.
func OwnToxic(id string) string { return OwnPrefix + id }

// Change is a toxic added, updated or removed through the API.
type Change struct {
	Link   string // the link (proxy) name
	Action string // "added", "updated" or "removed"
	Toxic  string // its name
	Type   string // latency, timeout, ...
	// Detail is the toxic as toxiproxy shows it (JSON: stream, toxicity,
	// attributes); for a removal, as it was.
	Detail string
	Remote string // the caller's address
}

// maxAPIBody bounds a request body: a toxic is a few hundred bytes.
const maxAPIBody = 64 << 10

type api struct {
	h       *Hub
	observe func(Change)
	mu      sync.Mutex // one change at a time
}

// APIHandler serves toxiproxy's API over h's links; observe (may be nil)
// receives every change made through it, after it is made.
func APIHandler(h *Hub, observe func(Change)) http.Handler {
	if observe == nil {
		observe = func(Change) {}
	}
	return http.TimeoutHandler(&api{h: h, observe: observe}, 25*time.Second, "")
}

// API is toxiproxy's API serving on a listener of its own.
type API struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// ServeAPI serves APIHandler on addr, which must be a loopback address
// ("127.0.0.1:8474"; port 0 picks a free one).
func ServeAPI(h *Hub, addr string, observe func(Change)) (*API, error) {
	if err := CheckAPIAddr(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("links: the toxiproxy API: %w", err)
	}
	return ServeAPIOn(h, ln, observe), nil
}

// CheckAPIAddr says whether addr may serve toxiproxy's API: host:port on
// loopback, since the API has no authentication (as toxiproxy's own).
func CheckAPIAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("links: the toxiproxy API's address %q: %w; expected host:port on loopback", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("links: the toxiproxy API's address %q is not on loopback; expected 127.0.0.1:PORT or [::1]:PORT (the API has no authentication)", addr)
	}
	return nil
}

// ServeAPIOn serves APIHandler on a listener the caller opened (one passed
// into a sandbox, say); Close closes it.
func ServeAPIOn(h *Hub, ln net.Listener, observe func(Change)) *API {
	a := &API{ln: ln, done: make(chan struct{}), srv: &http.Server{Handler: APIHandler(h, observe),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}}
	go func() {
		defer close(a.done)
		a.srv.Serve(ln)
	}()
	return a
}

// Addr is the address the API listens on.
func (a *API) Addr() string { return a.ln.Addr().String() }

// URL is the API's base URL, what TOXIPROXY_URL takes.
func (a *API) URL() string { return "http://" + a.Addr() }

// Close stops the API (requests under way get up to 5 s) and waits for it.
// It is idempotent.
func (a *API) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, a.srv.Close())
	}
	<-a.done
	return err
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.UserAgent(), "Mozilla/") {
		http.Error(w, "User agent not allowed", http.StatusForbidden) // as toxiproxy says it
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
	srv := a.h.server
	path, method := r.URL.Path, r.Method
	switch {
	case path == "/version" && method == http.MethodGet:
		srv.Version(w, r)
	case path == "/proxies" && method == http.MethodGet:
		srv.ProxyIndex(w, r)
	case path == "/reset" && method == http.MethodPost:
		a.reset(w, r)
	case path == "/proxies" || path == "/populate":
		refuse(w, "faultline's links are its world's: this API does not create proxies (run a toxiproxy of your own for other proxies)")
	case strings.HasPrefix(path, "/proxies/"):
		a.proxy(w, r, strings.TrimPrefix(path, "/proxies/"))
	default:
		apiError(w, &toxiproxy.ApiError{Message: "not found: " + path, StatusCode: http.StatusNotFound})
	}
}

// proxy routes /proxies/NAME[/toxics[/TOXIC]].
func (a *api) proxy(w http.ResponseWriter, r *http.Request, rest string) {
	name := a.linkOf(rest)
	if name == "" {
		apiError(w, toxiproxy.ErrProxyNotFound)
		return
	}
	vars := map[string]string{"proxy": name}
	sub := strings.TrimPrefix(rest, name)
	srv := a.h.server
	switch {
	case sub == "":
		if r.Method == http.MethodGet {
			srv.ProxyShow(w, mux.SetURLVars(r, vars))
			return
		}
		refuse(w, fmt.Sprintf("link %s is part of faultline's world: this API does not delete, move or disable it; "+
			"take it down with the link.down fault (faultline inject link.down REGION) or add a reset_peer or timeout toxic", name))
	case sub == "/toxics":
		switch r.Method {
		case http.MethodGet:
			srv.ToxicIndex(w, mux.SetURLVars(r, vars))
		case http.MethodPost:
			a.addToxic(w, r, name)
		default:
			methodNotAllowed(w)
		}
	case strings.HasPrefix(sub, "/toxics/"):
		toxic := strings.TrimPrefix(sub, "/toxics/")
		vars["toxic"] = toxic
		switch r.Method {
		case http.MethodGet:
			srv.ToxicShow(w, mux.SetURLVars(r, vars))
		case http.MethodPost, http.MethodPatch:
			if refuseOwn(w, name, toxic, "change") {
				return
			}
			a.change(w, mux.SetURLVars(r, vars), name, toxic, "updated", srv.ToxicUpdate)
		case http.MethodDelete:
			if refuseOwn(w, name, toxic, "remove") {
				return
			}
			a.change(w, mux.SetURLVars(r, vars), name, toxic, "removed", srv.ToxicDelete)
		default:
			methodNotAllowed(w)
		}
	default:
		apiError(w, toxiproxy.ErrProxyNotFound)
	}
}

// linkOf is the link rest names (the longest link name that rest is or
// begins with, followed by a slash), or "".
func (a *api) linkOf(rest string) string {
	best := ""
	for _, n := range a.h.Names() {
		if (rest == n || strings.HasPrefix(rest, n+"/")) && len(n) > len(best) {
			best = n
		}
	}
	return best
}

// addToxic adds a toxic whose name (given, or toxiproxy's default
// TYPE_STREAM) is not one of faultline's.
func (a *api) addToxic(w http.ResponseWriter, r *http.Request, link string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		apiError(w, &toxiproxy.ApiError{Message: "bad request body: " + err.Error(), StatusCode: http.StatusBadRequest})
		return
	}
	head := struct{ Name, Type, Stream string }{Stream: "downstream"}
	if err := json.Unmarshal(body, &head); err == nil {
		name := head.Name
		if name == "" {
			name = head.Type + "_" + head.Stream
		}
		if refuseOwn(w, link, name, "add") {
			return
		}
		if head.Type == cutType || head.Type == mirrorResetType {
			refuse(w, fmt.Sprintf("toxic type %s is faultline's own (what link.down adds, or what carried connections run); expected one of: %s", head.Type, strings.Join(ToxicTypes(), ", ")))
			return
		}
	} // a body toxiproxy cannot read gets its own error
	r.Body = io.NopCloser(bytes.NewReader(body))
	a.change(w, mux.SetURLVars(r, map[string]string{"proxy": link}), link, "", "added", a.h.server.ToxicCreate)
}

// change runs one of toxiproxy's handlers that changes a toxic and reports
// the change when it succeeded.
func (a *api) change(w http.ResponseWriter, r *http.Request, link, toxic, action string, handler http.HandlerFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var before []byte
	if action == "removed" {
		before = a.toxicJSON(link, toxic)
	}
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	if l, ok := a.h.Link(link); ok {
		// Through the link, so that the streams it carries follow.
		l.changeToxics(func() error { handler(rec, r); return nil })
	} else {
		handler(rec, r)
	}
	if rec.status >= 300 {
		return
	}
	c := Change{Link: link, Action: action, Toxic: toxic, Detail: string(before), Remote: r.RemoteAddr}
	if action != "removed" {
		c.Detail = strings.TrimSpace(rec.body.String())
	}
	var shown struct{ Name, Type string }
	if json.Unmarshal([]byte(c.Detail), &shown) == nil {
		c.Toxic, c.Type = shown.Name, shown.Type
	}
	a.observe(c)
}

// reset removes every toxic through the API's links that is not
// faultline's own; the links stay as they are (none can be disabled here).
func (a *api) reset(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for _, n := range a.h.Names() {
		l, ok := a.h.Link(n)
		if !ok {
			continue
		}
		for _, t := range l.proxy.Toxics.GetToxicArray() {
			tw, ok := t.(*toxicWrapper)
			if !ok || strings.HasPrefix(tw.Name, OwnPrefix) {
				continue
			}
			detail, _ := json.Marshal(tw)
			err := l.changeToxics(func() error { return l.proxy.Toxics.RemoveToxic(r.Context(), tw.Name) })
			if err != nil {
				if !errors.Is(err, toxiproxy.ErrToxicNotFound) {
					errs = append(errs, fmt.Errorf("%s: %s: %w", n, tw.Name, err))
				}
				continue
			}
			a.observe(Change{Link: n, Action: "removed", Toxic: tw.Name, Type: tw.Type, Detail: string(detail), Remote: r.RemoteAddr})
		}
	}
	if err := errors.Join(errs...); err != nil {
		apiError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// toxicJSON is a toxic as toxiproxy shows it, or nil.
func (a *api) toxicJSON(link, toxic string) []byte {
	l, ok := a.h.Link(link)
	if !ok {
		return nil
	}
	t := l.proxy.Toxics.GetToxic(toxic)
	if t == nil {
		return nil
	}
	b, _ := json.Marshal(t)
	return b
}

// refuseOwn refuses to act on one of faultline's own toxics.
func refuseOwn(w http.ResponseWriter, link, toxic, verb string) bool {
	if !strings.HasPrefix(toxic, OwnPrefix) {
		return false
	}
	refuse(w, fmt.Sprintf("toxic %s on %s: names beginning with %q are faultline's own (its faults' toxics); this API does not %s them: "+
		"heal the fault through faultline (faultline heal ID), or choose another name", toxic, link, OwnPrefix, verb))
	return true
}

func refuse(w http.ResponseWriter, msg string) {
	apiError(w, &toxiproxy.ApiError{Message: msg, StatusCode: http.StatusForbidden})
}

func methodNotAllowed(w http.ResponseWriter) {
	apiError(w, &toxiproxy.ApiError{Message: "method not allowed", StatusCode: http.StatusMethodNotAllowed})
}

// apiError writes an error as toxiproxy does: {"error": ..., "status": ...}.
func apiError(w http.ResponseWriter, err error) {
	var e *toxiproxy.ApiError
	if !errors.As(err, &e) {
		e = &toxiproxy.ApiError{Message: err.Error(), StatusCode: http.StatusInternalServerError}
	}
	data, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.StatusCode)
	w.Write(data)
}

// recorder passes a response through and keeps its status and (small) body.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.body.Len() < maxAPIBody {
		r.body.Write(p)
	}
	return r.ResponseWriter.Write(p)
}
