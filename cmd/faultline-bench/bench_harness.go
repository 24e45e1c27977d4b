package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/internal/tailbuf"
	"github.com/faultline-dev/faultline/targets/dynamodb"
	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// The harness's CPU: every microsecond and core faultline's own path takes
// is taken from the application under test on the same machine. The
// benchmark sends 1,000 requests/s of reference clients through the whole
// world (`faultline run`: client, DNS, NLB node, link, backend, journal)
// and the same requests, from the same SDK, straight at the same embedded
// backend with nothing else; the difference is what faultline itself
// costs, in cores per 1,000 requests/s. CPU is read from the kernel
// (/proc/PID/stat of the run; getrusage of this process) over a window
// that leaves out start-up and the reports.
func init() { register("harness-cpu", benchHarnessCPU) }

const (
	harnessRate   = 500 // requests/s, in both setups
	harnessWarmup = 3 * time.Second
	harnessWindow = 10 * time.Second
)

// cpuWindow is what one setup did over the measured window.
type cpuWindow struct {
	requests int
	cpu      time.Duration // user + system
	wall     time.Duration
	note     string
}

func (c cpuWindow) rate() float64  { return float64(c.requests) / c.wall.Seconds() }
func (c cpuWindow) cores() float64 { return c.cpu.Seconds() / c.wall.Seconds() }

// perThousand is cores per 1,000 requests/s.
func (c cpuWindow) perThousand() float64 { return c.cores() / (c.rate() / 1000) }

func benchHarnessCPU(ctx context.Context, out *os.File) error {
	dir, err := tempdirs.Make("", "bench-harness")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "faultline")
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/faultline").CombinedOutput(); err != nil {
		return fmt.Errorf("building faultline (run from the repository's root): %v\n%s", err, b)
	}
	fmt.Fprintf(out, "   %-56s %8s %9s %16s\n", fmt.Sprintf("%d requests/s, %s measured", harnessRate, harnessWindow), "req/s", "CPU cores", "cores per 1k/s")
	for _, keepAlive := range []bool{true, false} {
		conn := "keep-alive"
		if !keepAlive {
			conn = "new connection per request"
		}
		world, err := throughTheWorld(ctx, bin, dir, keepAlive)
		if err != nil {
			return fmt.Errorf("%s, through the world: %w", conn, err)
		}
		straight, err := straightAtTheBackend(ctx, keepAlive)
		if err != nil {
			return fmt.Errorf("%s, straight at the backend: %w", conn, err)
		}
		row := func(name string, c cpuWindow) {
			fmt.Fprintf(out, "   %-56s %8.0f %9.2f %16.2f %s\n", name, c.rate(), c.cores(), c.perThousand(), c.note)
		}
		row(conn+": through the world", world)
		row(conn+": SDK straight at the backend", straight)
		own := world.perThousand() - straight.perThousand()
		fmt.Fprintf(out, "   %-56s %8s %9s %16.2f (world ÷ straight %.2f)\n", conn+": faultline's own cost", "", "", own, world.perThousand()/straight.perThousand())
		recordRatio("harness CPU per 1k req/s: world ÷ straight, "+conn, "lower", world.perThousand()/straight.perThousand())
	}
	fmt.Fprintf(out, "   (2 reference clients of %d requests/s each, GetItem and PutItem, 1 s timeout; straight: the same aws-sdk-go-v2\n", harnessRate/2)
	fmt.Fprintf(out, "    requests open-loop from this process at the backend alone; CPU over %s after %s of warm-up)\n", harnessWindow, harnessWarmup)
	return nil
}

