package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// envPprof, when set to a loopback address, serves Go's profiles there
// (/debug/pprof/): how a soak's memory or a starved harness is diagnosed.
const envPprof = "FAULTLINE_PPROF"

// servePprof starts the profiling server when $FAULTLINE_PPROF asks.
func servePprof() {
	addr := os.Getenv(envPprof)
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "faultline: $%s=%q: expected a loopback HOST:PORT such as 127.0.0.1:6060; not profiling\n", envPprof, addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "faultline: $%s: %v; not profiling\n", envPprof, err)
		return
	}
	go http.Serve(ln, mux)
}
