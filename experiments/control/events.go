package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
)

// The event stream's pace and bounds.
const (
	// StreamBuffer is how many events may wait for one reader; a reader
	// that lets it fill is cut off with a "lagged" event and may resume.
	StreamBuffer = 1024
	// keepAlive is how often an idle stream gets a comment.
	keepAlive = 15 * time.Second
	// writeWait bounds one write to a stream: a reader that takes longer
	// is dropped.
	writeWait = 10 * time.Second
)

// StreamEvent is the data of an event of the stream: the journal event
// with its sequence number (also the SSE id).
type StreamEvent struct {
	Seq uint64 `json:"seq"`
	journal.Event
}

// Lagged is the data of a "lagged" event: the reader fell behind, the
// stream ends, and it may resume after LastID (Last-Event-ID) while that
// is retained.
type Lagged struct {
	Missed  uint64 `json:"missed"`  // the first event it did not get
	LastID  uint64 `json:"last_id"` // the last event it was sent
	Message string `json:"message"`
}

// Gone is the data of a "gone" event: the events after After up to
// Oldest-1 are no longer retained (they are in the journal file); the
// stream goes on from Oldest.
type Gone struct {
	After   uint64 `json:"after"`
	Oldest  uint64 `json:"oldest"`
	Journal string `json:"journal"`
	Message string `json:"message"`
}

// End is the data of an "end" event: the stream is over.
type End struct {
	Message string `json:"message"`
}

// events is the event stream as server-sent events: every event recorded
// through the Engine, from after the Last-Event-ID header (or ?after=N)
// when given, else from now; ?types=a,b and ?client=NAME filter it;
// ?follow=false sends what is retained and ends.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after uint64
	resume := false
	for _, v := range []struct{ field, val string }{{"Last-Event-ID", r.Header.Get("Last-Event-ID")}, {"after", q.Get("after")}} {
		if v.val == "" {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v.val), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_param", v.field, fmt.Sprintf("expected an event id (a whole number), got %q", v.val))
			return
		}
		after, resume = n, true
		break
	}
	follow := true
	if f := q.Get("follow"); f != "" {
		b, err := strconv.ParseBool(f)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_param", "follow", fmt.Sprintf("expected true or false, got %q", f))
			return
		}
		follow = b
	}
	if !follow && !resume {
		resume = true // what is retained
	}
	var types []string
	if t := q.Get("types"); t != "" {
		types = strings.Split(t, ",")
	}
	client := q.Get("client")

	var sub *engine.Subscription
	var gone *engine.GoneError
	var err error
	if resume {
		sub, err = s.eng.Resume(after, StreamBuffer)
		if errors.As(err, &gone) {
			// From the oldest retained; events recorded meanwhile may
			// push it on again, so try a few times.
			oldest := gone.Oldest
			for range 8 {
				var again *engine.GoneError
				if sub, err = s.eng.Resume(oldest-1, StreamBuffer); !errors.As(err, &again) {
					break
				}
				oldest = again.Oldest
			}
			gone.Oldest = oldest // what the stream goes on from
		}
	} else {
		sub, err = s.eng.Subscribe(StreamBuffer)
	}
	switch {
	case errors.Is(err, engine.ErrTooManySubscribers):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "too_many_subscribers", "", err.Error()+"; try again later")
		return
	case errors.Is(err, engine.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "closed", "", "the world is going down")
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "stream_failed", "", err.Error())
		return
	}
	defer sub.Close()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var buf []byte
	send := func() bool {
		if len(buf) == 0 {
			return true
		}
		rc.SetWriteDeadline(time.Now().Add(writeWait))
		_, err := w.Write(buf)
		buf = buf[:0]
		return err == nil && rc.Flush() == nil
	}
	named := func(name string, v any) {
		data, _ := json.Marshal(v)
		buf = fmt.Appendf(buf, "event: %s\ndata: %s\n\n", name, data)
	}
	buf = append(buf, ": faultline event stream\nretry: 2000\n\n"...)
	if gone != nil {
		named("gone", Gone{After: gone.After, Oldest: gone.Oldest, Journal: s.opts.World.Journal,
			Message: fmt.Sprintf("events %d to %d are no longer retained (read them from the journal file); the stream goes on from %d", gone.After+1, gone.Oldest-1, gone.Oldest)})
	}
	if !send() {
		return
	}
	last := after
	ch := sub.C()
	if !follow && len(ch) == 0 {
		named("end", End{Message: "no event is retained after that one"})
		send()
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			named("end", End{Message: "the control server is stopping: the world is going down"})
			send()
			return
		case <-tick.C:
			buf = append(buf, ": keep-alive\n\n"...)
			if !send() {
				return
			}
		case d, ok := <-ch:
			// Everything waiting goes out in one write (up to 64 KiB).
			closed := !ok
			for ok {
				last = d.Seq
				if (len(types) == 0 || slices.Contains(types, d.Event.Type)) && (client == "" || d.Event.Client == client) {
					data, _ := json.Marshal(StreamEvent{Seq: d.Seq, Event: d.Event})
					buf = fmt.Appendf(buf, "id: %d\ndata: %s\n\n", d.Seq, data)
				}
				if len(buf) > 64<<10 {
					break
				}
				select {
				case d, ok = <-ch:
					closed = !ok
				default:
					ok = false
				}
			}
			if closed {
				var lagged *engine.LaggedError
				if errors.As(sub.Err(), &lagged) {
					named("lagged", Lagged{Missed: lagged.Missed, LastID: last,
						Message: fmt.Sprintf("this reader fell behind: %d events waited for it, so the stream was cut before event %d; reconnect with Last-Event-ID: %d to resume", StreamBuffer, lagged.Missed, last)})
				} else {
					named("end", End{Message: "the world is going down"})
				}
				send()
				return
			}
			if !follow && len(ch) == 0 {
				named("end", End{Message: "that is every event retained; follow=true (the default) goes on with the new ones"})
				send()
				return
			}
			if !send() {
				return
			}
		}
	}
}
