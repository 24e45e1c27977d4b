// Package earlysignal takes SIGINT, SIGTERM and SIGHUP (unless it is
// ignored, as under nohup) from the moment the program starts. Go initialises packages with no dependency of their own early, and
// this one needs only os/signal: its init runs before the heavy packages'
// (the SDKs, the JSON Schema compiler, testcontainers), so a Ctrl-C in the
// first milliseconds is heard rather than killing the process unseen.
package earlysignal

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

var signals = make(chan os.Signal, 8)

func init() { signal.Notify(signals, Signals()...) }

// Signals are the signals that end a run as interrupted: SIGINT, SIGTERM
// and SIGHUP (a closed terminal), unless SIGHUP is ignored (nohup): that
// is kept as it is.
func Signals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// Context is cancelled by the first of Signals since the program
// started (at once, if one came already). stop releases it; later signals
// are still caught, not fatal, until the program exits.
func Context() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-signals:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
