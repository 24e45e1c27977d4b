package main

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A peer that cannot start is tried on fresh ports and, in the end, its own
// words are in the error: a benchmark says why a peer has no figure.
func TestPeerThatFailsSaysWhy(t *testing.T) {
	tries := 0
	_, err := startPeer(peerSpec{name: "broken", within: 10 * time.Second,
		cmd: func(port int) (*exec.Cmd, error) {
			tries++
			return exec.Command("sh", "-c", fmt.Sprintf("echo can not bind 127.0.0.1@%d >&2; exit 3", port)), nil
		},
		ready: func(int) error { return fmt.Errorf("not yet") }})
	if err == nil || tries != peerAttempts || !strings.Contains(err.Error(), "can not bind") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("%d tries, error %v: want %d tries and the peer's own words", tries, err, peerAttempts)
	}
}

// A real program started on the port freeDualPort gave serves there and
// is stopped by stop.
func TestPeerStartsOnAPortFreeForBoth(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	p, err := startPeer(peerSpec{name: "http.server", within: 60 * time.Second,
		cmd: func(port int) (*exec.Cmd, error) {
			return exec.Command("python3", "-m", "http.server", "--bind", "127.0.0.1", fmt.Sprint(port)), nil
		},
		ready: func(port int) error {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	p.stop()
	if p.cmd.ProcessState == nil {
		t.Fatal("stop returned before the peer ended")
	}
	// Its UDP twin was free too when asked.
	pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p.port))
	if err != nil {
		t.Fatalf("the port's UDP side: %v", err)
	}
	pc.Close()
}

// The summary gives each ratio's median and spread, and a ratio a run did
// not measure is said to be missing, never filled in.
func TestRatiosMedianSpreadAndMissing(t *testing.T) {
	l := &ratioLog{byRun: map[string]map[int]float64{}, better: map[string]string{}}
	saved := ratios
	ratios = l
	defer func() { ratios = saved }()
	for run, v := range []float64{1.2, 0.9, 1.5} {
		l.startRun(run + 1)
		recordRatio("qps: ours ÷ peer", "higher", v)
		expectRatio("p99: ours ÷ peer", "lower")
		if run != 1 {
			recordRatio("p99: ours ÷ peer", "lower", float64(run+1))
		}
	}
	var out bytes.Buffer
	l.summary(&out, 3)
	if !strings.Contains(out.String(), "1.20     0.90 – 1.50") {
		t.Errorf("summary lacks the median 1.20 and spread 0.90 – 1.50:\n%s", out.String())
	}
	missing := l.missing(3)
	if len(missing) != 1 || !strings.Contains(missing[0], "p99: ours ÷ peer (2 of 3 runs)") {
		t.Errorf("missing = %q, want the p99 ratio measured in 2 of 3 runs", missing)
	}
}
