package nlb

import "time"

// SetDueHook lets a test move checks' due times (into the past: a timer
// that fired late) until restore is called. Set it before Start and restore
// it after Close: the health loops read it unsynchronised.
func SetDueHook(f func(target string, due time.Time) time.Time) (restore func()) {
	dueHook = f
	return func() { dueHook = nil }
}
