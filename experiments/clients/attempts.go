package clients

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/smithy-go/middleware"
)

// attempts records what each SDK attempt of one request met, because the
// error the SDK finally returns may hide it:
//   - when the deadline passes during the retryer's back-off, the SDK returns
//     "request canceled, context deadline exceeded" and the cause of the
//     failed attempts (refused, SERVFAIL, reset, 5xx) is gone;
//   - when the deadline passes while resolving or connecting, net/http
//     returns the bare context error, not the dialer's.
//
// A middleware inside the retry loop records each attempt's error, and an
// httptrace on the attempt records how far it got.
type attempts struct {
	mu    sync.Mutex
	n     int       // attempts begun
	began time.Time // when the last attempt began
	last  error     // the error of the last attempt that ended
	phase phase     // how far the last attempt got
	// met is the error of the latest attempt that ended with one of its
	// own (not the deadline's), and metN that attempt's number.
	met  error
	metN int

	// refused, if set, is told of every connection attempt that was
	// refused, with the address dialed: Go's dialer goes on to the next
	// address of the name, so the request may still succeed and its error
	// would never show that a node refused it.
	refused func(addr string)
}

type phase int

const (
	phaseWaiting    phase = iota // no connection asked for yet, or waiting for a pooled one
	phaseResolving               // DNS lookup under way
	phaseConnecting              // TCP connect under way
	phaseConnected               // a connection carries the request
)

type attemptsKey struct{}

func withAttempts(ctx context.Context, refused func(addr string)) (context.Context, *attempts) {
	a := &attempts{refused: refused}
	return context.WithValue(ctx, attemptsKey{}, a), a
}

// attemptMiddleware runs once per attempt: it sits after the SDK's "Retry"
// middleware in the finalize step, so the retry loop calls it.
var attemptMiddleware = middleware.FinalizeMiddlewareFunc("faultline.attempt",
	func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		a, _ := ctx.Value(attemptsKey{}).(*attempts)
		if a == nil {
			return next.HandleFinalize(ctx, in)
		}
		n := a.begin()
		out, md, err := next.HandleFinalize(httptrace.WithClientTrace(ctx, a.trace(n)), in)
		a.end(n, err)
		return out, md, err
	})

func addAttemptMiddleware(s *middleware.Stack) error {
	return s.Finalize.Insert(attemptMiddleware, "Retry", middleware.After)
}

func (a *attempts) begin() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	a.began = time.Now()
	a.phase = phaseWaiting
	return a.n
}

func (a *attempts) end(n int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n == a.n {
		a.last = err
	}
	if err != nil && !contextError(err) && n >= a.metN {
		a.met, a.metN = err, n
	}
}

func contextError(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// cutShort bounds, as a share of the request's timeout, how long a last
// attempt may have run when the deadline cut it and still be said to have
// met nothing: the retryer's jittered back-off can start an attempt just
// before the deadline, and a loaded machine may not even let it resolve.
const cutShort = 0.1

// trace moves attempt n through its phases. A dial the transport goes on
// with after the attempt gave up may still call it: calls for an attempt
// that is no longer the latest are ignored.
func (a *attempts) trace(n int) *httptrace.ClientTrace {
	set := func(p phase) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if n == a.n && p > a.phase {
			a.phase = p
		}
	}
	return &httptrace.ClientTrace{
		DNSStart:     func(httptrace.DNSStartInfo) { set(phaseResolving) },
		ConnectStart: func(string, string) { set(phaseConnecting) },
		ConnectDone: func(_, addr string, err error) {
			// Every refusal counts, the late dial of an attempt given up
			// on included: each is a connection a node refused.
			if err != nil && errors.Is(err, syscall.ECONNREFUSED) && a.refused != nil {
				a.refused(addr)
			}
		},
		GotConn: func(httptrace.GotConnInfo) { set(phaseConnected) },
	}
}

// outcome is the class and a journal detail of a request that ended with
// err (not nil) after the attempts recorded. timeout is the request's.
func (a *attempts) outcome(err error, timeout time.Duration, dnsServer string) (class, detail string) {
	a.mu.Lock()
	n, last, ph, ran, met, metN := a.n, a.last, a.phase, time.Since(a.began), a.met, a.metN
	a.mu.Unlock()

	cause := err
	class = Classify(err)
	cut := false // the deadline cut the last attempt before it met anything
	switch {
	case vague(class) && last != nil && !contextError(last):
		// The deadline (or the retry quota) ended the request between
		// attempts: the last attempt's error is the cause.
		if c := Classify(last); c != ClassOther || class == ClassOther {
			cause, class = last, c
		}
	case vague(class) && met != nil && metN < n && (ph == phaseWaiting || ran < time.Duration(cutShort*float64(timeout))):
		// The deadline cut the last attempt before it got anywhere (or
		// just after it began): an earlier attempt's error says why the
		// request failed.
		if c := Classify(met); c != ClassOther || class == ClassOther {
			cause, class, cut = met, c, true
		}
	}
	msg := describe(cause, dnsServer)
	if class == ClassTimeout && cause == err {
		switch ph {
		case phaseResolving:
			class, msg = ClassDNSTimeout, fmt.Sprintf("no DNS answer within the %s deadline", timeout)
		case phaseConnecting:
			class, msg = ClassConnectTimeout, fmt.Sprintf("no TCP connection within the %s deadline", timeout)
		case phaseConnected:
			msg = fmt.Sprintf("no response within the %s deadline", timeout)
		}
	}
	// The resolver's or the dialer's own deadline ended it: say so first, in
	// the words the request's deadline gets, and keep Go's.
	switch {
	case class == ClassConnectTimeout && !strings.HasPrefix(msg, "no TCP connection"):
		msg = "no TCP connection in time: " + msg
	case class == ClassDNSTimeout && !strings.HasPrefix(msg, "no DNS answer"):
		msg = "no DNS answer in time: " + msg
	}
	prefix := ""
	switch {
	case cut:
		prefix = fmt.Sprintf("deadline passed as attempt %d began; attempt %d: ", n, metN)
	case cause != err && errors.Is(err, context.DeadlineExceeded):
		prefix = fmt.Sprintf("deadline passed in the retry back-off after %s: ", plural(n, "attempt"))
	case n > 1:
		prefix = fmt.Sprintf("%s, last: ", plural(n, "attempt"))
	}
	return class, prefix + keepTail(msg, maxDetail-len(prefix))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// vague classes say how a request ended, not why.
func vague(class string) bool {
	return class == ClassTimeout || class == ClassCancelled || class == ClassOther
}

// maxDetail bounds a request event's Detail, in bytes.
const maxDetail = 200
