package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/faults"
)

// ApplyRequest is POST /api/v1/faults.
type ApplyRequest struct {
	ID     string         `json:"id,omitempty"` // "": the first free fN
	Kind   string         `json:"kind"`
	Target string         `json:"target"`
	Params map[string]any `json:"params,omitempty"` // strings, numbers or booleans
	// For bounds how long the fault stays: it heals by itself then. ""
	// is the server's default bound (the answer says so).
	For string `json:"for,omitempty"`
}

// ApplyResponse is the answer to an apply.
type ApplyResponse struct {
	Fault          FaultView `json:"fault"`
	BoundDefaulted bool      `json:"bound_defaulted"`
	Message        string    `json:"message"`
}

// FaultView is a fault applied in the live world.
type FaultView struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"`
	Target    string            `json:"target"`
	Params    map[string]string `json:"params"`
	State     string            `json:"state"` // active or healed
	By        string            `json:"by"`
	From      string            `json:"from,omitempty"` // the caller's address, for the API's
	AppliedAt time.Time         `json:"applied_at"`
	AppliedMS float64           `json:"applied_ms"` // journal time
	// Bound, BoundMS and ExpiresAt say when it heals by itself at the
	// latest: null for a fault without a bound (the schedule's).
	Bound     *string    `json:"bound"`
	BoundMS   *int64     `json:"bound_ms"`
	ExpiresAt *time.Time `json:"expires_at"`
	// When healed: when, by whom, why.
	HealedMS  *float64 `json:"healed_ms,omitempty"`
	HealedBy  string   `json:"healed_by,omitempty"`
	HealedWhy string   `json:"healed_why,omitempty"`
}

// FaultList is GET /api/v1/faults.
type FaultList struct {
	Faults []FaultView `json:"faults"`
}

// HealResponse is the answer to a heal.
type HealResponse struct {
	ID      string `json:"id"`
	By      string `json:"by"`
	Message string `json:"message"`
}

// HealAllResponse is the answer to the emergency stop.
type HealAllResponse struct {
	Healed  []string `json:"healed"`
	By      string   `json:"by"`
	Message string   `json:"message"`
}

var faultID = regexp.MustCompile(`^[a-z0-9_-]{1,63}$`)

// autoID is the "fault fN: " the Engine puts before its refusals.
var autoID = regexp.MustCompile(`^fault f[0-9]+: `)

// trimmed is an error with a shorter text, still wrapping it.
type trimmed struct {
	err  error
	text string
}

func (t trimmed) Error() string { return t.text }
func (t trimmed) Unwrap() error { return t.err }

func viewOf(a engine.Applied) FaultView {
	v := FaultView{ID: a.Fault.ID, Kind: a.Fault.Kind, Target: a.Fault.Target, Params: a.Fault.Params, State: "active",
		By: a.By, AppliedAt: a.At.UTC(), AppliedMS: a.AtMS}
	if v.Params == nil {
		v.Params = map[string]string{}
	}
	if a.Bound > 0 {
		b, ms, exp := a.Bound.String(), a.Bound.Milliseconds(), a.At.Add(a.Bound).UTC()
		v.Bound, v.BoundMS, v.ExpiresAt = &b, &ms, &exp
	}
	return v
}

