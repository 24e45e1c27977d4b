// Package linksapi serves toxiproxy's own HTTP API over an Engine's links
// (targets/links.ServeAPI), so that toxiproxy-cli and toxiproxy's client
// libraries drive a live world's links unchanged, and journals every toxic
// added, updated or removed through it as a link.toxic event by
// "toxiproxy-api", so a game day's record shows them beside the faults.
//
// Such toxics are link changes, not faults: the Engine does not heal them
// (POST /reset or toxiproxy-cli removes them; closing the world ends them)
// and no metric is computed against them. Faultline's own faults' toxics
// (named faultline.ID) are shown but cannot be added, changed or removed
// through the API, and the links themselves cannot be created, moved,
// disabled or deleted.
//
//	api, err := linksapi.Serve(e, "127.0.0.1:8474") // loopback only
//	defer api.Close()                               // before e.Close
//	// TOXIPROXY_URL=api.URL() toxiproxy-cli list
package linksapi

import (
	"net"
	"net/http"
	"strings"

	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/targets/links"
)

// By is who the journal says made a change through the API.
const By = "toxiproxy-api"

// Serve serves the API on addr (loopback; port 0 picks one).
func Serve(e *engine.Engine, addr string) (*links.API, error) {
	return links.ServeAPI(e.World().Links(), addr, Recorder(e))
}

// ServeOn serves the API on a listener the caller opened.
func ServeOn(e *engine.Engine, ln net.Listener) *links.API {
	return links.ServeAPIOn(e.World().Links(), ln, Recorder(e))
}

// Handler is the API as a handler, for a server of the driver's own. It
// must be that server's root (toxiproxy's clients ask for /proxies,
// /reset, /version), so it wants a listener of its own, not a path under
// the control API.
func Handler(e *engine.Engine) http.Handler {
	return links.APIHandler(e.World().Links(), Recorder(e))
}

// Recorder journals a change through the Engine.
func Recorder(e *engine.Engine) func(links.Change) {
	return func(c links.Change) {
		region, _, _ := strings.Cut(c.Link, "/")
		e.Record(journal.Event{Type: journal.LinkToxic, Target: c.Link, Region: region, Name: c.Toxic, Kind: c.Type,
			Status: c.Action, Detail: c.Detail, By: By, Addr: c.Remote})
	}
}
