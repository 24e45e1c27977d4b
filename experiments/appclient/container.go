package appclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/faultline-dev/faultline/experiments/journal"
	dbcontainer "github.com/faultline-dev/faultline/targets/dynamodb/container"
)

// Container is a client application run as a container.
type Container struct {
	Name  string
	Image string
	Env   []string // see Env
	// DNS is the address the container's /etc/resolv.conf names: faultline's
	// DNS relay, port 53.
	DNS   string
	RunID string
	// Tail, when set, keeps the application's last lines for the caller's
	// messages too.
	Tail *Tail
	// Regions are the experiment's: an outcome line naming another is
	// rejected. None: any region is taken.
	Regions []string

	Record func(journal.Event)       // each request line, as a request event
	Since  func(time.Time) float64   // wall clock → journal milliseconds
	Output func(stream, line string) // every other line the app prints; nil drops them
}

// stopGrace is how long the app has to finish after SIGTERM.
const stopGrace = 10 * time.Second

// Run starts the container with host networking, so the NLB nodes on their
// loopback addresses and the DNS relay are where the application looks, and
// journals its outcomes until ctx ends. Then it stops the container
// (SIGTERM, then SIGKILL after stopGrace), reads the rest of its output and
// removes it. An app that exits before ctx ends is an error, with its last
// words.
func (c Container) Run(ctx context.Context) error {
	dns, err := netip.ParseAddr(c.DNS)
	if err != nil {
		return fmt.Errorf("client %s: DNS address %q: %w", c.Name, c.DNS, err)
	}
	env := map[string]string{}
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ctr, err := testcontainers.Run(startCtx, c.Image,
		testcontainers.WithEnv(env),
		testcontainers.WithLabels(dbcontainer.Labels(c.RunID, "client", map[string]string{"dev.faultline.client": c.Name})),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
			hc.DNS = []netip.Addr{dns}
		}),
	)
	if err != nil {
		if ctr != nil {
			testcontainers.TerminateContainer(ctr)
		}
		if !dbcontainer.ImagePresent(context.Background(), c.Image) {
			return fmt.Errorf("client %s: %w", c.Name, dbcontainer.Diagnose(errors.New("No such image: "+err.Error()), c.Name, c.Image))
		}
		return fmt.Errorf("client %s: %w", c.Name, dbcontainer.Diagnose(err, c.Name, c.Image))
	}
	defer testcontainers.TerminateContainer(ctr)

	cli, err := testcontainers.NewDockerClientWithOpts(context.Background())
	if err != nil {
		return fmt.Errorf("client %s: %w", c.Name, err)
	}
	defer cli.Close()
	logs, err := cli.ContainerLogs(context.Background(), ctr.GetContainerID(),
		client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return fmt.Errorf("client %s: its output: %w", c.Name, err)
	}
	defer logs.Close()
	o := newOutcomes(c.Name, c.Record, c.Since, c.Output, c.Tail, c.Regions)
	tail := o.tail
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.read(logs, o)
	}()

	select {
	case <-ctx.Done():
	case <-done: // the output ended: the container exited
	}
	if ctx.Err() == nil {
		st, _ := ctr.State(context.Background())
		code := -1
		if st != nil {
			code = st.ExitCode
		}
		return fmt.Errorf("client %s: the application exited (status %d) before the run ended; its last lines: %s", c.Name, code, tail)
	}
	grace := stopGrace
	stopErr := ctr.Stop(context.Background(), &grace)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		logs.Close() // the stream did not end with the container
		<-done
	}
	if stopErr != nil {
		return fmt.Errorf("client %s: stopping: %w", c.Name, stopErr)
	}
	return nil
}

// read demultiplexes the container's output and journals each outcome line.
func (c Container) read(logs io.Reader, o outcomes) {
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); o.scan("stdout", outR) }()
	go func() { defer wg.Done(); o.scan("stderr", errR) }()
	_, err := stdcopy.StdCopy(outW, errW, logs)
	outW.CloseWithError(err)
	errW.CloseWithError(err)
	wg.Wait()
}
