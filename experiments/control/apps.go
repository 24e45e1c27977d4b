package control

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AppRequest is POST /api/v1/apps (`faultline exec`): a program to start
// in the live world, as a command client of an experiment starts.
type AppRequest struct {
	Name    string            `json:"name"`
	Argv    []string          `json:"argv"`
	Dir     string            `json:"dir,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Regions []string          `json:"regions,omitempty"`
}

// AppHooks are what an AppStarter reports back: the program's lines (not
// its outcome lines, which are journaled) and its end.
type AppHooks struct {
	Output func(stream, line string)
	Exited func(how string, err error)
}

// AppStarter starts a program in the live world with an identity of its
// own (its DNS relay's address is returned) and a stop that ends it.
type AppStarter func(req AppRequest, hooks AppHooks) (dns string, stop func(), err error)

// ErrAppRefused wraps an AppStarter's refusal of the request itself (a bad
// name, a name taken, no sandbox): a 409 with its message.
var ErrAppRefused = errors.New("refused")

// AppView is a program started through the API.
type AppView struct {
	Name      string    `json:"name"`
	Argv      []string  `json:"argv"`
	DNS       string    `json:"dns"` // its own DNS relay: its queries are told apart by it
	By        string    `json:"by"`
	StartedAt time.Time `json:"started_at"`
	State     string    `json:"state"`          // running or exited
	Exit      string    `json:"exit,omitempty"` // how it ended ("exit status 0", "signal: terminated")
	Error     string    `json:"error,omitempty"`
	// Lines are its last lines after ?lines_after=N (at most appLines are
	// kept); NextLine is the N to ask for next.
	Lines    []AppLine `json:"lines"`
	NextLine int       `json:"next_line"`
}

// AppLine is a line a program printed.
type AppLine struct {
	N      int    `json:"n"`
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

// AppList is GET /api/v1/apps.
type AppList struct {
	Apps []AppView `json:"apps"`
}

// appLines bounds the lines kept per program.
const appLines = 256

type appRegistry struct {
	mu   sync.Mutex
	apps map[string]*appRecord
}

type appRecord struct {
	view  AppView
	lines []AppLine // the last appLines
	next  int
	stop  func()
}

func newAppRegistry() *appRegistry { return &appRegistry{apps: map[string]*appRecord{}} }

func (g *appRegistry) snapshot(a *appRecord, after int) AppView {
	v := a.view
	v.Argv = append([]string(nil), v.Argv...)
	v.Lines = []AppLine{}
	for _, l := range a.lines {
		if l.N > after {
			v.Lines = append(v.Lines, l)
		}
	}
	v.NextLine = a.next
	return v
}

func (s *Server) startApp(w http.ResponseWriter, r *http.Request) {
	if s.opts.StartApp == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "", "this server starts no programs")
		return
	}
	if !isLoopback(r.RemoteAddr) {
		writeError(w, http.StatusForbidden, "forbidden", "", "programs are started for callers on this machine only (loopback)")
		return
	}
	var req AppRequest
	if !decode(w, r, &req) {
		return
	}
	switch {
	case req.Name == "":
		writeError(w, http.StatusBadRequest, "missing_field", "name", "required: the program's client name, like checkout")
		return
	case len(req.Argv) == 0 || req.Argv[0] == "":
		writeError(w, http.StatusBadRequest, "missing_field", "argv", "required: the program and its arguments, like [\"python3\", \"app.py\"]")
		return
	}
	g := s.apps
	g.mu.Lock()
	if _, taken := g.apps[req.Name]; taken {
		g.mu.Unlock()
		writeError(w, http.StatusConflict, "duplicate_name", "name", fmt.Sprintf("a program named %q was started already; give this one another name", req.Name))
		return
	}
	a := &appRecord{view: AppView{Name: req.Name, Argv: req.Argv, By: s.by(), StartedAt: time.Now().UTC(), State: "running"}}
	g.apps[req.Name] = a
	g.mu.Unlock()
	hooks := AppHooks{
		Output: func(stream, line string) {
			g.mu.Lock()
			defer g.mu.Unlock()
			a.next++
			a.lines = append(a.lines, AppLine{N: a.next, Stream: stream, Text: line})
			if len(a.lines) > appLines {
				a.lines = a.lines[len(a.lines)-appLines:]
			}
		},
		Exited: func(how string, err error) {
			g.mu.Lock()
			defer g.mu.Unlock()
			a.view.State, a.view.Exit = "exited", how
			if err != nil {
				a.view.Error = err.Error()
			}
		},
	}
	dns, stop, err := s.opts.StartApp(req, hooks)
	if err != nil {
		g.mu.Lock()
		delete(g.apps, req.Name)
		g.mu.Unlock()
		if errors.Is(err, ErrAppRefused) {
			writeError(w, http.StatusConflict, "refused", "", strings.TrimSuffix(err.Error(), ": "+ErrAppRefused.Error()))
			return
		}
		writeError(w, http.StatusInternalServerError, "start_failed", "", err.Error())
		return
	}
	g.mu.Lock()
	a.view.DNS, a.stop = dns, stop
	v := g.snapshot(a, 0)
	g.mu.Unlock()
	s.record(r, "exec", req.Name, fmt.Sprintf("started %q as client %s (DNS %s)", req.Argv, req.Name, dns))
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) getApps(w http.ResponseWriter, r *http.Request) {
	g := s.apps
	g.mu.Lock()
	list := AppList{Apps: []AppView{}}
	for _, a := range g.apps {
		v := g.snapshot(a, a.next) // no lines: GET /apps/{name} has them
		list.Apps = append(list.Apps, v)
	}
	g.mu.Unlock()
	sort.Slice(list.Apps, func(i, j int) bool { return list.Apps[i].Name < list.Apps[j].Name })
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request) {
	after := 0
	if v := r.URL.Query().Get("lines_after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "bad_param", "lines_after", fmt.Sprintf("expected a line number (0 or more), got %q", v))
			return
		}
		after = n
	}
	g := s.apps
	g.mu.Lock()
	a := g.apps[r.PathValue("name")]
	var v AppView
	if a != nil {
		v = g.snapshot(a, after)
	}
	g.mu.Unlock()
	if a == nil {
		writeError(w, http.StatusNotFound, "unknown_app", "name", fmt.Sprintf("no program %q was started through the API", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) stopApp(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	g := s.apps
	g.mu.Lock()
	a := g.apps[name]
	var stop func()
	running := false
	if a != nil {
		stop, running = a.stop, a.view.State == "running"
	}
	g.mu.Unlock()
	switch {
	case a == nil:
		writeError(w, http.StatusNotFound, "unknown_app", "name", fmt.Sprintf("no program %q was started through the API", name))
		return
	case !running:
		writeError(w, http.StatusConflict, "already_exited", "name", fmt.Sprintf("program %s has exited already", name))
		return
	}
	if stop != nil {
		stop()
	}
	s.record(r, "stop-app", name, "stopped program "+name)
	writeJSON(w, http.StatusAccepted, Message{Message: fmt.Sprintf("stopping %s: SIGTERM to its process group, SIGKILL after a grace period", name)})
}