func (s *Server) getFaults(w http.ResponseWriter, r *http.Request) {
	list := FaultList{Faults: []FaultView{}}
	for _, a := range s.eng.Active() {
		v := viewOf(a)
		v.From = s.live.from(a.Fault.ID)
		list.Faults = append(list.Faults, v)
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getFault(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, a := range s.eng.Active() {
		if a.Fault.ID == id {
			v := viewOf(a)
			v.From = s.live.from(id)
			writeJSON(w, http.StatusOK, v)
			return
		}
	}
	if v, ok := s.live.fault(id); ok {
		writeJSON(w, http.StatusOK, v)
		return
	}
	writeError(w, http.StatusNotFound, "unknown_fault", "id", fmt.Sprintf("no fault %q was applied in this world (GET %s/faults lists the active ones)", id, Prefix))
}

func (s *Server) applyFault(w http.ResponseWriter, r *http.Request) {
	var req ApplyRequest
	if !decode(w, r, &req) {
		return
	}
	bad := func(code, field, format string, args ...any) {
		writeError(w, http.StatusBadRequest, code, field, fmt.Sprintf(format, args...))
	}
	switch {
	case req.Kind == "":
		bad("missing_field", "kind", "required: a fault kind, one of: %s", strings.Join(faults.Names(), ", "))
		return
	case req.Target == "":
		bad("missing_field", "target", "required: what the fault acts on (an endpoint name or a region; GET %s/world lists them)", Prefix)
		return
	case req.ID != "" && !faultID.MatchString(req.ID):
		bad("bad_id", "id", "%q: expected lowercase letters, digits, '_' and '-' (at most 63)", req.ID)
		return
	}
	bound, defaulted := s.opts.DefaultBound, true
	if req.For != "" {
		d, err := time.ParseDuration(strings.TrimSpace(req.For))
		switch {
		case err != nil:
			bad("bad_duration", "for", "expected a duration like 30s or 10m, got %q", req.For)
			return
		case d <= 0:
			bad("bad_duration", "for", "must be longer than 0s, got %s", req.For)
			return
		case d > s.opts.MaxBound:
			bad("bound_too_long", "for", "%s is past the maximum bound of %s: a live fault always heals by itself; apply it again when it has", d, s.opts.MaxBound)
			return
		}
		bound, defaulted = d, false
	}
	params := map[string]string{}
	for k, v := range req.Params {
		switch v := v.(type) {
		case string:
			params[k] = v
		case json.Number:
			params[k] = v.String()
		case bool:
			params[k] = fmt.Sprint(v)
		default:
			bad("bad_param", "params."+k, "parameter %q: expected a string, a number or a boolean", k)
			return
		}
	}
	kind, known := faults.Lookup(req.Kind)
	if known {
		if kind.Meta().NeedsAutomation && !s.opts.World.Automation {
			bad("unknown_kind", "kind", "%s acts on the DNS automation, and this world has none (an experiment's topology.automation)", req.Kind)
			return
		}
		for _, p := range kind.Params() {
			if v, given := params[p.Name]; given && p.Region && !slices.Contains(s.opts.World.regionNames(), v) {
				bad("bad_param", "params."+p.Name, "parameter %q: no region %q; the world has: %s", p.Name, v, strings.Join(s.opts.World.regionNames(), ", "))
				return
			}
		}
	}
	f := faults.Fault{ID: req.ID, Kind: req.Kind, Target: req.Target, Params: params, Duration: bound}
	a, err := s.eng.ApplyFor(f, s.by(), bound, engine.From(r.RemoteAddr))
	if err != nil {
		if req.ID == "" {
			// The id the Engine picked means nothing to the caller.
			err = trimmed{err, autoID.ReplaceAllString(err.Error(), "")}
		}
		var pe *faults.ParamError
		switch {
		case errors.Is(err, engine.ErrDuplicate):
			writeError(w, http.StatusConflict, "duplicate_id", "id", err.Error())
		case !known:
			bad("unknown_kind", "kind", "%s", err)
		case errors.As(err, &pe):
			field := "params"
			if pe.Param != "" {
				field += "." + pe.Param
			}
			bad("bad_param", field, "%s", err)
		case errors.Is(err, engine.ErrInvalid):
			bad("bad_target", "target", "%s", err)
		case errors.Is(err, engine.ErrClosed):
			writeError(w, http.StatusServiceUnavailable, "closed", "", "the world is going down: "+err.Error())
		default:
			writeError(w, http.StatusInternalServerError, "apply_failed", "", err.Error())
		}
		return
	}
	v := viewOf(a)
	v.From = r.RemoteAddr
	msg := fmt.Sprintf("applied %s: %s on %s; it heals by itself after %s at the latest (%s)", a.Fault.ID, a.Fault.Kind, a.Fault.Target, bound, v.ExpiresAt.Format(time.RFC3339))
	if defaulted {
		msg = fmt.Sprintf("applied %s: %s on %s; no `for` was given, so it heals by itself after the default bound of %s (%s)", a.Fault.ID, a.Fault.Kind, a.Fault.Target, bound, v.ExpiresAt.Format(time.RFC3339))
	}
	s.log("%s, by %s from %s", msg, s.by(), r.RemoteAddr)
	writeJSON(w, http.StatusCreated, ApplyResponse{Fault: v, BoundDefaulted: defaulted, Message: msg})
}

func (s *Server) healFault(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := s.eng.Heal(id, "healed through the control API", s.by(), engine.From(r.RemoteAddr))
	switch {
	case errors.Is(err, engine.ErrUnknownFault):
		writeError(w, http.StatusNotFound, "unknown_fault", "id", fmt.Sprintf("no fault %q was applied in this world (GET %s/faults lists the active ones)", id, Prefix))
	case errors.Is(err, engine.ErrHealed):
		msg := fmt.Sprintf("fault %s is healed already", id)
		if v, ok := s.live.fault(id); ok && v.HealedBy != "" {
			msg += fmt.Sprintf(" (by %s: %s)", v.HealedBy, v.HealedWhy)
		}
		writeError(w, http.StatusConflict, "already_healed", "id", msg)
	case err != nil:
		// The heal ran and failed: the fault counts as healed (never twice).
		writeError(w, http.StatusInternalServerError, "heal_failed", "", err.Error())
	default:
		s.log("healed %s, by %s from %s", id, s.by(), r.RemoteAddr)
		writeJSON(w, http.StatusOK, HealResponse{ID: id, By: s.by(), Message: "healed " + id})
	}
}

// healAll is the emergency stop: every active fault heals, newest first.
func (s *Server) healAll(w http.ResponseWriter, r *http.Request) {
	why := "emergency stop: heal-all through the control API"
	healed := []string{}
	var errs []error
	for _, a := range slices.Backward(s.eng.Active()) {
		err := s.eng.Heal(a.Fault.ID, why, s.by(), engine.From(r.RemoteAddr))
		switch {
		case err == nil:
			healed = append(healed, a.Fault.ID)
		case !errors.Is(err, engine.ErrHealed):
			healed = append(healed, a.Fault.ID) // healed once, even when healing failed
			errs = append(errs, err)
		}
	}
	s.record(r, "heal-all", "", fmt.Sprintf("emergency stop: healed %d faults (%s)", len(healed), strings.Join(healed, ", ")))
	if err := errors.Join(errs...); err != nil {
		writeError(w, http.StatusInternalServerError, "heal_failed", "", "every fault is healed, but some heals failed: "+err.Error())
		return
	}
	sort.Strings(healed)
	msg := fmt.Sprintf("healed %d faults", len(healed))
	switch len(healed) {
	case 0:
		msg = "no fault was active"
	case 1:
		msg = "healed 1 fault"
	}
	writeJSON(w, http.StatusOK, HealAllResponse{Healed: healed, By: s.by(), Message: msg})
}

// KindList is GET /api/v1/kinds: the fault catalogue, as the kinds'
// parameter structs declare it (faults.Kind.Params).
type KindList struct {
	Kinds []KindView `json:"kinds"`
}

// KindView is one fault kind.
type KindView struct {
	Name    string      `json:"name"`
	Summary string      `json:"summary"`
	Target  string      `json:"target"` // dns-name or region
	Reach   string      `json:"reach"`
	Params  []ParamView `json:"params"`
}

// ParamView is one parameter of a kind.
type ParamView struct {
	Name     string `json:"name"`
	Type     string `json:"type"` // duration, float, int, bool, string
	Default  string `json:"default,omitempty"`
	Required bool   `json:"required"`
	// Min and Max are inclusive bounds (a duration's in milliseconds);
	// absent when unbounded.
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
	Unit   string   `json:"unit,omitempty"`   // what a number counts
	Enum   []string `json:"enum,omitempty"`   // a string's allowed values
	Region bool     `json:"region,omitempty"` // the value names a region
	Doc    string   `json:"doc"`
}

func (s *Server) getKinds(w http.ResponseWriter, r *http.Request) {
	list := KindList{Kinds: []KindView{}}
	for _, k := range faults.Kinds() {
		kv := KindView{Name: k.Name(), Summary: k.Summary(), Target: string(k.Target()), Reach: faults.ReachOf(k), Params: []ParamView{}}
		for _, p := range k.Params() {
			pv := ParamView{Name: p.Name, Type: string(p.Type), Default: p.Default, Required: p.Required, Unit: p.Unit, Enum: p.Enum, Region: p.Region, Doc: p.Doc}
			if p.Bounded {
				lo, hi := p.Min, p.Max
				pv.Min, pv.Max = &lo, &hi
			}
			kv.Params = append(kv.Params, pv)
		}
		list.Kinds = append(list.Kinds, kv)
	}
	writeJSON(w, http.StatusOK, list)
}