// throughTheWorld runs `faultline run` of a one-region world with two
// reference clients and reads its CPU from /proc over the window.
func throughTheWorld(ctx context.Context, bin, dir string, keepAlive bool) (cpuWindow, error) {
	exp := fmt.Sprintf(`name: bench-harness-cpu
topology:
  table: {name: orders, items: 100}
  regions:
    - name: us-east-1
clients:
  - {name: c1, strategy: single-region, regions: [us-east-1], rate: %[1]d, operations: [GetItem, PutItem], timeout: 1s, keep_alive: %[2]t}
  - {name: c2, strategy: single-region, regions: [us-east-1], rate: %[1]d, operations: [GetItem, PutItem], timeout: 1s, keep_alive: %[2]t}
schedule:
  duration: %[3]s
`, harnessRate/2, keepAlive, harnessWarmup+harnessWindow+2*time.Second)
	file := filepath.Join(dir, fmt.Sprintf("harness-%t.yaml", keepAlive))
	if err := os.WriteFile(file, []byte(exp), 0o644); err != nil {
		return cpuWindow{}, err
	}
	runDir := filepath.Join(dir, fmt.Sprintf("run-%t", keepAlive))
	cmd := exec.CommandContext(ctx, bin, "run", "--out", runDir, file)
	tail := &tailbuf.Buffer{Max: 4096}
	cmd.Stdout, cmd.Stderr = tail, tail
	if err := cmd.Start(); err != nil {
		return cpuWindow{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	sample := func() (time.Time, time.Duration, error) {
		now := time.Now()
		cpu, err := processCPU(cmd.Process.Pid)
		return now, cpu, err
	}
	wait := func(d time.Duration) error {
		select {
		case err := <-done:
			return fmt.Errorf("faultline run ended early (%v): %s", err, peerWords(tail))
		case <-time.After(d):
			return nil
		}
	}
	if err := wait(harnessWarmup); err != nil {
		return cpuWindow{}, err
	}
	t0, c0, err := sample()
	if err != nil {
		return cpuWindow{}, err
	}
	if err := wait(harnessWindow); err != nil {
		return cpuWindow{}, err
	}
	t1, c1, err := sample()
	if err != nil {
		return cpuWindow{}, err
	}
	if err := <-done; err != nil {
		// 1: an assertion failed (there are none); 3: the run was invalid
		// (the harness starved), which the row then says.
		if ee, ok := err.(*exec.ExitError); !ok || (ee.ExitCode() != 1 && ee.ExitCode() != 3) {
			return cpuWindow{}, fmt.Errorf("faultline run: %v: %s", err, peerWords(tail))
		}
	}
	n, status, err := requestsBetween(filepath.Join(runDir, "journal.jsonl"), t0, t1)
	if err != nil {
		return cpuWindow{}, err
	}
	w := cpuWindow{requests: n, cpu: c1 - c0, wall: t1.Sub(t0)}
	if status != "complete" {
		// A starved or otherwise invalid run: its figures are not a
		// measurement of faultline at this rate, and the row says so.
		w.note = "(run " + status + ": the machine was too busy; not a clean figure)"
	}
	return w, nil
}

// processCPU is a process's user + system CPU time so far.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) in ")".
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(fields[12], 10, 64) // field 15
	const ticks = 100                                // USER_HZ: 100 on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// requestsBetween counts the run's requests that started in [t0, t1) (wall
// clock, placed by run.start's Started) and returns the run's end status.
func requestsBetween(path string, t0, t1 time.Time) (int, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	var zero time.Time
	n, status := 0, ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e journal.Event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		switch e.Type {
		case journal.RunStart:
			zero, _ = time.Parse(time.RFC3339Nano, e.Started)
		case journal.RunEnd:
			status = e.Status
		case journal.Request:
			at := zero.Add(time.Duration(e.T * float64(time.Millisecond)))
			if !e.Probe && !at.Before(t0) && at.Before(t1) {
				n++
			}
		}
	}
	if zero.IsZero() {
		return 0, "", fmt.Errorf("%s: no run.start with its wall clock", path)
	}
	return n, status, sc.Err()
}

// straightAtTheBackend sends the same requests from this process at an
// embedded backend with nothing between, open-loop at harnessRate, and
// reads this process's CPU over the window.
func straightAtTheBackend(ctx context.Context, keepAlive bool) (cpuWindow, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := embedded.Run(ctx, embedded.WithAddr("127.0.0.1:0"), embedded.WithRegion("us-east-1"))
	if err != nil {
		return cpuWindow{}, err
	}
	defer srv.Terminate(context.Background())
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = !keepAlive
	transport.MaxIdleConnsPerHost = 256
	defer transport.CloseIdleConnections()
	client := ddb.New(ddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.Endpoint()),
		Credentials:           credentials.NewStaticCredentialsProvider("faultline", "faultline", ""),
		AccountIDEndpointMode: aws.AccountIDEndpointModeDisabled,
		HTTPClient:            &http.Client{Transport: transport, Timeout: time.Second}})
	if err := dynamodb.Seed(ctx, client, "orders", 100); err != nil {
		return cpuWindow{}, err
	}
	var counting atomic.Bool
	var done atomic.Int64
	var wg sync.WaitGroup
	inflight := make(chan struct{}, 256)
	send := func(i int) {
		defer wg.Done()
		defer func() { <-inflight }()
		key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: dynamodb.SeedKey(rand.Intn(100))}}
		var err error
		if i%2 == 0 {
			_, err = client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String("orders"), Key: key})
		} else {
			key["v"] = &types.AttributeValueMemberN{Value: strconv.Itoa(i)}
			_, err = client.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String("orders"), Item: key})
		}
		if err == nil && counting.Load() {
			done.Add(1)
		}
	}
	var t0, t1 time.Time
	var c0, c1 time.Duration
	start := time.Now()
	tick := time.NewTicker(time.Second / harnessRate)
	defer tick.Stop()
	for i := 0; ; i++ {
		<-tick.C
		if ctx.Err() != nil {
			return cpuWindow{}, ctx.Err()
		}
		elapsed := time.Since(start)
		if t0.IsZero() && elapsed >= harnessWarmup {
			t0, c0 = time.Now(), selfCPU()
			counting.Store(true)
		}
		if !t0.IsZero() && elapsed >= harnessWarmup+harnessWindow {
			counting.Store(false)
			t1, c1 = time.Now(), selfCPU()
			break
		}
		select {
		case inflight <- struct{}{}:
			wg.Add(1)
			go send(i)
		default: // the backend is behind: an open-loop generator drops, as the clients' in-flight bound does
		}
	}
	wg.Wait()
	return cpuWindow{requests: int(done.Load()), cpu: c1 - c0, wall: t1.Sub(t0)}, nil
}

// selfCPU is this process's user + system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
